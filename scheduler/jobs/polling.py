"""The polling job: registered with the beat schedule when repositories are to be polled."""

from collections.abc import Callable

from celery import Celery

from scheduler.intake.linear.polling import poll_linear, teams_of
from scheduler.intake.polling import PollCounts, PollDeps, poll_repositories
from worker.errors import ConfigError
from worker.github.app_auth import GitHubApp
from worker.logs import get_logger
from worker.settings import Settings
from worker.wiring import engine_for, github_client, github_tokens, linear_client

POLL_TASK = "burndown.poll"
log = get_logger(__name__)


def register_polling(app: Celery, settings: Settings, intake_task: str) -> None:
    """Add the poll task, and to the beat schedule when anything is to be polled."""

    @app.task(name=POLL_TASK, shared=False)  # type: ignore[untyped-decorator]
    def poll_task() -> None:
        def enqueue(delivery: str) -> None:
            app.send_task(intake_task, args=[delivery])

        if settings.poll_repos or settings.poll_installations:
            try:
                run_poll(settings, enqueue)
            except ConfigError as exc:
                log.warning("poll skipped", reason=str(exc))
        if settings.linear_poll:
            run_linear_poll(settings, enqueue)

    if settings.poll_repos or settings.poll_installations or settings.linear_poll:
        schedule = dict(app.conf.beat_schedule or {})
        schedule["poll"] = {"task": POLL_TASK, "schedule": settings.poll_interval_seconds}
        app.conf.beat_schedule = schedule


def polled_repositories(settings: Settings) -> list[str]:
    """The listed repositories, and with `poll_installations` those of the App's installations."""
    repos = list(settings.poll_repos)
    if settings.poll_installations:
        tokens = github_tokens(settings)
        if not isinstance(tokens, GitHubApp):
            raise ConfigError("BURNDOWN_POLL_INSTALLATIONS needs a GitHub App")
        repos += tokens.repositories()
    return list(dict.fromkeys(repos))


def run_poll(settings: Settings, enqueue_delivery: Callable[[str], None]) -> PollCounts:
    """One poll of every polled repository."""
    deps = PollDeps(
        engine=engine_for(settings.resolved_database_url()),
        github=github_client(settings),
        trigger_label=settings.trigger_label,
        enqueue_delivery=enqueue_delivery,
    )
    counts = poll_repositories(deps, polled_repositories(settings))
    if counts.delivered or counts.errors:
        log.info("polled", repos=counts.repos, delivered=counts.delivered, errors=counts.errors)
    return counts


def run_linear_poll(settings: Settings, enqueue_delivery: Callable[[str], None]) -> None:
    """One poll of the mapped Linear teams (skipped, said, without a Linear key)."""
    linear = linear_client(settings)
    if linear is None:
        log.warning("linear poll skipped", reason="BURNDOWN_LINEAR_API_KEY is not set")
        return
    counts = poll_linear(
        engine_for(settings.resolved_database_url()),
        linear,
        teams_of(settings.linear_repos),
        settings.trigger_label,
        enqueue_delivery,
    )
    if counts.delivered or counts.errors:
        log.info("linear polled", delivered=counts.delivered, errors=counts.errors)
