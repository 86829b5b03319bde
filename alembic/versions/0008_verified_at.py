"""Full re-reads: when each channel's whole archive was last checked against Telegram.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 23:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column(
        "sync_state",
        sa.Column(
            "verified_at",
            sa.DateTime(),
            nullable=True,
            comment="when the whole archive was last read from Telegram",
        ),
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("sync_state") as batch:
        batch.drop_column("verified_at")
