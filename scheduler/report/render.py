"""The report as JSON values, CSV, rich tables and a standalone HTML page."""

import csv
import dataclasses
import io
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from scheduler.report.compare import Comparison
from scheduler.report.metrics import Metrics
from scheduler.report.report import Report
from worker.store.models import OutcomeKind

SECTIONS = ("harness", "repo", "model", "label", "week")
WEEKS_SHOWN = 12


def jsonable(value: Any) -> Any:
    """Dataclasses, dicts, lists and datetimes as JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def flat(m: Metrics) -> dict[str, Any]:
    """One metrics object as a flat row (CSV, Prometheus, tables)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(m):
        value = getattr(m, f.name)
        if dataclasses.is_dataclass(value):
            for g in dataclasses.fields(value):
                out[f"{f.name}.{g.name}"] = getattr(value, g.name)
        elif isinstance(value, dict):
            for k, v in sorted(value.items()):
                out[f"{f.name}.{k}"] = v
        else:
            out[f.name] = value
    return out


def sections(r: Report) -> dict[str, dict[str, Metrics]]:
    return {
        "harness": r.by_harness,
        "repo": r.by_repo,
        "model": r.by_model,
        "label": r.by_label,
        "week": r.by_week,
    }


def report_json(r: Report) -> dict[str, Any]:
    """The whole report as a JSON value (the `--format json` output and `GET /api/report`)."""
    body: dict[str, Any] = {
        "query": jsonable(r.query),
        "generated_at": r.generated_at.isoformat(),
        "overall": jsonable(r.overall),
        "tickets_by_status": r.tickets_by_status,
    }
    for name, groups in sections(r).items():
        body[f"by_{name}"] = jsonable(groups)
    body["comparisons"] = jsonable(r.comparisons)
    body["runs"] = jsonable(r.rows)
    return body


_OUTCOMES = (OutcomeKind.PR_OPENED, OutcomeKind.NO_CHANGES, OutcomeKind.FAILED, "running")


def report_csv(r: Report) -> str:
    """One row per (section, group): the overall row first, then by harness, repo, model,
    label and week; the same columns on every row."""
    rows = [{"section": "overall", "group": "all", **flat(r.overall)}]
    for name, groups in sections(r).items():
        rows += [{"section": name, "group": key, **flat(m)} for key, m in groups.items()]
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {c: _csv(row.get(c, 0 if c.startswith("outcomes.") else None)) for c in columns}
        )
    return out.getvalue()


def _csv(value: Any) -> Any:
    if value is None:
        return ""
    return round(value, 6) if isinstance(value, float) else value


# --- text formats shared by tables and pages --------------------------------------------


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def usd(value: float | None) -> str:
    return "-" if value is None else f"${value:.2f}"


def hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} h"


def num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if isinstance(value, float) else f"{value:,}"


GROUP_COLUMNS: list[tuple[str, str]] = [
    ("handed", "tickets"),
    ("funnel.run", "run"),
    ("funnel.pull_request", "PR"),
    ("funnel.merged", "merged"),
    ("resolved", "resolved"),
    ("agent_coverage", "coverage (handed)"),
    ("backlog_coverage", "coverage (closed)"),
    ("merge_rate", "merge rate"),
    ("time_to_pr.median_hours", "to PR"),
    ("time_to_merge.median_hours", "to merge"),
    ("runs", "runs"),
    ("tokens_per_run", "tokens/run"),
    ("cost_per_run", "cost/run"),
    ("cost_per_merged_pr", "cost/merged PR"),
]


def cell(key: str, value: Any) -> str:
    """How a metric shows in a table or page."""
    if "coverage" in key or key == "merge_rate":
        return pct(value)
    if key.startswith("cost"):
        return usd(value)
    if key.endswith("_hours"):
        return hours(value)
    return num(value)


def group_table(name: str, groups: dict[str, Metrics]) -> Table:
    table = Table(title=f"by {name}", title_justify="left")
    table.add_column(name)
    for _, label in GROUP_COLUMNS:
        table.add_column(label, justify="right")
    for key, m in groups.items():
        row = flat(m)
        table.add_row(key, *(cell(k, row[k]) for k, _ in GROUP_COLUMNS))
    return table


def comparison_table(comparisons: list[Comparison]) -> Table:
    table = Table(title="harnesses on the same tickets", title_justify="left")
    for name in ("harnesses", "common tickets", "harness", "runs", "with PR", "merged", "cost/run"):
        table.add_column(name, justify="left" if name.startswith("harness") else "right")
    for c in comparisons:
        for i, row in enumerate(c.rows):
            table.add_row(
                f"{c.a} vs {c.b}" if i == 0 else "",
                str(c.tickets) if i == 0 else "",
                row.harness,
                str(row.runs),
                str(row.tickets_with_pr),
                str(row.tickets_merged),
                usd(row.cost_per_run),
            )
    return table


def runs_table(r: Report) -> Table:
    table = Table(title=f"latest runs (up to {r.query.runs_shown})", title_justify="left")
    for name in ("run", "ticket", "harness", "status", "outcome", "pull request", "seconds"):
        table.add_column(name)
    table.add_column("tokens in/out")
    table.add_column("cost")
    for row in r.rows:
        table.add_row(
            str(row.run_id),
            row.ticket,
            row.harness,
            row.status,
            row.outcome or "-",
            row.pr_url or "-",
            f"{row.seconds:.1f}" if row.seconds is not None else "-",
            f"{row.input_tokens}/{row.output_tokens}" if row.input_tokens is not None else "-",
            f"${row.cost_usd:.4f}" if row.cost_usd is not None else "unknown",
        )
    return table


def summary_lines(r: Report) -> list[str]:
    m, q = r.overall, r.query
    since = q.since.date().isoformat() if q.since else "the start"
    until = q.until.date().isoformat() if q.until else "now"
    scope = ", ".join(f"{k} {v}" for k, v in q.where.items()) or "all repositories and harnesses"
    outcomes = ", ".join(f"{k}={v}" for k, v in sorted(m.outcomes.items())) or "none"
    f = m.funnel
    return [
        f"period: {since} to {until}; {scope}",
        f"tickets: {m.handed}  runs: {m.runs}  pull requests opened: {m.prs_opened}",
        f"outcomes: {outcomes}",
        f"funnel: labeled {f.labeled} -> run {f.run} -> pull request {f.pull_request} -> "
        f"merged {f.merged}  (resolved {m.resolved}, reopened {m.reopened}, "
        f"reverted PRs {m.prs_reverted})",
        f"coverage: {pct(m.agent_coverage)} of tickets handed to the agent; "
        f"{pct(m.backlog_coverage)} of issues closed ({m.resolved_in_period} of "
        f"{m.closed_in_period})",
        f"merge rate: {pct(m.merge_rate)}  time to PR: {hours(m.time_to_pr.median_hours)}  "
        f"time to merge: {hours(m.time_to_merge.median_hours)} (medians)",
        f"cost: {usd(m.cost_usd)} ({usd(m.cost_per_run)}/run, {usd(m.cost_per_merged_pr)}/merged "
        f"PR; {m.runs_without_cost} runs without a cost)  tokens/run: {num(m.tokens_per_run)}",
    ]


def report_tables(r: Report) -> RenderableType:
    """The report for a terminal."""
    parts: list[RenderableType] = [*summary_lines(r)]
    for name, groups in sections(r).items():
        if name == "week" and len(groups) > WEEKS_SHOWN:
            groups = dict(list(groups.items())[-WEEKS_SHOWN:])
            name = f"week (the last {WEEKS_SHOWN}; --format json or csv for all)"
        if groups:
            parts.append(group_table(name, groups))
    if r.comparisons:
        parts.append(comparison_table(r.comparisons))
    if r.rows:
        parts.append(runs_table(r))
    return Group(*parts)
