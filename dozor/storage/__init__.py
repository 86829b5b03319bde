"""Reading and writing the archive. Every function takes the caller's session and never commits."""

from dozor.storage.channels import (
    ChannelSummary,
    list_channels,
    record_sync,
    resolve_channel,
    upsert_channel,
)
from dozor.storage.posts import StoreOutcome, mark_deleted, store_posts
from dozor.storage.stats import ArchiveStats, archive_stats

__all__ = [
    "ArchiveStats",
    "ChannelSummary",
    "StoreOutcome",
    "archive_stats",
    "list_channels",
    "mark_deleted",
    "record_sync",
    "resolve_channel",
    "store_posts",
    "upsert_channel",
]
