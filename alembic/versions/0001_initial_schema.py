"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 13:35:46.906366

"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table(
        "channels",
        sa.Column(
            "id",
            sa.BigInteger(),
            autoincrement=False,
            nullable=False,
            comment="marked id, e.g. -1001292077344 (Bot API form)",
        ),
        sa.Column(
            "username",
            sa.String(length=64),
            nullable=True,
            comment="public @username without @, if any",
        ),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("about", sa.Text(), nullable=True),
        sa.Column("subscribers", sa.Integer(), nullable=True),
        sa.Column(
            "tracked",
            sa.Boolean(),
            nullable=False,
            comment="followed by the archiver (dozor channels add)",
        ),
        sa.Column(
            "status",
            sa.String(length=16),
            nullable=False,
            comment="ok, private, banned, not_found, error",
        ),
        sa.Column("status_detail", sa.Text(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
    )
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channels_username"), ["username"], unique=False)

    op.create_table(
        "channel_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "field",
            sa.String(length=32),
            nullable=False,
            comment="title, about, username, subscribers",
        ),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("observed_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_channel_changes_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_changes")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("channel_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channel_changes_channel_id_observed_at"),
            ["channel_id", "observed_at"],
            unique=False,
        )

    op.create_table(
        "events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            comment="change-feed position, only ever grows",
        ),
        sa.Column(
            "kind", sa.String(length=16), nullable=False, comment="new, edited, deleted, restored"
        ),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column(
            "version", sa.Integer(), nullable=True, comment="post version the event refers to"
        ),
        sa.Column(
            "occurred_at", sa.DateTime(), nullable=False, comment="when it happened on Telegram"
        ),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column(
            "source",
            sa.String(length=16),
            nullable=False,
            comment="import, backfill, live, reconcile",
        ),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_events_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_events_channel_id_message_id"),
            ["channel_id", "message_id"],
            unique=False,
        )

    op.create_table(
        "imports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "file_format", sa.String(length=32), nullable=False, comment="desktop-legacy or desktop"
        ),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.Column("new_posts", sa.Integer(), nullable=False),
        sa.Column("updated_posts", sa.Integer(), nullable=False),
        sa.Column("unchanged_posts", sa.Integer(), nullable=False),
        sa.Column("skipped_messages", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_imports_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imports")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "posts",
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False, comment="message or service"),
        sa.Column("date", sa.DateTime(), nullable=False),
        sa.Column("edit_date", sa.DateTime(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "entities",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
            comment="formatting; offsets in code points, see DECISIONS",
        ),
        sa.Column("author_signature", sa.Text(), nullable=True),
        sa.Column("views", sa.Integer(), nullable=True),
        sa.Column("forwards", sa.Integer(), nullable=True),
        sa.Column("replies", sa.Integer(), nullable=True),
        sa.Column(
            "reactions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("reply_to_message_id", sa.Integer(), nullable=True),
        sa.Column(
            "forwarded_from_id",
            sa.BigInteger(),
            nullable=True,
            comment="marked id of the original sender",
        ),
        sa.Column("forwarded_from_message_id", sa.Integer(), nullable=True),
        sa.Column("forwarded_from_name", sa.Text(), nullable=True),
        sa.Column("forwarded_from_date", sa.DateTime(), nullable=True),
        sa.Column(
            "grouped_id", sa.BigInteger(), nullable=True, comment="album id shared by its posts"
        ),
        sa.Column("media_type", sa.String(length=32), nullable=True),
        sa.Column(
            "media",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
            comment="media metadata (size, mime, dimensions, ...)",
        ),
        sa.Column(
            "service_action",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
            comment="for service messages: what happened",
        ),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column(
            "deleted_at",
            sa.DateTime(),
            nullable=True,
            comment="tombstone: seen deleted at; rows are never erased",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_posts_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("channel_id", "message_id", name=op.f("pk_posts")),
    )
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_posts_channel_id_date"), ["channel_id", "date"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_posts_grouped_id"), ["grouped_id"], unique=False)

    op.create_table(
        "sync_state",
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "oldest_message_id",
            sa.Integer(),
            nullable=True,
            comment="backfill has everything from here ...",
        ),
        sa.Column("newest_message_id", sa.Integer(), nullable=True, comment="... up to here"),
        sa.Column("backfill_complete", sa.Boolean(), nullable=False),
        sa.Column("last_sync_at", sa.DateTime(), nullable=True),
        sa.Column("last_sync_source", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_sync_state_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_sync_state")),
    )
    op.create_table(
        "post_metrics",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("sampled_at", sa.DateTime(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=True),
        sa.Column("forwards", sa.Integer(), nullable=True),
        sa.Column("replies", sa.Integer(), nullable=True),
        sa.Column(
            "reactions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["channel_id", "message_id"],
            ["posts.channel_id", "posts.message_id"],
            name=op.f("fk_post_metrics_channel_id_message_id_posts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_metrics")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("post_metrics", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_post_metrics_channel_id_message_id_sampled_at"),
            ["channel_id", "message_id", "sampled_at"],
            unique=False,
        )

    op.create_table(
        "post_versions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column(
            "version", sa.Integer(), nullable=False, comment="1, 2, ... in order of discovery"
        ),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "entities",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "media",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("edit_date", sa.DateTime(), nullable=True),
        sa.Column("observed_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id", "message_id"],
            ["posts.channel_id", "posts.message_id"],
            name=op.f("fk_post_versions_channel_id_message_id_posts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_versions")),
        sa.UniqueConstraint(
            "channel_id",
            "message_id",
            "version",
            name=op.f("uq_post_versions_channel_id_message_id_version"),
        ),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    """Downgrade schema."""

    op.drop_table("post_versions")
    with op.batch_alter_table("post_metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_metrics_channel_id_message_id_sampled_at"))

    op.drop_table("post_metrics")
    op.drop_table("sync_state")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_posts_grouped_id"))
        batch_op.drop_index(batch_op.f("ix_posts_channel_id_date"))

    op.drop_table("posts")
    op.drop_table("imports")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_channel_id_message_id"))

    op.drop_table("events")
    with op.batch_alter_table("channel_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_changes_channel_id_observed_at"))

    op.drop_table("channel_changes")
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channels_username"))

    op.drop_table("channels")
