"""The dashboard's HTML: plain strings with every value escaped. Assets are Burndown's own
(`scheduler/web/static`), linked from `/static/...` or, for a standalone file, inlined."""

import json
from dataclasses import dataclass
from html import escape
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from scheduler.report.metrics import Metrics
from scheduler.report.render import GROUP_COLUMNS, cell, flat, hours, pct, usd
from scheduler.report.report import Report, ReportQuery

CARDS: list[tuple[str, str]] = [
    ("handed", "tickets handed"),
    ("runs", "runs"),
    ("prs_opened", "pull requests"),
    ("prs_merged", "merged (kept)"),
    ("resolved", "resolved"),
    ("agent_coverage", "coverage of handed"),
    ("backlog_coverage", "coverage of closed"),
    ("merge_rate", "merge rate"),
    ("time_to_pr.median_hours", "median time to PR"),
    ("time_to_merge.median_hours", "median time to merge"),
    ("cost_usd", "cost"),
    ("cost_per_merged_pr", "cost per merged PR"),
]


def asset(name: str) -> str:
    """The text of a static asset shipped in this package."""
    return resources.files("scheduler.web").joinpath("static", name).read_text()


def page(title: str, body: str, *, standalone: bool = False) -> str:
    """A whole HTML document around `body`."""
    if standalone:
        head = f"<style>{asset('style.css')}</style>"
        tail = f"<script>{asset('chart.js')}</script>"
    else:
        head = '<link rel="stylesheet" href="/static/style.css">'
        tail = '<script src="/static/chart.js"></script>'
    nav = (
        ""
        if standalone
        else '<a href="/">overview</a><a href="/tickets">tickets</a><a href="/api/report">JSON</a>'
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} · Burndown</title>{head}</head><body>"
        f"<header><strong>Burndown</strong>{nav}</header><main>{body}</main>{tail}</body></html>"
    )


def _qs(q: ReportQuery, **extra: Any) -> str:
    params = {
        "since": q.since.date().isoformat() if q.since else None,
        "until": q.until.date().isoformat() if q.until else None,
        "repo": q.repo,
        "harness": q.harness,
        **extra,
    }
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return "?" + urlencode(kept) if kept else ""


def filters(q: ReportQuery, action: str) -> str:
    def field(name: str, value: str | None, kind: str = "text") -> str:
        return (
            f'<label>{name}<input type="{kind}" name="{name}" value="{escape(value or "")}">'
            "</label>"
        )

    return (
        f'<form class="filters" method="get" action="{action}">'
        + field("since", q.since.date().isoformat() if q.since else None, "date")
        + field("until", q.until.date().isoformat() if q.until else None, "date")
        + field("repo", q.repo)
        + field("harness", q.harness)
        + '<button type="submit">apply</button></form>'
    )


def trend_points(r: Report) -> list[dict[str, Any]]:
    """The coverage trend, one point per week (also `GET /api/trend`)."""
    return [
        {
            "week": week,
            "agent_coverage": m.agent_coverage,
            "backlog_coverage": m.backlog_coverage,
            "handed": m.handed,
            "resolved": m.resolved,
            "resolved_in_period": m.resolved_in_period,
            "closed_in_period": m.closed_in_period,
        }
        for week, m in r.by_week.items()
    ]


def _json_script(element_id: str, value: Any) -> str:
    text = json.dumps(value).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _cards(m: Metrics) -> str:
    row = flat(m)
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="label">{escape(label)}</div>'
            f'<div class="value" data-metric="{key}">{escape(cell(key, row[key]))}</div></div>'
            for key, label in CARDS
        )
        + "</div>"
    )


def _funnel(m: Metrics) -> str:
    f = m.funnel
    steps = [("labeled", f.labeled), ("run", f.run), ("pull request", f.pull_request)]
    steps.append(("merged", f.merged))
    top = max(f.labeled, 1)
    rows = "".join(
        f'<tr><td>{name}</td><td data-funnel="{name}">{value}</td>'
        f'<td class="barcell"><div class="bar" style="width:{100 * value / top:.1f}%"></div>'
        "</td></tr>"
        for name, value in steps
    )
    notes = (
        f'<p class="muted">resolved {m.resolved}, issue reopened after merge {m.reopened}, '
        f"merges reverted {m.prs_reverted}, pull requests reopened {m.prs_reopened}</p>"
    )
    head = "<tr><th>stage</th><th>tickets</th><th></th></tr>"
    return f'<table class="funnel">{head}{rows}</table>{notes}'


def group_table(name: str, groups: dict[str, Metrics]) -> str:
    if not groups:
        return f'<p class="muted" data-empty="{name}">No runs in this period.</p>'
    head = f'<th class="text">{escape(name)}</th>' + "".join(
        f"<th>{escape(label)}</th>" for _, label in GROUP_COLUMNS
    )
    body = ""
    for key, m in groups.items():
        row = flat(m)
        cells = "".join(
            f'<td data-metric="{k}">{escape(cell(k, row[k]))}</td>' for k, _ in GROUP_COLUMNS
        )
        body += f'<tr data-group="{escape(key)}"><td>{escape(key)}</td>{cells}</tr>'
    return f'<table class="groups" data-by="{name}"><tr>{head}</tr>{body}</table>'


def _comparisons(r: Report) -> str:
    if not r.comparisons:
        return '<p class="muted">No ticket was run by two harnesses in this period.</p>'
    rows = ""
    for c in r.comparisons:
        for row in c.rows:
            rows += (
                f"<tr><td>{escape(c.a)} vs {escape(c.b)}</td><td>{c.tickets}</td>"
                f'<td class="text">{escape(row.harness)}</td><td>{row.runs}</td>'
                f"<td>{row.tickets_with_pr}</td><td>{row.tickets_merged}</td>"
                f"<td>{usd(row.cost_per_run)}</td></tr>"
            )
    head = (
        "<tr><th>harnesses</th><th>common tickets</th><th class=text>harness</th><th>runs</th>"
        "<th>with PR</th><th>merged</th><th>cost/run</th></tr>"
    )
    return f"<table>{head}{rows}</table>"


def overview(r: Report, *, standalone: bool = False) -> str:
    """The overview: numbers, the coverage trend, the funnel, harnesses."""
    m, q = r.overall, r.query
    scope = ", ".join(f"{k} {v}" for k, v in q.where.items()) or "all repositories and harnesses"
    since = q.since.date().isoformat() if q.since else "the start"
    scope = f"{since} to {q.until.date().isoformat() if q.until else 'now'} · {scope}"
    empty = (
        '<p class="muted" data-empty="store">Nothing recorded in this period yet: label an '
        "issue to hand it to the agent.</p>"
        if m.handed == 0 and m.runs == 0
        else ""
    )
    body = (
        "<h1>Backlog burned down</h1>"
        f'<p class="muted">{escape(scope)} · generated {r.generated_at:%Y-%m-%d %H:%M} UTC · '
        f"time to PR {hours(m.time_to_pr.median_hours)}, "
        f"coverage {pct(m.backlog_coverage)}</p>"
        + ("" if standalone else filters(q, "/"))
        + empty
        + _cards(m)
        + "<h2>Coverage by week</h2>"
        + '<div class="chart" data-chart="trend" data-source="trend-data"></div>'
        + _json_script("trend-data", trend_points(r))
        + "<h2>Funnel</h2>"
        + _funnel(m)
        + "<h2>By harness</h2>"
        + group_table("harness", r.by_harness)
        + "<h2>Harnesses on the same tickets</h2>"
        + _comparisons(r)
        + "<h2>By repository</h2>"
        + group_table("repo", r.by_repo)
        + ("" if standalone else f'<p><a href="/tickets{_qs(q)}">All tickets</a></p>')
    )
    return page("Overview", body, standalone=standalone)


@dataclass(frozen=True)
class TicketRow:
    """One line of the ticket list."""

    id: int
    ref: str
    title: str
    url: str
    status: str
    pr_url: str | None
    pr_state: str | None
    runs: int
    last_run_id: int | None
    cost_usd: float


def tickets_page(rows: list[TicketRow], q: ReportQuery, total: int) -> str:
    if not rows:
        table = '<p class="muted" data-empty="tickets">No tickets in this period.</p>'
    else:
        body = "".join(
            f'<tr data-ticket="{escape(t.ref)}"><td><a href="{escape(t.url)}">{escape(t.ref)}</a>'
            f'</td><td class="text">{escape(t.title)}</td>'
            f'<td class="text"><span class="status {escape(t.status)}">'
            f"{escape(t.status)}</span></td>"
            + (
                f'<td class="text"><a href="{escape(t.pr_url)}">{escape(t.pr_url)}</a> '
                f"({escape(t.pr_state or 'open')})</td>"
                if t.pr_url
                else "<td>-</td>"
            )
            + (
                f'<td><a href="/runs/{t.last_run_id}">run {t.last_run_id}</a></td>'
                if t.last_run_id
                else "<td>-</td>"
            )
            + f"<td>{t.runs}</td><td>{usd(t.cost_usd)}</td></tr>"
            for t in rows
        )
        head = (
            "<tr><th>ticket</th><th class=text>title</th><th class=text>status</th>"
            "<th class=text>pull request</th><th>latest run</th><th>runs</th><th>cost</th></tr>"
        )
        table = f'<table class="tickets">{head}{body}</table>'
    shown = f'<p class="muted">{len(rows)} of {total} tickets, newest first</p>'
    return page("Tickets", "<h1>Tickets</h1>" + filters(q, "/tickets") + shown + table)
