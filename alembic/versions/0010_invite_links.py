"""Invite links remembered: the channel each one led to, so a start does not ask Telegram again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 00:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "invite_links",
        sa.Column(
            "link_sha256",
            sa.String(length=64),
            nullable=False,
            comment="SHA-256 of the link's hash: the link itself lets anyone join, so it is not kept",
        ),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_invite_links_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("link_sha256", name=op.f("pk_invite_links")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("invite_links")
