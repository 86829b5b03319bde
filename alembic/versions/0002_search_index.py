"""Full-text search index over normalized post text.

``post_search`` holds, per searchable post, its folded words, stems and filter facets, keyed by
a date-ordered ``search_key``. SQLite indexes it with an external-content FTS5 table kept in
step by triggers; PostgreSQL with a generated tsvector (``w:`` words, ``s:`` stems, ``f:``
facets, positions kept for phrases) under a GIN index.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Must equal dozor.text.normalize.TOKEN_CHARS: FTS5 then splits stored text where dozor did.
TOKEN_CHARS = "#@._/:%~+-,"

SQLITE_FTS = f"""
CREATE VIRTUAL TABLE post_search_fts USING fts5(
    words, stems, facets,
    content='post_search', content_rowid='search_key',
    prefix='3 4',
    tokenize="unicode61 remove_diacritics 0 tokenchars '{TOKEN_CHARS}'"
)
"""
SQLITE_TRIGGERS = (
    """CREATE TRIGGER post_search_ai AFTER INSERT ON post_search BEGIN
        INSERT INTO post_search_fts(rowid, words, stems, facets)
        VALUES (new.search_key, new.words, new.stems, new.facets);
    END""",
    """CREATE TRIGGER post_search_ad AFTER DELETE ON post_search BEGIN
        INSERT INTO post_search_fts(post_search_fts, rowid, words, stems, facets)
        VALUES ('delete', old.search_key, old.words, old.stems, old.facets);
    END""",
    """CREATE TRIGGER post_search_au AFTER UPDATE ON post_search BEGIN
        INSERT INTO post_search_fts(post_search_fts, rowid, words, stems, facets)
        VALUES ('delete', old.search_key, old.words, old.stems, old.facets);
        INSERT INTO post_search_fts(rowid, words, stems, facets)
        VALUES (new.search_key, new.words, new.stems, new.facets);
    END""",
)
POSTGRES_FUNCTION = """
CREATE FUNCTION dozor_tsvector(words text, stems text, facets text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(format('%L', x.p || x.t) || ':' || least(x.i, 16383), ' '), '')
           ::tsvector
    FROM (
        SELECT 'w:' AS p, t, i FROM unnest(string_to_array(words, ' ')) WITH ORDINALITY u(t, i)
        UNION ALL
        SELECT 's:', t, i FROM unnest(string_to_array(stems, ' ')) WITH ORDINALITY u(t, i)
        UNION ALL
        SELECT 'f:', t, i FROM unnest(string_to_array(facets, ' ')) WITH ORDINALITY u(t, i)
    ) AS x
    WHERE x.t <> ''
$$
"""


def upgrade() -> None:
    op.create_table(
        "post_search",
        sa.Column(
            "search_key",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
            comment="date-ordered key: unix seconds * 2**22 + slot; the full-text rowid",
        ),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("words", sa.Text(), nullable=False, comment="folded tokens, space-separated"),
        sa.Column(
            "stems", sa.Text(), nullable=False, comment="stems, aligned with words (~ = Kyrgyz)"
        ),
        sa.Column(
            "facets",
            sa.Text(),
            nullable=False,
            comment="filter tokens: ch<id> media photo link ...",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id", "message_id"],
            ["posts.channel_id", "posts.message_id"],
            name=op.f("fk_post_search_channel_id_message_id_posts"),
        ),
        sa.PrimaryKeyConstraint("search_key", name=op.f("pk_post_search")),
        sa.UniqueConstraint(
            "channel_id", "message_id", name=op.f("uq_post_search_channel_id_message_id")
        ),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(SQLITE_FTS)
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
    else:
        op.execute(POSTGRES_FUNCTION)
        op.execute(
            "ALTER TABLE post_search ADD COLUMN document tsvector "
            "GENERATED ALWAYS AS (dozor_tsvector(words, stems, facets)) STORED"
        )
        op.execute("CREATE INDEX ix_post_search_document ON post_search USING gin (document)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("post_search_ai", "post_search_ad", "post_search_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS post_search_fts")
        op.drop_table("post_search")
    else:
        op.drop_table("post_search")
        op.execute("DROP FUNCTION IF EXISTS dozor_tsvector(text, text, text)")
