"""Channel requests from the bot, processed by the archiver

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 15:19:37.643489

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "channel_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "ref", sa.Text(), nullable=False, comment="what the user typed: @name, t.me link..."
        ),
        sa.Column(
            "requested_by",
            sa.BigInteger(),
            nullable=True,
            comment="Telegram user id (bot) or none (CLI)",
        ),
        sa.Column("chat_id", sa.BigInteger(), nullable=True, comment="where to report the outcome"),
        sa.Column(
            "status",
            sa.String(length=16),
            server_default="pending",
            nullable=False,
            comment="pending, done, failed",
        ),
        sa.Column("detail", sa.Text(), nullable=True, comment="the channel followed, or why not"),
        sa.Column("channel_id", sa.BigInteger(), nullable=True),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column(
            "reported_at",
            sa.DateTime(),
            nullable=True,
            comment="when the outcome reached the requester",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_requests")),
    )
    with op.batch_alter_table("channel_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channel_requests_status"), ["status"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("channel_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_requests_status"))

    op.drop_table("channel_requests")
