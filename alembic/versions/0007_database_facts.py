"""Database facts: which version of the text analysis built the search index.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 17:30:00

"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Databases made before this revision were indexed by the first analyzer, which is version 1.
FIRST_ANALYZER = "1"


def upgrade() -> None:
    """Upgrade schema."""
    facts = op.create_table(
        "database_facts",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_database_facts")),
        comment="facts about the database itself, e.g. which text analysis built the search index",
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    op.bulk_insert(facts, [{"name": "search_analyzer", "value": FIRST_ANALYZER, "updated_at": now}])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("database_facts")
