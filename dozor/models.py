"""The archive schema. Readable on its own (Datasette, sqlite3): see docs/DECISIONS.md.

Core tables rather than ORM classes: every write path is a batched executemany, and the
same definitions drive Alembic's autogenerate and the drift test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.expression import false
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as naive UTC, returned as aware UTC.

    SQLite has no time zone type; storing naive UTC keeps the text sortable and readable
    (``2024-11-01 08:30:00``) and PostgreSQL gets ``timestamp without time zone`` likewise.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: dozor stores aware UTC times only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# none_as_null: Python None is SQL NULL, not the JSON text 'null' (readable, queryable).
JSONType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
BUTTONS_COMMENT = (
    "the buttons under the post, rows of {type, text, url}; empty: none; NULL: not known "
    "(archived before dozor kept buttons, or from a source that does not show them)"
)
# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit sequence.
SeqType = BigInteger().with_variant(Integer(), "sqlite")

channels = Table(
    "channels",
    metadata,
    Column(
        "id",
        BigInteger,
        primary_key=True,
        autoincrement=False,
        comment="marked id, e.g. -1001292077344 (Bot API form)",
    ),
    Column("username", String(64), comment="public @username without @, if any"),
    Column("title", Text, nullable=False),
    Column("about", Text),
    Column("subscribers", Integer),
    Column(
        "labels",
        Text,
        comment="Telegram's labels (verified, scam, fake, protected content, auto-delete, "
        "restricted (platform: reason)), comma-separated; empty: none; NULL: not known yet",
    ),
    Column(
        "pinned",
        Text,
        comment="the id of the post the channel shows pinned (its newest pin), as text; "
        "empty: none; NULL: not known yet",
    ),
    Column(
        "tracked",
        Boolean,
        nullable=False,
        default=False,
        comment="followed by the archiver (dozor channels add)",
    ),
    Column(
        "status",
        String(16),
        nullable=False,
        default="ok",
        comment="ok, private, banned, not_found, error",
    ),
    Column("status_detail", Text),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "username"),
)

channel_changes = Table(
    "channel_changes",
    metadata,
    Column("id", SeqType, primary_key=True),
    Column("channel_id", BigInteger, ForeignKey("channels.id"), nullable=False),
    Column("field", String(32), nullable=False, comment="title, about, username, subscribers"),
    Column("old_value", Text),
    Column("new_value", Text),
    Column("observed_at", UTCDateTime, nullable=False),
    Column("source", String(16), nullable=False),
    Index(None, "channel_id", "observed_at"),
    sqlite_autoincrement=True,
)

invite_links = Table(
    "invite_links",
    metadata,
    Column(
        "link_sha256",
        String(64),
        primary_key=True,
        comment="SHA-256 of the link's hash: the link itself lets anyone join, so it is not kept",
    ),
    Column("channel_id", BigInteger, ForeignKey("channels.id"), nullable=False),
    Column("resolved_at", UTCDateTime, nullable=False),
)

unreadable_messages = Table(
    "unreadable_messages",
    metadata,
    Column("channel_id", BigInteger, ForeignKey("channels.id"), primary_key=True),
    Column("message_id", Integer, primary_key=True),
    Column(
        "reason",
        Text,
        nullable=False,
        comment="why it could not be read: a TL type newer than Telethon, or a conversion fault",
    ),
    Column(
        "read_by",
        String(64),
        nullable=False,
        comment="the dozor and Telethon versions that failed: a new one retries at once",
    ),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_tried_at", UTCDateTime, nullable=False),
    Column("told_at", UTCDateTime, comment="when the team was told (bot channel notices)"),
    comment="posts Telegram has that this dozor cannot read yet; gone once read",
)


def _edit_time_unknown() -> Column[bool]:
    """A post or version marked edited by a source that did not say when (a saved page)."""
    return Column(
        "edit_time_unknown",
        Boolean,
        nullable=False,
        server_default=false(),
        comment="edited, by a source that did not say when (a saved t.me page); edit_date NULL",
    )


posts = Table(
    "posts",
    metadata,
    Column("channel_id", BigInteger, ForeignKey("channels.id"), primary_key=True),
    Column("message_id", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False, comment="message or service"),
    Column("date", UTCDateTime, nullable=False),
    Column("edit_date", UTCDateTime),
    _edit_time_unknown(),
    Column("text", Text, nullable=False, default=""),
    Column("entities", JSONType, comment="formatting; offsets in code points, see DECISIONS"),
    Column("author_signature", Text),
    Column("views", Integer),
    Column("forwards", Integer),
    Column("replies", Integer),
    Column("reactions", JSONType),
    Column("reply_to_message_id", Integer),
    Column("forwarded_from_id", BigInteger, comment="marked id of the original sender"),
    Column("forwarded_from_message_id", Integer),
    Column("forwarded_from_name", Text),
    Column("forwarded_from_date", UTCDateTime),
    Column("grouped_id", BigInteger, comment="album id shared by its posts"),
    Column("media_type", String(32)),
    Column("media", JSONType, comment="media metadata (size, mime, dimensions, ...)"),
    Column("service_action", JSONType, comment="for service messages: what happened"),
    Column("content_sha256", String(64), nullable=False),
    Column("current_version", Integer, nullable=False, default=1),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime, comment="tombstone: seen deleted at; rows are never erased"),
    Column(
        "expires_at",
        UTCDateTime,
        comment="when the post deletes itself (the channel's auto-delete timer), if it does",
    ),
    Column(
        "restriction",
        Text,
        comment="where Telegram's apps refuse to show the post: restricted (platform: "
        "reason), comma-separated; empty: nowhere; NULL: not known (an import)",
    ),
    Column("buttons", JSONType, comment=BUTTONS_COMMENT),
    Index(None, "channel_id", "date"),
    Index(None, "grouped_id"),
)

post_versions = Table(
    "post_versions",
    metadata,
    Column("id", SeqType, primary_key=True),
    Column("channel_id", BigInteger, nullable=False),
    Column("message_id", Integer, nullable=False),
    Column("version", Integer, nullable=False, comment="1, 2, ... in order of discovery"),
    Column("content_sha256", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("entities", JSONType),
    Column("media", JSONType),
    Column("edit_date", UTCDateTime),
    _edit_time_unknown(),
    Column("observed_at", UTCDateTime, nullable=False),
    Column("source", String(16), nullable=False),
    Column("buttons", JSONType, comment=BUTTONS_COMMENT),
    ForeignKeyConstraint(["channel_id", "message_id"], ["posts.channel_id", "posts.message_id"]),
    UniqueConstraint("channel_id", "message_id", "version"),
    sqlite_autoincrement=True,
)

events = Table(
    "events",
    metadata,
    Column("seq", SeqType, primary_key=True, comment="change-feed position, only ever grows"),
    Column("kind", String(16), nullable=False, comment="new, edited, deleted, restored"),
    Column("channel_id", BigInteger, ForeignKey("channels.id"), nullable=False),
    Column("message_id", Integer),
    Column("version", Integer, comment="post version the event refers to"),
    Column("occurred_at", UTCDateTime, nullable=False, comment="when it happened on Telegram"),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("source", String(16), nullable=False, comment="import, backfill, live, reconcile"),
    Column("details", JSONType),
    Index(None, "channel_id", "message_id"),
    Index(None, "kind", "occurred_at"),  # `dozor events`: one kind, newest first
    sqlite_autoincrement=True,
)

post_metrics = Table(
    "post_metrics",
    metadata,
    Column("id", SeqType, primary_key=True),
    Column("channel_id", BigInteger, nullable=False),
    Column("message_id", Integer, nullable=False),
    Column("sampled_at", UTCDateTime, nullable=False),
    Column("views", Integer),
    Column("forwards", Integer),
    Column("replies", Integer),
    Column("reactions", JSONType),
    Column(
        "rounded",
        Boolean,
        nullable=False,
        server_default=false(),
        comment="counts as a t.me page showed them: from 1,000 up rounded (23.4K read as 23400)",
    ),
    ForeignKeyConstraint(["channel_id", "message_id"], ["posts.channel_id", "posts.message_id"]),
    Index(None, "channel_id", "message_id", "sampled_at"),
    sqlite_autoincrement=True,
)

sync_state = Table(
    "sync_state",
    metadata,
    Column("channel_id", BigInteger, ForeignKey("channels.id"), primary_key=True),
    Column("oldest_message_id", Integer, comment="backfill has everything from here ..."),
    Column("newest_message_id", Integer, comment="... up to here"),
    Column("backfill_complete", Boolean, nullable=False, default=False),
    Column("last_sync_at", UTCDateTime),
    Column("last_sync_source", String(16)),
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime),
    Column(
        "verified_at", UTCDateTime, comment="when the whole archive was last read from Telegram"
    ),
    Column(
        "not_joined",
        Text,
        comment="why the account is not in the channel: no live updates, new posts are polled",
    ),
    Column(
        "postponed_until",
        UTCDateTime,
        comment="a long flood wait: the channel's work waits until then (past: no wait)",
    ),
    Column(
        "join_retry_at",
        UTCDateTime,
        comment="a refused join is tried again from then on (past: at the next pass)",
    ),
)

imports = Table(
    "imports",
    metadata,
    Column("id", SeqType, primary_key=True),
    Column("channel_id", BigInteger, ForeignKey("channels.id"), nullable=False),
    Column("path", Text, nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("file_format", String(32), nullable=False, comment="desktop-legacy or desktop"),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("new_posts", Integer, nullable=False),
    Column("updated_posts", Integer, nullable=False),
    Column("unchanged_posts", Integer, nullable=False),
    Column("skipped_messages", Integer, nullable=False),
    sqlite_autoincrement=True,
)


post_search = Table(
    "post_search",
    metadata,
    Column(
        "search_key",
        SeqType,
        primary_key=True,
        autoincrement=False,
        comment="date-ordered key: unix seconds * 2**22 + slot; the full-text rowid",
    ),
    Column("channel_id", BigInteger, nullable=False),
    Column("message_id", Integer, nullable=False),
    Column("words", Text, nullable=False, comment="folded tokens, space-separated"),
    Column("stems", Text, nullable=False, comment="stems, aligned with words (~ = Kyrgyz)"),
    Column("facets", Text, nullable=False, comment="filter tokens: ch<id> media photo link ..."),
    ForeignKeyConstraint(["channel_id", "message_id"], ["posts.channel_id", "posts.message_id"]),
    UniqueConstraint("channel_id", "message_id"),
)


rules = Table(
    "rules",
    metadata,
    Column("id", SeqType, primary_key=True),
    Column("name", Text, nullable=False),
    Column("query", Text, nullable=False, comment="in the query language (docs/QUERY.md)"),
    Column(
        "events",
        String(32),
        nullable=False,
        default="new,edited",
        comment="comma-separated: new, edited, deleted",
    ),
    Column("chat_id", BigInteger, nullable=False, comment="where alerts go (team chat or a user)"),
    Column("owner_id", BigInteger, comment="Telegram user who made it; none for team rules"),
    Column(
        "mode",
        String(16),
        nullable=False,
        default="instant",
        comment="instant, silent, digest_hourly, digest_daily",
    ),
    Column(
        "status", String(16), nullable=False, default="active", comment="active, paused, removed"
    ),
    Column("origin", String(16), nullable=False, comment="config, cli, bot"),
    Column(
        "alert_from",
        UTCDateTime,
        nullable=False,
        comment="events that happened before this time never alert (no history flood)",
    ),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    sqlite_autoincrement=True,
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", SeqType, primary_key=True),
    Column("rule_id", BigInteger, ForeignKey("rules.id"), nullable=False),
    Column("chat_id", BigInteger, nullable=False),
    Column("channel_id", BigInteger, nullable=False),
    Column("message_id", Integer, nullable=False),
    Column("version", Integer, nullable=False, comment="post version the alert is about"),
    Column("event_kind", String(16), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column(
        "status",
        String(16),
        nullable=False,
        default="pending",
        comment="pending, sending, sent, failed, dropped",
    ),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("telegram_message_id", BigInteger),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("claimed_at", UTCDateTime, comment="when a delivery worker took it (status sending)"),
    ForeignKeyConstraint(["channel_id", "message_id"], ["posts.channel_id", "posts.message_id"]),
    UniqueConstraint("rule_id", "chat_id", "channel_id", "message_id", "version", "event_kind"),
    Index(None, "status", "chat_id"),
    sqlite_autoincrement=True,
)

consumer_cursors = Table(
    "consumer_cursors",
    metadata,
    Column("name", String(32), primary_key=True, comment="who reads the change feed"),
    Column("seq", BigInteger, nullable=False, comment="last event seq fully processed"),
    Column("updated_at", UTCDateTime, nullable=False),
)


media_files = Table(
    "media_files",
    metadata,
    Column("sha256", String(64), primary_key=True, comment="content address of the file"),
    Column("size", BigInteger, nullable=False),
    Column("mime_type", String(128)),
    Column("path", Text, nullable=False, comment="relative to archiver.media_dir"),
    Column("first_seen_at", UTCDateTime, nullable=False),
)


channel_requests = Table(
    "channel_requests",
    metadata,
    Column("id", SeqType, primary_key=True),
    Column("ref", Text, nullable=False, comment="what the user typed: @name, t.me link..."),
    Column("requested_by", BigInteger, comment="Telegram user id (bot) or none (CLI)"),
    Column("chat_id", BigInteger, comment="where to report the outcome"),
    Column(
        "status",
        String(16),
        nullable=False,
        server_default="pending",
        comment="pending, done, failed",
    ),
    Column("detail", Text, comment="the channel followed, or why not"),
    Column("channel_id", BigInteger),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime),
    Column("reported_at", UTCDateTime, comment="when the outcome reached the requester"),
    Index(None, "status"),
)


def row_dict(row: Any) -> dict[str, Any]:
    """A result row as a plain dict."""
    return dict(row._mapping)


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic autogenerate filter: ignore tables the metadata does not model.

    The full-text machinery is created by hand-written, backend-specific migration steps and
    not described here: SQLite's FTS5 table ``post_search_fts`` (and its shadow tables),
    PostgreSQL's generated ``post_search.document`` tsvector and its GIN index.
    """
    if not reflected or compare_to is not None or name is None:
        return True
    if type_ == "table":
        return not name.startswith("post_search_fts")
    if type_ == "column":
        return name != "document"  # PostgreSQL's generated tsvector of post_search
    if type_ == "index":
        return not name.startswith("ix_post_search_document")
    return True


database_facts = Table(
    "database_facts",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    comment="facts about the database itself, e.g. which text analysis built the search index",
)
