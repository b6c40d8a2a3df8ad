"""The wiring: the one place where settings become the objects the data plane runs with.

The Celery app, the CLI, the periodic jobs and `burndown sandbox run` all get their store,
GitHub client, container runtime and pipeline configuration from here.
"""

from __future__ import annotations

from pydantic import SecretStr
from sqlalchemy import Engine

from sandbox.docker_runtime import DockerRuntime
from sandbox.env_image import DockerEnvironmentImages
from sandbox.harness.access import ModelEndpoints
from sandbox.harness.price_file import operator_prices
from sandbox.harness.protocol import HarnessOptions
from sandbox.reaper import ReapReport
from sandbox.runtime import SandboxPolicy
from sandbox.warm_pool import PoolSettings
from worker.budget import RunLimits
from worker.diff_policy import DiffPolicy
from worker.errors import ConfigError
from worker.gateway_keys import LiteLLMKeys
from worker.github.app_auth import GitHubApp, StaticToken, TokenSource
from worker.github.client import PyGithubClient
from worker.github.stored_app import stored_app
from worker.linear.client import HttpLinearClient
from worker.logs import get_logger
from worker.pipeline_config import PipelineConfig, PipelineDeps
from worker.repo_cache import PruneReport, RepoCache
from worker.secrets_scan import SecretScanner
from worker.settings import Settings
from worker.spend import Budgets
from worker.store.db import make_engine
from worker.store.repo import run_is_live
from worker.tracker import LinearTrust

log = get_logger(__name__)


_engines: dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    """One engine per process and URL."""
    if url not in _engines:
        _engines[url] = make_engine(url)
    return _engines[url]


def dispose_engines() -> None:
    """After a fork: drop the connections inherited from the parent without closing them
    (they are the parent's), so this process opens its own."""
    for engine in _engines.values():
        engine.dispose(close=False)


def store(settings: Settings) -> Engine:
    """The store's engine (one per process)."""
    return engine_for(settings.resolved_database_url())


def container_runtime(settings: Settings) -> DockerRuntime:
    """The Docker runtime sandboxes run on, with its warm pool when one is configured (never
    with a remote engine's copied workspaces: a slot's workspace is a folder of this host)."""
    pool = PoolSettings(
        size=settings.sandbox_pool_size if settings.docker_workspace == "bind" else 0,
        root=settings.data_dir.resolve() / "pool",
        deployment=settings.queue,
        max_age=settings.sandbox_pool_max_age_seconds,
    )
    return DockerRuntime(
        api_timeout=settings.docker_timeout_seconds,
        workspace=settings.docker_workspace,
        workspace_max_bytes=settings.workspace_max_mb * 2**20,
        pool=pool,
    )


def repo_cache(settings: Settings) -> RepoCache | None:
    """The repository cache under the data folder, unless turned off."""
    if not settings.repo_cache:
        return None
    return RepoCache(
        settings.data_dir.resolve() / "cache",
        timeout=settings.git_timeout_seconds,
        lock_timeout=settings.git_timeout_seconds,
    )


def prune_repo_cache(settings: Settings) -> PruneReport | None:
    """Remove mirrors (and their spare trees) unused too long or beyond the size limit."""
    cache = repo_cache(settings)
    if cache is None:
        return None
    report = cache.prune(
        settings.repo_cache_max_age_hours * 3600, settings.repo_cache_max_mb * 2**20
    )
    if report.removed:
        log.info("pruned mirrors", removed=report.removed, kept_mb=report.kept_bytes >> 20)
    return report


def model_endpoints(settings: Settings) -> ModelEndpoints:
    """The model endpoints of the settings (a gateway, or direct provider keys)."""
    return ModelEndpoints(
        gateway_url=settings.litellm_api_base,
        gateway_key=settings.litellm_api_key,
        anthropic_base_url=settings.anthropic_base_url,
        anthropic_api_key=settings.anthropic_api_key,
        openai_base_url=settings.openai_base_url,
        openai_api_key=settings.openai_api_key,
    )


def max_policy(settings: Settings) -> SandboxPolicy:
    """The operator's sandbox maxima (repositories may lower them) and always-allowed hosts."""
    return SandboxPolicy(
        memory=settings.sandbox_memory,
        cpus=settings.sandbox_cpus,
        pids=settings.sandbox_pids,
        tmpfs_size=settings.sandbox_tmpfs_size,
        timeout_seconds=settings.run_timeout_seconds,
        idle_timeout_seconds=settings.sandbox_idle_timeout_seconds,
        runtime="runsc" if settings.sandbox_gvisor else None,
        allow_hosts=tuple(settings.sandbox_allow_hosts),
        egress_network=settings.sandbox_egress_network,
    )


def diff_policy(settings: Settings) -> DiffPolicy:
    """The operator's diff policy (repositories may tighten it)."""
    forbidden = settings.diff_forbidden_paths
    return DiffPolicy(
        max_files=settings.diff_max_files,
        max_lines=settings.diff_max_lines,
        max_binary_bytes=settings.diff_max_binary_bytes,
        **({"forbidden_paths": forbidden} if forbidden is not None else {}),
    )


def budgets(settings: Settings) -> Budgets:
    """The operator's budgets above the run."""
    return Budgets(
        daily_usd=settings.budget_daily_usd,
        monthly_usd=settings.budget_monthly_usd,
        repo_daily_usd=settings.budget_repo_daily_usd,
        repo_monthly_usd=settings.budget_repo_monthly_usd,
        when_spent=settings.budget_when_spent,
    )


def pipeline_config(settings: Settings) -> PipelineConfig:
    """What the pipeline needs from the settings, resolved once."""
    return PipelineConfig(
        image=settings.sandbox_image,
        harness=settings.harness,
        work_dir=settings.data_dir.resolve(),
        options=HarnessOptions(
            model=settings.model,
            max_turns=settings.max_turns,
            max_budget_usd=settings.max_budget_usd,
            extra_system_prompt=settings.system_prompt,
            extra_env=settings.harness_env,
        ),
        models=model_endpoints(settings),
        harness_models=settings.harness_models,
        trigger_label=settings.trigger_label,
        policy=max_policy(settings),
        repo_allowable_hosts=tuple(settings.sandbox_repo_allow_hosts),
        deployment=settings.queue,
        diff_policy=diff_policy(settings),
        review=settings.review,
        review_harness=settings.review_harness,
        git_timeout=settings.git_timeout_seconds,
        author_name=settings.git_author_name,
        author_email=settings.git_author_email,
        public_url=settings.public_url,
        heartbeat_interval=settings.heartbeat_interval_seconds,
        max_run_attempts=settings.max_run_attempts,
        workspace_max_bytes=settings.workspace_max_mb * 2**20,
        spare_trees=settings.repo_cache_spare_trees,
        secrets=secret_scanner(settings),
        prices=operator_prices(settings.price_file, settings.prices),
        limits=RunLimits(max_usd=settings.run_budget_usd, max_turns=settings.run_max_turns),
        budgets=budgets(settings),
        toolchain_image=settings.sandbox_toolchain_image,
        package_hosts=tuple(settings.sandbox_package_hosts),
        environment_ttl_seconds=settings.environment_ttl_seconds,
    )


def secret_scanner(settings: Settings) -> SecretScanner:
    """A scanner that knows the value of every secret setting (every `SecretStr`), so that
    none of them ever leaves in a text Burndown writes."""
    values = {
        f"BURNDOWN_{name.upper()}": value.get_secret_value()
        for name, value in settings
        if isinstance(value, SecretStr)
    }
    return SecretScanner(values)


_token_sources: dict[tuple[str, str], GitHubApp] = {}


def github_tokens(settings: Settings) -> TokenSource:
    """The GitHub credentials: the App's installation tokens when an App is configured (one
    token cache per process), else the personal token; `ConfigError` without either."""
    if settings.github_app_id:
        key = (settings.github_api_url, settings.github_app_id)
        if key not in _token_sources:
            _token_sources[key] = GitHubApp(
                settings.github_api_url,
                settings.github_app_id,
                app_private_key(settings),
                timeout=settings.http_timeout_seconds,
            )
        return _token_sources[key]
    stored = stored_app(settings.data_dir) if settings.github_token is None else None
    if stored is not None:  # created through the dashboard's manifest flow
        key = (settings.github_api_url, str(stored.id))
        if key not in _token_sources:
            _token_sources[key] = GitHubApp(
                settings.github_api_url,
                str(stored.id),
                stored.pem,
                timeout=settings.http_timeout_seconds,
            )
        return _token_sources[key]
    if settings.github_token is None:
        raise ConfigError(
            "no GitHub credentials: set BURNDOWN_GITHUB_APP_ID and "
            "BURNDOWN_GITHUB_APP_PRIVATE_KEY_FILE (a GitHub App), or BURNDOWN_GITHUB_TOKEN"
        )
    return StaticToken(settings.github_token)


def app_private_key(settings: Settings) -> SecretStr:
    """The App's private key, from the setting or its file; `ConfigError` without one."""
    if settings.github_app_private_key is not None:
        return settings.github_app_private_key
    path = settings.github_app_private_key_file
    if path is None:
        raise ConfigError(
            "BURNDOWN_GITHUB_APP_ID is set but neither BURNDOWN_GITHUB_APP_PRIVATE_KEY "
            "nor BURNDOWN_GITHUB_APP_PRIVATE_KEY_FILE"
        )
    try:
        return SecretStr(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read the GitHub App's private key {path}: {exc}") from exc


def github_client(settings: Settings) -> PyGithubClient:
    """The GitHub client of the configured credentials (App or token)."""
    return PyGithubClient(
        settings.github_api_url,
        github_tokens(settings),
        timeout=settings.http_timeout_seconds,
        writes_per_minute=settings.github_writes_per_minute or None,
    )


def pipeline_deps(settings: Settings) -> PipelineDeps:
    """The pipeline's dependencies, built from settings."""
    tokens = github_tokens(settings)
    return PipelineDeps(
        engine=store(settings),
        github=github_client(settings),
        runtime=container_runtime(settings),
        git_token=None,
        config=pipeline_config(settings),
        tokens=tokens,
        repo_cache=repo_cache(settings),
        gateway_keys=gateway_keys(settings),
        environments=environment_images(settings),
        linear=linear_client(settings),
        linear_trust=linear_trust(settings),
    )


def environment_images(settings: Settings) -> DockerEnvironmentImages | None:
    """Where repositories' environments are kept, unless turned off."""
    if not settings.environments:
        return None
    return DockerEnvironmentImages(api_timeout=settings.docker_timeout_seconds)


def gateway_keys(settings: Settings) -> LiteLLMKeys | None:
    """The gateway's key API when a gateway and its master key are configured, else None."""
    if not (settings.litellm_api_base and settings.litellm_master_key):
        return None
    return LiteLLMKeys(
        settings.litellm_api_base,
        settings.litellm_master_key,
        timeout=settings.http_timeout_seconds,
    )


def reap_sandboxes(settings: Settings, *, grace_seconds: float) -> ReapReport:
    """Remove the sandbox containers and networks this deployment's dead runs left behind."""
    engine = store(settings)
    runtime = container_runtime(settings)
    report = runtime.reap(settings.queue, lambda run_id: run_is_live(engine, run_id), grace_seconds)
    if runtime.pool is not None:  # slots offered too long, and folders of slots gone
        runtime.pool.drain(older_than=runtime.pool.max_age)
    if report.containers or report.networks or report.errors:
        log.info(
            "reaped sandbox leftovers",
            containers=len(report.containers),
            networks=len(report.networks),
            errors=report.errors[:5],
        )
    return report


def linear_trust(settings: Settings) -> LinearTrust:
    """Who may start work from Linear."""
    return LinearTrust(
        members=frozenset(settings.linear_trusted_members),
        roles=frozenset(r.lower() for r in settings.linear_trusted_roles),
    )


_linear_clients: dict[tuple[str, str], HttpLinearClient] = {}


def linear_client(settings: Settings) -> HttpLinearClient | None:
    """The Linear client when a Linear API key is configured (one per process), else None."""
    if settings.linear_api_key is None:
        return None
    key = (settings.linear_api_url, settings.linear_api_key.get_secret_value())
    if key not in _linear_clients:
        _linear_clients[key] = HttpLinearClient(
            settings.linear_api_url,
            settings.linear_api_key,
            timeout=settings.http_timeout_seconds,
        )
    return _linear_clients[key]
