"""Counter samples read off saved t.me pages, whose counts are rounded ("23.4K").

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 00:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column(
        "post_metrics",
        sa.Column(
            "rounded",
            sa.Boolean(),
            nullable=False,
            server_default=sa.false(),
            comment="counts as a t.me page showed them: from 1,000 up rounded (23.4K read as 23400)",
        ),
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("post_metrics") as batch:
        batch.drop_column("rounded")
