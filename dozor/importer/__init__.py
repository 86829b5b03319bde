"""Import of Telegram Desktop "Export chat history" JSON exports and of saved t.me/s pages."""

from dozor.importer.desktop import DesktopExport, read_export
from dozor.importer.run import ImportReport, import_desktop_export

__all__ = ["DesktopExport", "ImportReport", "import_desktop_export", "read_export"]
