"""Posts Telegram has that this dozor cannot read yet (a TL type newer than Telethon).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 07:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "unreadable_messages",
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column(
            "reason",
            sa.Text(),
            nullable=False,
            comment="why it could not be read: a TL type newer than Telethon, or a conversion fault",
        ),
        sa.Column(
            "read_by",
            sa.String(length=64),
            nullable=False,
            comment="the dozor and Telethon versions that failed: a new one retries at once",
        ),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_tried_at", sa.DateTime(), nullable=False),
        sa.Column("told_at", sa.DateTime(), comment="when the team was told (bot channel notices)"),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_unreadable_messages_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("channel_id", "message_id", name=op.f("pk_unreadable_messages")),
        comment="posts Telegram has that this dozor cannot read yet; gone once read",
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("unreadable_messages")
