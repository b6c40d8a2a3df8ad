"""The Celery app and the wiring of the data plane: the one place settings become objects.

Tasks are thin: they take ids and call plain functions. The scheduler adds its own tasks
(intake, periodic jobs) to the same app through `scheduler.jobs.register`.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import Engine

from sandbox.docker_runtime import DockerRuntime
from sandbox.harness.access import ModelEndpoints
from sandbox.harness.base import HarnessOptions
from sandbox.reaper import ReapReport
from sandbox.runtime import SandboxPolicy
from worker.diff_policy import DiffPolicy
from worker.errors import ConfigError
from worker.github.client import PyGithubClient
from worker.pipeline import PipelineConfig, PipelineDeps, run_ticket
from worker.secrets_scan import SecretScanner
from worker.settings import Settings
from worker.store.db import make_engine
from worker.store.repo import run_is_live

if TYPE_CHECKING:
    from celery import Celery

RUN_TASK = "burndown.run_ticket"
log = structlog.get_logger("worker")


def create_celery(settings: Settings) -> Celery:
    """A Celery app on the configured broker (Redis, or the embedded SQLite transport)."""
    from celery import Celery  # imported here: `burndown sandbox run` needs no Celery

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    broker = settings.resolved_broker_url()
    # The visibility timeout must outlast the longest run, or Redis hands a running task to a
    # second worker. The embedded SQLAlchemy transport passes its options to create_engine.
    transport = (
        {"visibility_timeout": settings.run_timeout_seconds + 900}
        if broker.startswith(("redis", "rediss"))
        else {}
    )
    app = Celery("burndown", broker=broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=False,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=settings.queue,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport,
        task_time_limit=settings.run_timeout_seconds + 600,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
    )

    deps: list[PipelineDeps] = []  # built on the first task, in the worker process only

    @app.task(name=RUN_TASK, shared=False)  # type: ignore[untyped-decorator]
    def run_ticket_task(ticket_id: int) -> None:
        if not deps:
            deps.append(pipeline_deps(settings))
        run_ticket(ticket_id, deps[0])

    return app


@cache
def engine_for(url: str) -> Engine:
    """One engine per process and URL."""
    return make_engine(url)


def pipeline_config(settings: Settings) -> PipelineConfig:
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
        diff_policy=DiffPolicy(
            max_files=settings.diff_max_files,
            max_lines=settings.diff_max_lines,
            max_binary_bytes=settings.diff_max_binary_bytes,
            **(
                {"forbidden_paths": settings.diff_forbidden_paths}
                if settings.diff_forbidden_paths is not None
                else {}
            ),
        ),
        review=settings.review,
        review_harness=settings.review_harness,
        pr_label=settings.trigger_label,
        git_timeout=settings.git_timeout_seconds,
        author_name=settings.git_author_name,
        author_email=settings.git_author_email,
        public_url=settings.public_url,
        secrets=SecretScanner.from_settings(settings),
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


def reap_sandboxes(settings: Settings, *, grace_seconds: float) -> ReapReport:
    """Remove the sandbox containers and networks this deployment's dead runs left behind."""
    engine = engine_for(settings.resolved_database_url())
    report = DockerRuntime(api_timeout=settings.docker_timeout_seconds).reap(
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


def github_client(settings: Settings) -> PyGithubClient:
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
        engine=engine_for(settings.resolved_database_url()),
        github=github_client(settings),
        runtime=DockerRuntime(api_timeout=settings.docker_timeout_seconds),
        git_token=token,
        config=pipeline_config(settings),
    )
