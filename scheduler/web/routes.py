"""The dashboard, the JSON API under `/api` and Prometheus metrics, added to the API app.

Every report, summary, group and `/metrics` answer is summed by the database from the weekly
sums the writes keep (`scheduler.report.fromstore`), once per version of those sums
(`scheduler.report.cache`); the latest runs and the ticket list read their rows.
Bad parameters answer 400 with a
message saying what is wrong (JSON under /api, a page elsewhere); nothing answers 500 for
anything a client sent.
"""

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import Engine

from scheduler.report.attribution import Derived, derive, ticket_status
from scheduler.report.cache import ReportCache
from scheduler.report.fromstore import latest_runs, store_grouped, store_report
from scheduler.report.history import load_history
from scheduler.report.metrics import DIMENSIONS, week_of
from scheduler.report.render import jsonable, report_json
from scheduler.report.report import BadQuery, Report, ReportQuery, RunRow
from scheduler.web.pages import TicketRow, asset, overview, page, tickets_page, trend_points
from scheduler.web.prom import exposition
from scheduler.web.transcript import load_run, run_json, run_page
from worker.secrets_scan import SecretScanner
from worker.store.models import TicketStatus

STATUSES = (
    "resolved",
    "reopened",
    "reverted",
    "pr_open",
    "pr_closed",
    *TicketStatus,
)
ASSETS = {"chart.js": "text/javascript", "style.css": "text/css"}

Since = Annotated[str | None, Query(description="Start, YYYY-MM-DD or ISO 8601 (UTC).")]
Until = Annotated[str | None, Query(description="End (excluded), YYYY-MM-DD or ISO 8601.")]
Repo = Annotated[str | None, Query(description="Only this owner/name.")]
Harness = Annotated[str | None, Query(description="Only runs of this harness.")]


def dashboard_router(
    engine: Engine,
    now: Callable[[], datetime] | None = None,
    secrets: SecretScanner | None = None,
) -> APIRouter:
    """The dashboard, `/api/*`, `/metrics` and `/static/*`; run transcripts are redacted of
    the secret values `secrets` knows."""
    router = APIRouter()
    clock = now or (lambda: datetime.now(UTC))

    def history(q: ReportQuery) -> Derived:
        return derive(load_history(engine, repo=q.repo))

    cache = ReportCache(engine)

    def this_week(q: ReportQuery, now: datetime) -> datetime | None:
        """What the listed weeks depend on besides the data: the week of `now`, if open."""
        return None if q.until is not None else week_of(now - timedelta(microseconds=1))

    def report(q: ReportQuery) -> Report:
        """The sums once per version of the store; the latest runs read each time."""
        now, whole = clock(), replace(q, runs_shown=0)
        key = ("report", whole, this_week(q, now))
        r = cache.get(key, lambda: store_report(engine, whole, now))
        return replace(r, query=q, generated_at=now, rows=latest(q))

    def latest(q: ReportQuery) -> list[RunRow]:
        with engine.connect() as conn:
            return latest_runs(conn, q)

    @router.get("/api/report")
    def api_report(
        since: Since = None,
        until: Until = None,
        repo: Repo = None,
        harness: Harness = None,
        runs: Annotated[int, Query(ge=0, le=1000)] = 20,
    ) -> dict[str, Any]:
        """The whole report, as `burndown report --format json` prints it."""
        return report_json(report(ReportQuery.parse(since, until, repo, harness, runs)))

    @router.get("/api/summary")
    def api_summary(
        since: Since = None, until: Until = None, repo: Repo = None, harness: Harness = None
    ) -> dict[str, Any]:
        """The overall metrics of the period and slice."""
        r = report(ReportQuery.parse(since, until, repo, harness, 0))
        return {
            "query": jsonable(r.query),
            "overall": jsonable(r.overall),
            "tickets_by_status": r.tickets_by_status,
        }

    @router.get("/api/metrics")
    def api_metrics(
        group_by: Annotated[str, Query(description=f"One of {', '.join(DIMENSIONS)}.")],
        since: Since = None,
        until: Until = None,
        repo: Repo = None,
        harness: Harness = None,
    ) -> dict[str, Any]:
        """The metrics per repository, harness, model, label or week."""
        if group_by not in DIMENSIONS:
            raise BadQuery(f"group_by: {group_by!r} is not one of {', '.join(DIMENSIONS)}")
        q = ReportQuery.parse(since, until, repo, harness, 0)
        now = clock()
        groups = cache.get(
            ("grouped", q, group_by, this_week(q, now) if group_by == "week" else None),
            lambda: store_grouped(engine, q.period, group_by, q.where, now=now),
        )
        return {"group_by": group_by, "groups": jsonable(groups)}

    @router.get("/api/trend")
    def api_trend(
        since: Since = None, until: Until = None, repo: Repo = None, harness: Harness = None
    ) -> dict[str, Any]:
        """Coverage per week."""
        return {"weeks": trend_points(report(ReportQuery.parse(since, until, repo, harness, 0)))}

    @router.get("/api/compare")
    def api_compare(since: Since = None, until: Until = None, repo: Repo = None) -> dict[str, Any]:
        """Each pair of harnesses on the tickets both ran."""
        r = report(ReportQuery.parse(since, until, repo, None, 0))
        return {"comparisons": jsonable(r.comparisons)}

    @router.get("/api/tickets")
    def api_tickets(
        since: Since = None,
        until: Until = None,
        repo: Repo = None,
        harness: Harness = None,
        status: Annotated[str | None, Query(description=f"One of {', '.join(STATUSES)}.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Tickets, newest first, with their status, pull request and latest run."""
        q = ReportQuery.parse(since, until, repo, harness, 0)
        rows = ticket_rows(history(q), q, status)
        return {"total": len(rows), "tickets": jsonable(rows[offset : offset + limit])}

    @router.get("/api/runs/{run_id}")
    def api_run(run_id: int) -> Response:
        """One run with its unified transcript."""
        rec = load_run(engine, run_id, secrets)
        if rec is None:
            return JSONResponse({"message": f"no run {run_id}"}, status_code=404)
        return JSONResponse(run_json(rec))

    @router.get("/", response_class=HTMLResponse)
    def dashboard(
        since: Since = None, until: Until = None, repo: Repo = None, harness: Harness = None
    ) -> str:
        return overview(report(ReportQuery.parse(since, until, repo, harness, 0)))

    @router.get("/tickets", response_class=HTMLResponse)
    def tickets(
        since: Since = None,
        until: Until = None,
        repo: Repo = None,
        harness: Harness = None,
        status: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> str:
        q = ReportQuery.parse(since, until, repo, harness, 0)
        rows = ticket_rows(history(q), q, status)
        return tickets_page(rows[:limit], q, len(rows))

    @router.get("/runs/{run_id}", response_class=HTMLResponse)
    def run(run_id: int) -> HTMLResponse:
        rec = load_run(engine, run_id, secrets)
        if rec is None:
            body = f'<h1>No run {run_id}</h1><p><a href="/tickets">All tickets</a></p>'
            return HTMLResponse(page("Not found", body), status_code=404)
        return HTMLResponse(run_page(rec))

    @router.get("/metrics")
    async def prometheus() -> Response:
        minute = clock().replace(second=0, microsecond=0)  # the 28 days move once a minute
        body = await run_in_threadpool(
            cache.get, ("prometheus", minute), lambda: exposition(engine, minute)
        )
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in ASSETS:
            return JSONResponse({"message": f"no asset {name!r}"}, status_code=404)
        return Response(asset(name), media_type=f"{ASSETS[name]}; charset=utf-8")

    return router


def install(
    app: FastAPI,
    engine: Engine,
    now: Callable[[], datetime] | None = None,
    secrets: SecretScanner | None = None,
) -> None:
    """Add the dashboard router to `app`, with the handlers that turn bad parameters into a
    400 saying what is wrong."""

    @app.exception_handler(BadQuery)
    async def bad_query(request: Request, exc: BadQuery) -> Response:
        return _bad(request, str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_params(request: Request, exc: RequestValidationError) -> Response:
        parts = [
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}"
            for e in exc.errors()
        ]
        return _bad(request, "; ".join(parts))

    app.include_router(dashboard_router(engine, now, secrets))


def _bad(request: Request, message: str) -> Response:
    if request.url.path.startswith(("/api/", "/webhooks/", "/metrics")):
        return JSONResponse({"message": message}, status_code=400)
    body = f'<h1>Bad request</h1><p class="problem">{escape(message)}</p>'
    return HTMLResponse(page("Bad request", body), status_code=400)


def ticket_rows(d: Derived, q: ReportQuery, status: str | None) -> list[TicketRow]:
    """The ticket list of a query: handed in the period, newest first."""
    if status is not None and status not in STATUSES:
        raise BadQuery(f"status: {status!r} is not one of {', '.join(STATUSES)}")
    out = []
    for t in d.tickets:
        f = t.fact
        if not q.period.holds(f.created_at):
            continue
        if q.harness and not any(r.harness == q.harness for r in t.runs):
            continue
        word = ticket_status(t)
        if status and word != status:
            continue
        pulls = sorted(t.pulls, key=lambda p: p.opened_at)
        out.append(
            TicketRow(
                id=f.id,
                ref=f"{f.repo}#{f.number}",
                title=f.title,
                url=f.url,
                status=word,
                pr_url=pulls[-1].url if pulls else None,
                pr_state=pulls[-1].state if pulls else None,
                runs=len(t.runs),
                last_run_id=t.runs[-1].id if t.runs else None,
                cost_usd=sum(r.cost_usd or 0 for r in t.runs),
            )
        )
    out.sort(key=lambda r: r.id, reverse=True)
    return out
