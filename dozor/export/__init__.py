"""Exports: posts selected by channel, date and query, written as JSON Lines or CSV."""

from dozor.export.select import ExportFilter, iter_posts
from dozor.export.writers import FORMATS, ExportWriter, writer_for

__all__ = ["FORMATS", "ExportFilter", "ExportWriter", "iter_posts", "writer_for"]
