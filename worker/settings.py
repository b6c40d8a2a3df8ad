"""Burndown's settings: one `BaseSettings`, read from `BURNDOWN_*` variables and `.env`."""

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sandbox.ca_trust import host_extra_cas
from sandbox.runtime import DEFAULT_DEPLOYMENT, SandboxPolicy, WorkspaceMode
from worker import defaults
from worker.diff_policy import DiffPolicy
from worker.spend import WhenSpent


def _host_list(value: Any) -> Any:
    """`a.example,b.example:8443` or a JSON list, from the environment."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [h.strip() for h in text.split(",") if h.strip()]
    return value


HostList = Annotated[list[str], NoDecode, BeforeValidator(_host_list)]


def _policy(name: str) -> Any:
    """The sandbox's own default for a limit: defined once, in `SandboxPolicy`."""
    return SandboxPolicy.model_fields[name].default


def _diff(name: str) -> Any:
    """The diff policy's own default for a limit: defined once, in `DiffPolicy`."""
    return DiffPolicy.model_fields[name].default


class Settings(BaseSettings):
    """Every knob of a Burndown deployment. Obtain with `get_settings()` and pass it in."""

    model_config = SettingsConfigDict(
        env_prefix="BURNDOWN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Store and queue
    data_dir: Path = Field(Path(".burndown"), description="Work folders, SQLite files.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default SQLite in data_dir. PostgreSQL supported."
    )
    broker_url: str | None = Field(
        None, description="Celery broker (redis://...); unset: an embedded SQLite broker."
    )
    queue: str = Field(
        DEFAULT_DEPLOYMENT,
        description="Celery queue name (several deployments can "
        "share one Redis with different queues).",
    )

    # GitHub
    github_api_url: str = "https://api.github.com"
    github_token: SecretStr | None = None
    github_webhook_secret: SecretStr | None = None
    operator_token: SecretStr | None = Field(
        None, description="Opens the dashboard, JSON API, /metrics and transcripts."
    )
    github_app_id: str | None = Field(
        None, description="GitHub App id (or client id): act as the App, not with a token."
    )
    github_app_private_key: SecretStr | None = Field(
        None, description="The App's private key (PEM text)."
    )
    github_app_private_key_file: Path | None = Field(
        None, description="The App's private key, from a .pem file."
    )
    trigger_label: str = defaults.TRIGGER_LABEL
    linear_webhook_secret: SecretStr | None = Field(
        None, description="Signing secret of the Linear webhook (POST /webhooks/linear)."
    )
    linear_api_key: SecretStr | None = Field(
        None,
        description="Linear API key (`lin_api_...`) or OAuth app token (agent sessions need the "
        "app's, `actor=app`).",
    )
    linear_api_url: str = Field(
        "https://api.linear.app/graphql", description="Linear's GraphQL endpoint."
    )
    linear_repos: dict[str, str] = Field(
        default_factory=dict,
        description='Linear team key, or "TEAM/label", to repository, JSON: '
        '{"ENG": "acme/widgets", "ENG/api": "acme/api"}. A `repo: owner/name` line in '
        "the issue's description wins.",
    )
    linear_trusted_members: HostList = Field(
        default_factory=list,
        description="Linear members (emails or user ids) whose label or delegation starts a run.",
    )
    linear_trusted_roles: HostList = Field(
        ["admin", "member"],
        description="Linear roles (admin, member, guest) whose members are trusted as well.",
    )
    linear_poll: bool = Field(
        False,
        description="Poll Linear's mapped teams for the trigger label (no webhook needed), "
        "every poll_interval_seconds.",
    )
    poll_repos: HostList = Field(
        default_factory=list,
        description="Repositories (owner/name, comma-separated) to poll for trigger labels: "
        "for a deployment GitHub's webhooks cannot reach.",
    )
    poll_installations: bool = Field(
        False, description="Poll every repository the GitHub App is installed on."
    )
    poll_interval_seconds: float = Field(60.0, gt=0, description="How often to poll.")
    http_timeout_seconds: float = 30.0
    github_writes_per_minute: float = Field(
        80.0,
        ge=0,
        description="Content-creating GitHub requests a minute, after a burst of "
        "20 (GitHub's limit is 80); 0: unpaced.",
    )

    # The agent
    harness: str = Field("claude-code", description="Default harness (`burndown harness list`).")
    model: str | None = Field(None, description="Default model; unset: the harness's own.")
    harness_models: dict[str, str] = Field(
        default_factory=dict,
        description='Model per harness, JSON: {"codex": "gpt-5.5", "aider": "gpt-5.5"}.',
    )
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    litellm_api_base: str | None = Field(
        None, description="A LiteLLM-compatible gateway every harness uses instead of a vendor."
    )
    litellm_api_key: SecretStr | None = None
    run_timeout_seconds: int = int(_policy("timeout_seconds"))
    max_turns: int | None = Field(None, description="Turn limit; unset: the harness's own.")
    max_budget_usd: float | None = Field(None, description="Spend limit per run, USD.")
    run_budget_usd: float | None = Field(
        None, gt=0, description="Hard spend cap per run, USD, enforced by Burndown, any harness."
    )
    run_max_turns: int | None = Field(
        None, gt=0, description="Hard turn limit per run, enforced by Burndown, any harness."
    )
    budget_daily_usd: float | None = Field(None, gt=0, description="Spend cap per UTC day, all.")
    budget_monthly_usd: float | None = Field(None, gt=0, description="Spend cap per month, all.")
    budget_repo_daily_usd: float | None = Field(
        None, gt=0, description="Spend cap per repository and UTC day."
    )
    budget_repo_monthly_usd: float | None = Field(
        None, gt=0, description="Spend cap per repository and month."
    )
    budget_when_spent: WhenSpent = Field(
        WhenSpent.WAIT, description="`wait`: tickets wait for the next period; `refuse`: refused."
    )
    litellm_master_key: SecretStr | None = Field(
        None, description="The gateway's master key: with it, each run gets its own gateway key."
    )
    price_file: Path | None = Field(
        None, description="The operator's price table (YAML/JSON), over Burndown's defaults."
    )
    prices: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Prices over the file\'s, JSON: {"gpt-5.5": {"input": 1, "output": 8}}.',
    )
    system_prompt: str | None = Field(None, description="Appended to each harness's prompt.")
    harness_env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment of every sandbox, JSON."
    )

    # The sandbox: these are the operator's maxima; a repository's .burndown.yml may lower them.
    sandbox_image: str = "burndown-sandbox:latest"
    sandbox_memory: str = _policy("memory")
    sandbox_cpus: float = _policy("cpus")
    sandbox_pids: int = _policy("pids")
    sandbox_tmpfs_size: str = Field(
        _policy("tmpfs_size"), description="Size of each tmpfs (/tmp, the home)."
    )
    sandbox_idle_timeout_seconds: float = Field(
        _policy("idle_timeout_seconds"), description="Kill a run that prints nothing for this long."
    )
    sandbox_allow_hosts: HostList = Field(
        default_factory=list,
        description="Hosts every sandbox may reach besides the model endpoint "
        "(host, host:port, *.domain).",
    )
    sandbox_repo_allow_hosts: HostList = Field(
        default_factory=list,
        description="Hosts a repository's `sandbox.allow_hosts` may ask for; others are refused.",
    )
    sandbox_egress_network: str = Field(
        _policy("egress_network"),
        description="Docker network through which the egress proxy reaches the allowed hosts.",
    )
    sandbox_toolchain_image: str = Field(
        "burndown-toolchain-{toolchain}:latest",
        description="The image of a repository's toolchain; `{toolchain}` is its name "
        "(python, node, go, rust).",
    )
    sandbox_ca_certificates: HostList | None = Field(
        None,
        description="Extra CA certificates (PEM files, comma-separated) built into the toolchain "
        "images' trust store; unset: the host's /usr/local/share/ca-certificates/*.crt.",
    )
    sandbox_package_hosts: HostList = Field(
        ["pypi.org", "files.pythonhosted.org"],
        description="Hosts a repository's environment setup may reach (and only it).",
    )
    environment_ttl_seconds: float = Field(
        7 * 86400.0, gt=0, description="An environment image older than this is built again."
    )
    environments: bool = Field(
        True, description="Keep each repository's setup as an image (false: setup every time)."
    )
    sandbox_gvisor: bool = Field(
        False, description="Run sandboxes under gVisor (runsc); fails runs if it is not installed."
    )
    sandbox_reap_grace_seconds: float = Field(
        60.0, description="Leftover sandbox resources younger than this are never reaped."
    )
    docker_timeout_seconds: int = 120
    docker_workspace: WorkspaceMode = Field(
        "bind",
        description="How a sandbox gets its folders: `bind` mounts (the engine is on this "
        "machine) or `copy` through the Docker API (an engine elsewhere, `DOCKER_HOST`).",
    )

    # The reviewer stage
    diff_max_files: int = Field(_diff("max_files"), description="Most files a change may touch.")
    diff_max_lines: int = Field(
        _diff("max_lines"), description="Most lines a change may add plus remove."
    )
    diff_max_binary_bytes: int = Field(
        _diff("max_binary_bytes"), description="Largest binary file allowed."
    )
    diff_forbidden_paths: list[str] | None = Field(
        None, description="Globs a change may not touch (JSON list); default: workflows, keys."
    )
    review: bool = Field(False, description="Have a reviewer harness judge every change.")
    review_harness: str | None = Field(None, description="Reviewer harness; default: the agent's.")
    max_fix_runs: int = Field(2, description="Fix runs a failed check may start per ticket.")
    trusted_check_apps: HostList = Field(
        ["github-actions"],
        description="Slugs of the apps whose failed checks may start a fix run (JSON list or "
        "comma-separated); default: GitHub Actions, which reports the repository's workflows.",
    )

    # git and pull requests
    git_timeout_seconds: int = defaults.GIT_TIMEOUT_SECONDS
    repo_cache: bool = Field(
        True, description="Keep a bare mirror per repository; runs start from it and a spare tree."
    )
    repo_cache_spare_trees: int = Field(
        1, ge=0, description="Trees per mirror made ahead in the background (0: none)."
    )
    repo_cache_max_age_hours: float = Field(
        168.0, gt=0, description="A mirror unused this long is pruned."
    )
    repo_cache_max_mb: int = Field(
        20480, gt=0, description="Mirrors and spare trees beyond this are pruned, oldest first."
    )
    sandbox_pool_size: int = Field(
        0, ge=0, description="Warm sandboxes kept ready per image and policy (0: no pool)."
    )
    sandbox_pool_max_age_seconds: float = Field(
        600.0, gt=0, description="A warm sandbox not taken within this is replaced."
    )
    git_author_name: str = defaults.AUTHOR_NAME
    git_author_email: str = defaults.AUTHOR_EMAIL
    public_url: str = defaults.PUBLIC_URL

    # Processes
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    workspace_max_mb: int = Field(
        defaults.WORKSPACE_MAX_BYTES // 2**20,
        gt=0,
        description="The most a run's files (checkout, verification trees) may take on disk.",
    )
    run_slots: int = Field(2, gt=0, description="Runs one worker runs at once (its sandbox slots).")
    intake_concurrency: int = Field(
        2, gt=0, description="Deliveries and periodic jobs one intake worker handles at once."
    )
    shutdown_grace_seconds: float = Field(
        60.0, description="On SIGTERM, runs may finish this long; then they are queued again."
    )
    heartbeat_interval_seconds: float = Field(
        defaults.HEARTBEAT_INTERVAL_SECONDS, gt=0, description="How often a run beats."
    )
    heartbeat_timeout_seconds: float = Field(
        90.0, description="A run silent this long has lost its worker: it is closed."
    )
    max_run_attempts: int = Field(
        defaults.MAX_RUN_ATTEMPTS,
        gt=0,
        description="Runs of a ticket lost with their worker, or whose sandbox could not start, "
        "before it is a dead letter.",
    )
    max_delivery_attempts: int = Field(
        8, gt=0, description="Re-sends of a delivery whose handling fails before it is dead."
    )
    resend_max_wait_seconds: float = Field(
        3600.0, description="The longest wait between two re-sends of the same message."
    )
    reconcile_interval_seconds: float = 60.0
    lifecycle_sync_interval_seconds: float = Field(
        900.0, description="How often the lifecycle sync asks GitHub what became of PRs."
    )
    lifecycle_lookback_days: float = Field(
        30.0, description="How far back the first sync reads issues and commits."
    )
    lifecycle_overlap_hours: float = Field(
        24.0, description="Each sync re-reads this much before the last one (late arrivals)."
    )
    log_json: bool | None = Field(None, description="JSON logs; default: JSON unless a TTY.")

    def ca_certificate_files(self) -> list[Path]:
        """The extra CA certificate files: the configured ones, else the host's locally added."""
        if self.sandbox_ca_certificates is None:
            return host_extra_cas()
        return [Path(p) for p in self.sandbox_ca_certificates]

    def resolved_database_url(self) -> str:
        """The store's URL: the configured one, or SQLite inside the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'burndown.db').resolve()}"

    def resolved_broker_url(self) -> str:
        """The broker's URL: the configured one, or the embedded SQLite transport."""
        if self.broker_url:
            return self.broker_url
        return f"sqla+sqlite:///{(self.data_dir / 'broker.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process from the environment and `.env`."""
    return Settings()
