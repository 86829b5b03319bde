"""Exports: posts selected by channel, date and query, as JSON Lines, CSV, Telegram Desktop
JSON or a static HTML site (see docs/EXPORT.md)."""

from dozor.export.run import FORMATS, ExportReport, run_export
from dozor.export.select import ExportFilter, iter_posts

__all__ = ["FORMATS", "ExportFilter", "ExportReport", "iter_posts", "run_export"]
