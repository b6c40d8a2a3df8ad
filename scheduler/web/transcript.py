"""A run's unified transcript: its stored events (harness events and pipeline stages) as
HTML and as JSON values. What is shown is redacted of the secret values Burndown holds, again
(events are stored redacted; this also covers rows stored before, and texts outside events)."""

import json
from dataclasses import dataclass
from html import escape
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from sandbox.harness.events import EventKind
from scheduler.report.render import usd
from scheduler.web.pages import page
from worker.secrets_scan import SecretScanner
from worker.store.db import session_scope
from worker.store.models import (
    EventSource,
    Outcome,
    OutcomeKind,
    PipelineEventKind,
    Run,
    RunEvent,
    Ticket,
)
from worker.store.repo import run_events

LIMIT = 4000  # characters of one tool result shown; the stored event keeps everything


@dataclass(frozen=True)
class RunRecord:
    run: Run
    ticket: Ticket
    outcome: Outcome | None
    events: list[RunEvent]


def load_run(engine: Engine, run_id: int, secrets: SecretScanner | None = None) -> RunRecord | None:
    """A run with its ticket, outcome and events, redacted by `secrets`."""
    with session_scope(engine) as s:
        run = s.get(Run, run_id)
        if run is None:
            return None
        ticket = s.get(Ticket, run.ticket_id)
        outcome = s.exec(select(Outcome).where(Outcome.run_id == run_id)).first()
    assert ticket is not None
    events = list(run_events(engine, run_id))
    if secrets is None:
        return RunRecord(run, ticket, outcome, events)
    return RunRecord(
        run.model_copy(update={"error": secrets.redact(run.error) if run.error else None}),
        ticket.model_copy(
            update={"title": secrets.redact(ticket.title), "body": secrets.redact(ticket.body)}
        ),
        outcome.model_copy(update={"detail": secrets.redact(outcome.detail)}) if outcome else None,
        [e.model_copy(update={"data": _redacted(e.data, secrets)}) for e in events],
    )


def _redacted(data: str, secrets: SecretScanner) -> str:
    try:
        return json.dumps(secrets.redact_data(json.loads(data)))
    except ValueError:
        return secrets.redact(data)


def event_json(e: RunEvent) -> dict[str, Any]:
    try:
        data = json.loads(e.data)
    except ValueError:
        data = {"unreadable": e.data}
    return {
        "seq": e.seq,
        "source": e.source,
        "kind": e.kind,
        "data": data,
        "created_at": e.created_at.isoformat(),
    }


def run_json(rec: RunRecord) -> dict[str, Any]:
    r, t = rec.run, rec.ticket
    return {
        "id": r.id,
        "ticket": {"id": t.id, "ref": f"{t.repo}#{t.number}", "title": t.title, "url": t.url},
        "harness": r.harness,
        "model": r.model,
        "status": r.status,
        "started_at": r.started_at.isoformat(),
        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
        "outcome": rec.outcome.kind if rec.outcome else None,
        "detail": rec.outcome.detail if rec.outcome else None,
        "pr_url": r.pr_url,
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "cost_usd": r.cost_usd,
        "error": r.error,
        "events": [event_json(e) for e in rec.events],
    }


def _text(data: dict[str, Any]) -> str:
    e = event_summary(data)
    return f"<pre>{escape(e)}</pre>" if e else ""


def event_summary(data: dict[str, Any]) -> str:
    """The readable part of one event's data (its raw native form left out)."""
    shown = {k: v for k, v in data.items() if k != "raw"}
    for key in ("text", "output", "message"):
        if isinstance(shown.get(key), str):
            rest = {k: v for k, v in shown.items() if k != key}
            body = str(shown[key])
            body = body if len(body) <= LIMIT else body[:LIMIT] + f"\n… ({len(body)} characters)"
            return (json.dumps(rest) + "\n" if rest else "") + body
    return json.dumps(shown, indent=1, default=str) if shown else ""


def _event(e: RunEvent) -> str:
    data = event_json(e)["data"]
    if e.source == EventSource.PIPELINE and e.kind == PipelineEventKind.STAGE:
        label = f"stage · {data.get('stage')} · {data.get('seconds')} s"
        extra = {k: v for k, v in data.items() if k not in ("stage", "seconds")}
        inner = f"<pre>{escape(json.dumps(extra))}</pre>" if extra else ""
    elif e.kind == EventKind.TOOL_CALL:
        label = f"tool call · {data.get('name', '?')}"
        inner = f"<pre>{escape(json.dumps(data.get('input'), indent=1, default=str))}</pre>"
    else:
        label, inner = e.kind.replace("_", " "), _text(data)
    status = str(data.get("status", "")) if e.kind == EventKind.RESULT else ""
    cls = f"event {escape(e.source)} {escape(e.kind)} {escape(status)}".strip()
    return (
        f'<div class="{cls}" data-seq="{e.seq}" data-kind="{escape(e.kind)}">'
        f'<div class="kind">#{e.seq} {escape(label)}</div>{inner}</div>'
    )


def run_page(rec: RunRecord) -> str:
    r, t, o = rec.run, rec.ticket, rec.outcome
    took = f"{(r.finished_at - r.started_at).total_seconds():.1f} s" if r.finished_at else "running"
    pr = f'<a href="{escape(r.pr_url)}">{escape(r.pr_url)}</a>' if r.pr_url else "none"
    facts = (
        f'<p><a href="{escape(t.url)}">{escape(t.repo)}#{t.number}</a> · {escape(t.title)}</p>'
        f'<p class="muted">{escape(r.harness)} · {escape(r.model or "default model")} · '
        f"{escape(r.status)} · {took} · tokens {r.input_tokens or 0}/{r.output_tokens or 0} · "
        f"{usd(r.cost_usd)} · pull request {pr}</p>"
    )
    problem = ""
    if o is not None and o.kind == OutcomeKind.FAILED:
        problem = f'<p class="problem">{escape(o.detail)}</p>'
    events = "".join(_event(e) for e in rec.events) or '<p class="muted">No events recorded.</p>'
    outcome = escape(o.kind) if o else "no outcome yet"
    body = (
        f"<h1>Run {r.id}: {outcome}</h1>{facts}{problem}<h2>Transcript</h2>"
        f'<div class="events">{events}</div>'
    )
    return page(f"Run {r.id}", body)
