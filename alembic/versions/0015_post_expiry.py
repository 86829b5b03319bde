"""When a post deletes itself (a channel's auto-delete timer).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 14:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column(
        "posts",
        sa.Column(
            "expires_at",
            sa.DateTime(),
            nullable=True,
            comment="when the post deletes itself (the channel's auto-delete timer), if it does",
        ),
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("expires_at")
