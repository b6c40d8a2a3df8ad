"""The wiring: the one place where settings become the objects the data plane runs with.

The Celery app, the CLI, the periodic jobs and `burndown sandbox run` all get their store,
GitHub client, container runtime and pipeline configuration from here.
"""

from __future__ import annotations

from sqlalchemy import Engine

from sandbox.docker_runtime import DockerRuntime
from sandbox.harness.access import ModelEndpoints
from sandbox.harness.protocol import HarnessOptions
from sandbox.reaper import ReapReport
from sandbox.runtime import SandboxPolicy
from worker.diff_policy import DiffPolicy
from worker.errors import ConfigError
from worker.github.client import PyGithubClient
from worker.logs import get_logger
from worker.pipeline_config import PipelineConfig, PipelineDeps
from worker.settings import Settings
from worker.store.db import make_engine
from worker.store.repo import run_is_live

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
    """The Docker runtime sandboxes run on."""
    return DockerRuntime(api_timeout=settings.docker_timeout_seconds, deployment=settings.queue)


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
    )


def github_client(settings: Settings) -> PyGithubClient:
    """The GitHub client of the configured token; `ConfigError` without one."""
    if settings.github_token is None:
        raise ConfigError("BURNDOWN_GITHUB_TOKEN is not set")
    return PyGithubClient(
        settings.github_api_url,
        settings.github_token.get_secret_value(),
        timeout=settings.http_timeout_seconds,
    )


def pipeline_deps(settings: Settings) -> PipelineDeps:
    """The pipeline's dependencies, built from settings."""
    token = settings.github_token.get_secret_value() if settings.github_token else None
    return PipelineDeps(
        engine=store(settings),
        github=github_client(settings),
        runtime=container_runtime(settings),
        git_token=token,
        config=pipeline_config(settings),
    )


def reap_sandboxes(settings: Settings, *, grace_seconds: float) -> ReapReport:
    """Remove the sandbox containers and networks this deployment's dead runs left behind."""
    engine = store(settings)
    report = container_runtime(settings).reap(
        settings.queue, lambda run_id: run_is_live(engine, run_id), grace_seconds
    )
    if report.containers or report.networks or report.errors:
        log.info(
            "reaped sandbox leftovers",
            containers=len(report.containers),
            networks=len(report.networks),
            errors=report.errors[:5],
        )
    return report
