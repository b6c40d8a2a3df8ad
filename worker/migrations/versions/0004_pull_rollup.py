"""the pull request and ticket rollups the report reads, and an index on run.pr_number

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 02:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pullrollup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repo", sa.String(length=255), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_run_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("harness", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopened_count", sa.Integer(), nullable=False),
        sa.Column("to_pr_us", sa.BigInteger(), nullable=False),
        sa.Column("to_merge_us", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("repo", "number", name="uq_pull_rollup"),
    )
    with op.batch_alter_table("pullrollup", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pullrollup_opened_at"), ["opened_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_pullrollup_ticket_id"), ["ticket_id"], unique=False)
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_run_pr_number"), ["pr_number"], unique=False)
    op.create_table(
        "ticketrollup",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("pairs", sa.Text(), nullable=False),
        sa.Column("harnesses", sa.Text(), nullable=False),
        sa.Column("pulls", sa.Text(), nullable=False),
        sa.Column("resolved_by", sa.String(length=255), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("ticket_id"),
    )
    with op.batch_alter_table("ticketrollup", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ticketrollup_resolved_at"), ["resolved_at"], unique=False
        )

    # Existing pull requests: the same computation the writes use from now on.
    from worker.store.rollup import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("ticketrollup", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticketrollup_resolved_at"))
    op.drop_table("ticketrollup")
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_pr_number"))
    with op.batch_alter_table("pullrollup", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pullrollup_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_pullrollup_opened_at"))
    op.drop_table("pullrollup")
