"""The Telethon side of dozor: mirrors channels into the archive (see dozor.storage).

Only :mod:`archiver.convert` looks inside Telethon's TL objects; everything else here deals in
dozor's own records.
"""
