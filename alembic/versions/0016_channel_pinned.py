"""The post a channel shows pinned.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28 15:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column(
        "channels",
        sa.Column(
            "pinned",
            sa.Text(),
            nullable=True,
            comment="the id of the post the channel shows pinned (its newest pin), as text; "
            "empty: none; NULL: not known yet",
        ),
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("pinned")
