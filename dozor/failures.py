"""Failures of the system under dozor, told apart from bugs.

A full disk, a database another program keeps locked, a PostgreSQL server that went away, a
damaged database file, an unwritable folder: none is the user's mistake nor dozor's bug, and
none is helped by a traceback. :func:`system_failure` says in one line what failed, so the CLI
can print it and exit with 1, a service can log it on one line and retry, and the bot can tell
the team. Anything it does not recognise is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError

SQLITE_CORRUPT = 11
DAMAGED_ADVICE = (
    "restore a backup, or rescue what the file holds with `sqlite3 FILE .recover | sqlite3 NEW`"
)
# SQLite's primary result codes (https://sqlite.org/rescode.html) that mean its surroundings
# failed. Codes such as SQLITE_ERROR ("no such column") are left out: they mean a bug.
_SQLITE = {
    3: "SQLite was denied access to the database file",  # SQLITE_PERM
    5: "another program kept the database locked for longer than database.busy_timeout_ms",
    7: "SQLite ran out of memory",  # SQLITE_NOMEM
    8: "the database is read-only",  # SQLITE_READONLY
    10: "a disk I/O error",  # SQLITE_IOERR
    SQLITE_CORRUPT: "the database file is damaged",
    13: "the disk is full",  # SQLITE_FULL
    14: "the database file cannot be opened",  # SQLITE_CANTOPEN
    26: "the file is not a SQLite database",  # SQLITE_NOTADB
}
# PostgreSQL SQLSTATE codes and classes (the first two characters) of the same kind; a code is
# looked up before its class.
_POSTGRES = {
    "53100": "the PostgreSQL server's disk is full",
    "53200": "the PostgreSQL server is out of memory",
    "53300": "the PostgreSQL server has too many connections",
    "25006": "the PostgreSQL database is read-only (a standby, or default_transaction_read_only)",
    "57014": "PostgreSQL cancelled the statement (a statement_timeout?)",
    "08": "the connection to PostgreSQL failed",
    "40": "a concurrent transaction got in the way (a deadlock or serialization failure)",
    "53": "the PostgreSQL server is out of resources",
    "57": "the PostgreSQL server is shutting down or restarting",
    "58": "the PostgreSQL server had a system error",
    "XX": "the PostgreSQL server reports damaged data",
}


def system_failure(exc: BaseException) -> str | None:
    """What failed, in one line, when *exc* is the system under dozor failing; None for
    anything else."""
    if isinstance(exc, DBAPIError):
        what = database_failure(exc)
        return None if what is None else f"the database failed: {what}"
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"the system failed: {exc.strerror or first_line(exc)}{where}"
    return None


def log_failure(logger: logging.Logger, exc: BaseException, message: str, *args: object) -> None:
    """Log *message* for *exc*: on one line for a system failure (a service retrying against
    a full disk must not fill its log with tracebacks; its traceback is logged at DEBUG), with
    the traceback for a bug."""
    failure = system_failure(exc)
    if failure is None:
        logger.error(message, *args, exc_info=exc)
    else:
        logger.error(message + ": %s", *args, failure)
        logger.debug("where it failed", exc_info=exc)  # [logging] level = "DEBUG" shows it


def database_failure(exc: DBAPIError) -> str | None:
    """What failed under the database, with the driver's own words (and what to do about a
    damaged file); None for a bug."""
    what = _what_failed(exc)
    if what is None:
        return None
    damaged = (getattr(exc.orig, "sqlite_errorcode", None) or 0) & 0xFF == SQLITE_CORRUPT
    return f"{what} ({first_line(exc.orig)})" + (f"; {DAMAGED_ADVICE}" if damaged else "")


def _what_failed(exc: DBAPIError) -> str | None:
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return _SQLITE.get(code & 0xFF)
    state = getattr(exc.orig, "sqlstate", None)
    if isinstance(state, str) and (state in _POSTGRES or state[:2] in _POSTGRES):
        return _POSTGRES.get(state) or _POSTGRES[state[:2]]
    if exc.connection_invalidated:
        return "the connection to the database was lost"
    return None


def first_line(exc: BaseException | None) -> str:
    """The first line of an exception's message (its type's name if it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
