"""lifecycle of agent pull requests, closed issues and the sync cursor (for metrics)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 06:17:34.396113
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agentpull",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repo", sa.String(length=255), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("merge_commit_sha", sa.String(length=64), nullable=True),
        sa.Column("head_sha", sa.String(length=64), nullable=True),
        sa.Column("reopened_count", sa.Integer(), nullable=False),
        sa.Column("reverted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revert_sha", sa.String(length=64), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("repo", "number", name="uq_agent_pull"),
    )
    with op.batch_alter_table("agentpull", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agentpull_repo"), ["repo"], unique=False)
        batch_op.create_index(batch_op.f("ix_agentpull_state"), ["state"], unique=False)

    op.create_table(
        "closedissue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repo", sa.String(length=255), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("repo", "number", name="uq_closed_issue"),
    )
    with op.batch_alter_table("closedissue", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_closedissue_closed_at"), ["closed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_closedissue_repo"), ["repo"], unique=False)

    op.create_table(
        "synccursor",
        sa.Column("repo", sa.String(length=255), nullable=False),
        sa.Column("issues_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("commits_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("repo"),
    )
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        # existing tickets get an empty label list; the sync fills it in
        batch_op.add_column(sa.Column("labels", sa.Text(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("issue_state", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("issue_closed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("issue_reopened_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_column("issue_reopened_at")
        batch_op.drop_column("issue_closed_at")
        batch_op.drop_column("issue_state")
        batch_op.drop_column("labels")

    op.drop_table("synccursor")
    with op.batch_alter_table("closedissue", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_closedissue_repo"))
        batch_op.drop_index(batch_op.f("ix_closedissue_closed_at"))

    op.drop_table("closedissue")
    with op.batch_alter_table("agentpull", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agentpull_state"))
        batch_op.drop_index(batch_op.f("ix_agentpull_repo"))

    op.drop_table("agentpull")
