"""Alert rules, the alert outbox, and change-feed consumer cursors.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 14:24:17.687531

"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""

    op.create_table(
        "consumer_cursors",
        sa.Column(
            "name", sa.String(length=32), nullable=False, comment="who reads the change feed"
        ),
        sa.Column("seq", sa.BigInteger(), nullable=False, comment="last event seq fully processed"),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_consumer_cursors")),
    )
    op.create_table(
        "rules",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "query", sa.Text(), nullable=False, comment="in the query language (docs/QUERY.md)"
        ),
        sa.Column(
            "events",
            sa.String(length=32),
            nullable=False,
            comment="comma-separated: new, edited, deleted",
        ),
        sa.Column(
            "chat_id",
            sa.BigInteger(),
            nullable=False,
            comment="where alerts go (team chat or a user)",
        ),
        sa.Column(
            "owner_id",
            sa.BigInteger(),
            nullable=True,
            comment="Telegram user who made it; none for team rules",
        ),
        sa.Column(
            "mode",
            sa.String(length=16),
            nullable=False,
            comment="instant, silent, digest_hourly, digest_daily",
        ),
        sa.Column(
            "status", sa.String(length=16), nullable=False, comment="active, paused, removed"
        ),
        sa.Column("origin", sa.String(length=16), nullable=False, comment="config, cli, bot"),
        sa.Column(
            "alert_from",
            sa.DateTime(),
            nullable=False,
            comment="events that happened before this time never alert (no history flood)",
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rules")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column(
            "version", sa.Integer(), nullable=False, comment="post version the alert is about"
        ),
        sa.Column("event_kind", sa.String(length=16), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column(
            "status", sa.String(length=16), nullable=False, comment="pending, sent, failed, dropped"
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_id", "message_id"],
            ["posts.channel_id", "posts.message_id"],
            name=op.f("fk_alerts_channel_id_message_id_posts"),
        ),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.id"], name=op.f("fk_alerts_rule_id_rules")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint(
            "rule_id",
            "chat_id",
            "channel_id",
            "message_id",
            "version",
            "event_kind",
            name=op.f("uq_alerts_rule_id_chat_id_channel_id_message_id_version_event_kind"),
        ),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alerts_status_chat_id"), ["status", "chat_id"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_status_chat_id"))

    op.drop_table("alerts")
    op.drop_table("rules")
    op.drop_table("consumer_cursors")
