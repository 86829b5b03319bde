"""Import of Telegram Desktop "Export chat history" JSON exports and of saved t.me/s pages."""

from dozor.importer.desktop import DesktopExport, ExportFile, read_export, read_exports
from dozor.importer.run import ImportReport, import_desktop_export, import_export

__all__ = [
    "DesktopExport",
    "ExportFile",
    "ImportReport",
    "import_desktop_export",
    "import_export",
    "read_export",
    "read_exports",
]
