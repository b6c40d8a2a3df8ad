"""Linear tickets: the tracker's own id and key (ENG-123), the agent session, and one ticket
(and one closed issue) per (repository, number, key), since two Linear teams may map to one
repository

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 05:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tracker_id", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("tracker_key", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("agent_session_id", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_ticket_tracker_id", ["tracker_id"], unique=False)
        batch_op.create_index("ix_ticket_agent_session_id", ["agent_session_id"], unique=False)
        batch_op.drop_constraint("uq_ticket_issue", type_="unique")
        batch_op.create_unique_constraint(
            "uq_ticket_issue", ["provider", "repo", "number", "tracker_key"]
        )

    with op.batch_alter_table("closedissue", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tracker_key", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.drop_constraint("uq_closed_issue", type_="unique")
        batch_op.create_unique_constraint("uq_closed_issue", ["repo", "number", "tracker_key"])


def downgrade() -> None:
    with op.batch_alter_table("closedissue", schema=None) as batch_op:
        batch_op.drop_constraint("uq_closed_issue", type_="unique")
        batch_op.create_unique_constraint("uq_closed_issue", ["repo", "number"])
        batch_op.drop_column("tracker_key")
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_constraint("uq_ticket_issue", type_="unique")
        batch_op.create_unique_constraint("uq_ticket_issue", ["provider", "repo", "number"])
        batch_op.drop_index("ix_ticket_agent_session_id")
        batch_op.drop_index("ix_ticket_tracker_id")
        batch_op.drop_column("agent_session_id")
        batch_op.drop_column("tracker_key")
        batch_op.drop_column("tracker_id")
