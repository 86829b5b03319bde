"""Why the account is not in a followed channel (Telegram then pushes none of its posts).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 13:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column(
        "sync_state",
        sa.Column(
            "not_joined",
            sa.Text(),
            nullable=True,
            comment="why the account is not in the channel: no live updates, new posts are polled",
        ),
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("sync_state") as batch:
        batch.drop_column("not_joined")
