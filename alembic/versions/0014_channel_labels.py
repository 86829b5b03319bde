"""Telegram's labels on a channel (verified, scam, fake, auto-delete, restrictions...).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 13:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column(
        "channels",
        sa.Column(
            "labels",
            sa.Text(),
            nullable=True,
            comment="Telegram's labels (verified, scam, fake, protected content, auto-delete, "
            "restricted (platform: reason)), comma-separated; empty: none; NULL: not known yet",
        ),
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("labels")
