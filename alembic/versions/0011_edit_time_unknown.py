"""Posts a saved t.me page showed as edited, without saying when.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 02:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMMENT = "edited, by a source that did not say when (a saved t.me page); edit_date NULL"


def upgrade() -> None:
    """Upgrade schema."""
    for table in ("posts", "post_versions"):
        op.add_column(
            table,
            sa.Column(
                "edit_time_unknown",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
                comment=COMMENT,
            ),
        )


def downgrade() -> None:
    """Downgrade schema."""
    for table in ("posts", "post_versions"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("edit_time_unknown")
