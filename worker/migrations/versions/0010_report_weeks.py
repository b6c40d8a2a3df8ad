"""the report's weekly sums (reportweek), the weeks to recompute (reportdirty), the triggers
that name them on every write to the rows they sum, the sums' version (reportversion); an
index on ticket.created_at

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 05:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Per table: the columns whose change matters (None: any), and the moments whose weeks a row
# touches, as SELECTs of one column over the row `{r}` (NEW or OLD).
MARKS: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...]]] = {
    "run": (
        (
            "ticket_id",
            "harness",
            "model",
            "started_at",
            "input_tokens",
            "output_tokens",
            "cost_usd",
        ),
        (
            "SELECT {r}.started_at AS m",
            "SELECT created_at FROM ticket WHERE id = {r}.ticket_id",  # the harness pairs
        ),
    ),
    "outcome": (None, ("SELECT started_at AS m FROM run WHERE id = {r}.run_id",)),
    "ticket": (
        ("repo", "labels", "status", "created_at", "issue_state", "issue_reopened_at"),
        (
            "SELECT {r}.created_at AS m",
            "SELECT resolved_at FROM ticketrollup WHERE ticket_id = {r}.id",
            # a new repository or labels moves its runs and pull requests too
            "SELECT started_at FROM run WHERE ticket_id = {r}.id AND {moved}",
            "SELECT opened_at FROM pullrollup WHERE ticket_id = {r}.id AND {moved}",
        ),
    ),
    "ticketrollup": (
        None,
        (
            "SELECT {r}.resolved_at AS m",
            "SELECT created_at FROM ticket WHERE id = {r}.ticket_id",
        ),
    ),
    "pullrollup": (None, ("SELECT {r}.opened_at AS m",)),
    "closedissue": (None, ("SELECT {r}.closed_at AS m",)),
}
MOVED = "(NEW.repo <> OLD.repo OR NEW.labels <> OLD.labels)"


def _moments(table: str, row: str, op_: str) -> str:
    moved = MOVED if op_ == "UPDATE" else "1 = 0"
    return " UNION ALL ".join(s.format(r=row, moved=moved) for s in MARKS[table][1])


def _sqlite(table: str) -> None:
    week = "date(substr(m, 1, 10), 'weekday 0', '-6 days')"
    cols = MARKS[table][0]
    for op_, rows in (("INSERT", ("NEW",)), ("UPDATE", ("NEW", "OLD")), ("DELETE", ("OLD",))):
        event = f"UPDATE OF {', '.join(cols)}" if op_ == "UPDATE" and cols else op_
        moments = " UNION ALL ".join(_moments(table, r, op_) for r in rows)
        op.execute(
            f"CREATE TRIGGER reportdirty_{table}_{op_.lower()} AFTER {event} ON {table} "
            f"BEGIN INSERT INTO reportdirty (week) SELECT DISTINCT {week} FROM ({moments}) "
            "WHERE m IS NOT NULL; END"
        )


def _postgres(table: str) -> None:
    week = "to_char(date_trunc('week', m AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"

    def insert(row: str, op_: str) -> str:
        return (
            f"INSERT INTO reportdirty (week) SELECT DISTINCT {week} "
            f"FROM ({_moments(table, row, op_)}) AS x WHERE m IS NOT NULL;"
        )

    op.execute(
        f"CREATE FUNCTION reportdirty_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF TG_OP = 'INSERT' THEN {insert('NEW', 'INSERT')} END IF; "
        f"IF TG_OP = 'UPDATE' THEN {insert('NEW', 'UPDATE')} {insert('OLD', 'UPDATE')} END IF; "
        f"IF TG_OP = 'DELETE' THEN {insert('OLD', 'DELETE')} END IF; "
        "RETURN NULL; END $$"
    )
    cols = MARKS[table][0]
    update = f"UPDATE OF {', '.join(cols)}" if cols else "UPDATE"
    op.execute(
        f"CREATE TRIGGER reportdirty_{table} AFTER INSERT OR {update} OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION reportdirty_{table}()"
    )


def upgrade() -> None:
    op.create_table(
        "reportweek",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("repo", sa.String(length=255), nullable=True),
        *(sa.Column(c, sa.Text(), nullable=True) for c in ("labels", "a", "b", "c", "d")),
        sa.Column("flag", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        *(sa.Column(c, sa.BigInteger(), nullable=True) for c in ("x1", "x2", "x3", "x4")),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("l1", sa.Text(), nullable=True),
        sa.Column("l2", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reportweek_kind_week", "reportweek", ["kind", "week"], unique=False)
    op.create_table(
        "reportdirty",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "reportversion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO reportversion (id, version) VALUES (1, 0)")
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_created_at"), ["created_at"], unique=False)
    pg = op.get_bind().dialect.name == "postgresql"
    for table in MARKS:
        (_postgres if pg else _sqlite)(table)
    # every week that has rows is stale until the first report computes it
    for table, column in (
        ("run", "started_at"),
        ("ticket", "created_at"),
        ("pullrollup", "opened_at"),
        ("closedissue", "closed_at"),
        ("ticketrollup", "resolved_at"),
    ):
        m = f"(SELECT DISTINCT {column} AS m FROM {table} WHERE {column} IS NOT NULL) AS x"
        week = (
            "to_char(date_trunc('week', m AT TIME ZONE 'UTC'), 'YYYY-MM-DD')"
            if pg
            else "date(substr(m, 1, 10), 'weekday 0', '-6 days')"
        )
        op.execute(f"INSERT INTO reportdirty (week) SELECT DISTINCT {week} FROM {m}")


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for table in MARKS:
        if pg:
            op.execute(f"DROP TRIGGER IF EXISTS reportdirty_{table} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS reportdirty_{table}()")
        else:
            for op_ in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS reportdirty_{table}_{op_}")
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_created_at"))
    op.drop_table("reportversion")
    op.drop_table("reportdirty")
    op.drop_index("ix_reportweek_kind_week", table_name="reportweek")
    op.drop_table("reportweek")
