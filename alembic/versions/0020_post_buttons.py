"""The buttons under a post (links a channel attaches, which it can point elsewhere later).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-28 20:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMMENT = (
    "the buttons under the post, rows of {type, text, url}; empty: none; NULL: not known "
    "(archived before dozor kept buttons, or from a source that does not show them)"
)


def upgrade() -> None:
    """Upgrade schema."""
    for table in ("posts", "post_versions"):
        op.add_column(
            table,
            sa.Column(
                "buttons",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
                comment=COMMENT,
            ),
        )


def downgrade() -> None:
    """Downgrade schema."""
    for table in ("post_versions", "posts"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("buttons")
