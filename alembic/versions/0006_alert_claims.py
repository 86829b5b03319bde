"""Alert claims: a delivery worker takes an alert before sending it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 16:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "claimed_at",
                sa.DateTime(),
                nullable=True,
                comment="when a delivery worker took it (status sending)",
            )
        )
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=16),
            existing_nullable=False,
            comment="pending, sending, sent, failed, dropped",
            existing_comment="pending, sent, failed, dropped",
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=16),
            existing_nullable=False,
            comment="pending, sent, failed, dropped",
            existing_comment="pending, sending, sent, failed, dropped",
        )
        batch_op.drop_column("claimed_at")
