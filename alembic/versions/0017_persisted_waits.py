"""Telegram's flood waits and join refusals outlast the process that met them.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-28 15:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column(
        "sync_state",
        sa.Column(
            "postponed_until",
            sa.DateTime(),
            nullable=True,
            comment="a long flood wait: the channel's work waits until then (past: no wait)",
        ),
    )
    op.add_column(
        "sync_state",
        sa.Column(
            "join_retry_at",
            sa.DateTime(),
            nullable=True,
            comment="a refused join is tried again from then on (past: at the next pass)",
        ),
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("sync_state") as batch:
        batch.drop_column("join_retry_at")
        batch.drop_column("postponed_until")
