"""The exceptions dozor raises on purpose.

Everything a user can cause derives from :class:`UserError`: the CLI prints its message on one
line and exits with status 2. The system under dozor failing (a full disk, a database server
gone away) is recognised by :func:`dozor.failures.system_failure`: one line, status 1. Any
other exception is a bug.

    DozorError
    └── UserError
        ├── ConfigError          bad or missing configuration
        │   └── BotTokenRejected Telegram stopped accepting the bot's token while it ran
        ├── DatabaseNotReady     database missing migrations, or newer than this dozor
        ├── ChannelNotFound      a channel reference that matches no archived channel
        ├── AmbiguousChannel     a title that matches more than one channel
        ├── ImportFormatError    a file that is not a Telegram Desktop channel export
        ├── QueryError           a search or rule query that cannot be parsed
        ├── EmptyExport          an export whose filters leave no posts
        ├── SessionInUse         another dozor process holds the Telegram session
        └── SessionLoggedOut     Telegram logged the archiver's session out while it ran
"""


class DozorError(Exception):
    """Base class of every error dozor raises deliberately."""


class UserError(DozorError):
    """Something the user can fix; reported as one line, exit status 2."""


class ConfigError(UserError):
    """The configuration file or environment is invalid or incomplete."""


class BotTokenRejected(ConfigError):
    """Telegram refused the bot's token (401) after accepting it: revoked or replaced with
    @BotFather while dozor ran."""

    def __init__(self) -> None:
        super().__init__(TOKEN_REJECTED)


TOKEN_REJECTED = (
    "bot.token: Telegram no longer accepts this token (revoked or replaced with @BotFather?); "
    "alerts wait in the archive until dozor runs with a valid one"
)


class DatabaseNotReady(UserError):
    """The database schema is not at the revision this version of dozor needs."""


class ChannelNotFound(UserError):
    """No archived channel matches the given reference."""


class AmbiguousChannel(UserError):
    """A channel reference (usually a title) matches several channels."""


class ImportFormatError(UserError):
    """The file to import is not a usable Telegram Desktop channel export."""


class EmptyExport(UserError):
    """The filters of an export leave no posts: nothing was written."""


class SessionInUse(UserError):
    """Another dozor process (*pid*, as it wrote it) is using the Telegram session."""

    def __init__(self, message: str, pid: str) -> None:
        self.pid = pid
        super().__init__(message)


class QueryError(UserError):
    """A search or rule query that cannot be parsed; *position* is a 0-based character index."""

    def __init__(self, message: str, query: str, position: int) -> None:
        self.message = message
        self.query = query
        self.position = position
        super().__init__(f"query error at position {position + 1}: {message}")

    def pointer(self) -> str:
        """The query with a caret under the offending character (for multi-line displays)."""
        return f"{self.query}\n{' ' * self.position}^"


class SessionLoggedOut(UserError):
    """Telegram answered the archiver's requests with 401: the session was logged out (the
    account ended it from another device, or Telegram did). *reason* is Telegram's word for
    it, such as ``SESSION_REVOKED``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(logged_out_message(reason))


def logged_out_message(reason: str) -> str:
    return (
        f"Telegram logged dozor's session out ({reason}): archiving has stopped; stop dozor, "
        "run `dozor login`, then start it again"
    )
