"""The budgets above the run on the dashboard: `/budgets` (a page) and `/api/budgets` (JSON):
each budget's cap, spend and reset, and the tickets a spent budget holds."""

from html import escape
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from scheduler.web.pages import page
from worker.spend import Budgets, Standing, all_standings, held_tickets, standing_json


def budgets_json(engine: Engine, budgets: Budgets) -> dict[str, Any]:
    """Every budget's standing and the held tickets, as JSON."""
    return {
        "when_spent": budgets.when_spent.value,
        "budgets": [standing_json(x) for x in all_standings(engine, budgets)],
        "held": [
            {"ticket_id": h.ticket_id, "repo": h.repo, "number": h.number, "reason": h.reason}
            for h in held_tickets(engine)
        ],
    }


def budget_lines(engine: Engine, budgets: Budgets) -> list[str]:
    """Spend against each budget, one line each, for the report's text."""
    rows = all_standings(engine, budgets)
    if not rows:
        return ["budgets: none set"]
    return [_line(x) for x in rows] + [
        f"held: {h.repo}#{h.number} ({h.reason})" for h in held_tickets(engine)
    ]


def _line(x: Standing) -> str:
    whose = f" {x.repo}" if x.repo else ""
    state = "SPENT" if x.spent else "ok"
    return (
        f"budget {x.name}{whose}: ${x.spent_usd:.2f} of ${x.cap_usd:.2f} ({state}; "
        f"starts again {x.resets_at:%Y-%m-%d %H:%M} UTC)"
    )


def budgets_router(engine: Engine, budgets: Budgets) -> APIRouter:
    """`/budgets` and `/api/budgets`: spend against each budget, and the tickets held."""
    router = APIRouter()

    @router.get("/api/budgets")
    def api_budgets() -> dict[str, Any]:
        return budgets_json(engine, budgets)

    @router.get("/budgets", response_class=HTMLResponse)
    def budgets_page() -> HTMLResponse:
        data = budgets_json(engine, budgets)
        rows = "".join(
            f"<tr><td>{escape(b['budget'])}</td><td>{escape(b['repo'] or 'all')}</td>"
            f"<td>${b['spent_usd']:.2f}</td><td>${b['cap_usd']:.2f}</td>"
            f"<td>{'spent' if b['spent'] else 'ok'}</td><td>{escape(b['resets_at'])}</td></tr>"
            for b in data["budgets"]
        )
        held = "".join(
            f"<li>{escape(h['repo'])}#{h['number']}: {escape(h['reason'])}</li>"
            for h in data["held"]
        )
        body = (
            "<h1>Budgets</h1>"
            + (
                "<table><tr><th>budget</th><th>repository</th><th>spent</th><th>cap</th>"
                f"<th>state</th><th>starts again</th></tr>{rows}</table>"
                if rows
                else "<p>No budgets above the run are set.</p>"
            )
            + f"<h2>Held tickets</h2><ul>{held or '<li>none</li>'}</ul>"
        )
        return HTMLResponse(page("Burndown budgets", body))

    return router
