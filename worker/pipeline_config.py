"""What a run needs: the deployment's resolved configuration and the external systems."""

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from sandbox.env_image import EnvironmentImages
from sandbox.harness.access import ModelEndpoints
from sandbox.harness.prices import PriceTable, default_prices
from sandbox.harness.protocol import HarnessOptions
from sandbox.runtime import DEFAULT_DEPLOYMENT, ContainerRuntime, SandboxPolicy
from worker import defaults
from worker.budget import RunLimits
from worker.diff_policy import DiffPolicy
from worker.gateway_keys import GatewayKeys
from worker.github.app_auth import TokenSource
from worker.github.protocol import GitHubClient
from worker.linear.protocol import LinearClient
from worker.repo_cache import RepoCache
from worker.secrets_scan import SecretScanner
from worker.spend import Budgets
from worker.store.models import Ticket
from worker.tracker import LinearTrust, Tracker, tracker_for


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the pipeline needs from settings, resolved once (by `worker.wiring`)."""

    image: str
    harness: str
    work_dir: Path
    options: HarnessOptions = field(default_factory=HarnessOptions)
    models: ModelEndpoints = field(default_factory=ModelEndpoints)
    harness_models: dict[str, str] = field(default_factory=dict)
    trigger_label: str = defaults.TRIGGER_LABEL
    """Starts runs; the agent's pull requests carry it too."""
    policy: SandboxPolicy = field(default_factory=SandboxPolicy)
    """The operator's maxima; its `allow_hosts` are reachable from every sandbox."""
    repo_allowable_hosts: tuple[str, ...] = ()
    """What a repository's `sandbox.allow_hosts` may ask for."""
    deployment: str = DEFAULT_DEPLOYMENT
    """Labels this deployment's sandbox resources, so that its reaper touches only those."""
    diff_policy: DiffPolicy = field(default_factory=DiffPolicy)
    review: bool = False
    review_harness: str | None = None
    git_timeout: float = defaults.GIT_TIMEOUT_SECONDS
    author_name: str = defaults.AUTHOR_NAME
    author_email: str = defaults.AUTHOR_EMAIL
    public_url: str = defaults.PUBLIC_URL
    heartbeat_interval: float = defaults.HEARTBEAT_INTERVAL_SECONDS
    max_run_attempts: int = defaults.MAX_RUN_ATTEMPTS
    workspace_max_bytes: int = defaults.WORKSPACE_MAX_BYTES
    spare_trees: int = 1
    """Trees per mirror made ahead in the background (`worker.worktrees`)."""
    """The most a run's folder (checkout and verification trees) may hold on the host."""
    secrets: SecretScanner = field(default_factory=SecretScanner)
    """Finds secrets (patterns, and the values this deployment holds) in all that goes out."""
    prices: PriceTable = field(default_factory=default_prices)
    """The operator's price table: live spend is priced with it."""
    limits: RunLimits = field(default_factory=RunLimits)
    """Every run's dollar cap and turn limit, enforced by Burndown (`worker.budget`)."""
    budgets: Budgets = field(default_factory=Budgets)
    toolchain_image: str = "burndown-toolchain-{toolchain}:latest"
    """The image of a repository's toolchain; `{toolchain}` is its name."""
    package_hosts: tuple[str, ...] = ("pypi.org", "files.pythonhosted.org")
    """What an environment's setup may reach (and nothing else of the run)."""
    environment_ttl_seconds: float = 7 * 86400.0
    """Budgets above the run: per day and month, for all and per repository (`worker.spend`)."""

    def run_url(self, run_id: int | None) -> str:
        return f"{self.public_url.rstrip('/')}/runs/{run_id}"


@dataclass(frozen=True)
class PipelineDeps:
    """The external systems a run touches."""

    engine: Engine
    github: GitHubClient
    runtime: ContainerRuntime
    git_token: str | None
    config: PipelineConfig
    gateway_keys: GatewayKeys | None = None
    """The gateway's key API: with it, every run gets its own key (`worker.gateway_keys`)."""
    environments: EnvironmentImages | None = None
    """Keeps repositories' setups as images; None: verification runs the setup every time."""
    tokens: TokenSource | None = None
    """Per-repository tokens (a GitHub App's); when set, `git_token` is not used."""
    repo_cache: RepoCache | None = None
    """Mirrors runs start from (`worker.repo_cache`); None: every run clones from the remote."""

    linear: LinearClient | None = None
    """Linear, when configured: Linear tickets' issues live there."""
    linear_trust: LinearTrust = field(default_factory=LinearTrust)
    """Who may start work from Linear (re-checked when a run starts)."""

    def tracker(self, ticket: Ticket) -> Tracker:
        """Where the ticket's issue lives (`ConfigError`: a Linear ticket without Linear)."""
        return tracker_for(ticket, self.github, self.linear, self.linear_trust)

    def token_for(self, full_name: str) -> str | None:
        """The token git uses for `full_name`."""
        return self.tokens.token(full_name) if self.tokens is not None else self.git_token
