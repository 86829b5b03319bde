"""Where Telegram's apps refuse to show a post (its own restriction, as a channel's).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-28 16:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column(
        "posts",
        sa.Column(
            "restriction",
            sa.Text(),
            nullable=True,
            comment="where Telegram's apps refuse to show the post: restricted (platform: "
            "reason), comma-separated; empty: nowhere; NULL: not known (an import)",
        ),
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("restriction")
