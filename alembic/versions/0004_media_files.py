"""Downloaded attachments, stored once per content (SHA-256).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 15:10:54.588400

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table(
        "media_files",
        sa.Column(
            "sha256", sa.String(length=64), nullable=False, comment="content address of the file"
        ),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mime_type", sa.String(length=128), nullable=True),
        sa.Column("path", sa.Text(), nullable=False, comment="relative to archiver.media_dir"),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_media_files")),
    )


def downgrade() -> None:
    """Downgrade schema."""

    op.drop_table("media_files")
