"""Events found by kind and time: `dozor events` lists a kind of change newest first.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-28 17:30:00

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index("ix_events_kind_occurred_at", "events", ["kind", "occurred_at"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_events_kind_occurred_at", table_name="events")
