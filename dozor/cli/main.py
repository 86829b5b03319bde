"""Entry point of the `dozor` command."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import click
from sqlalchemy.exc import DBAPIError

from dozor import __version__
from dozor.cli import (
    archive_cmd,
    bot_cmd,
    channels_cmd,
    db_cmd,
    events_cmd,
    export_cmd,
    import_cmd,
    post_cmd,
    rules_cmd,
    run_cmd,
    search_cmd,
    wayback_cmd,
)
from dozor.cli.context import CliState, config_option
from dozor.errors import UserError
from dozor.failures import system_failure

log = logging.getLogger(__name__)


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@config_option
@click.version_option(__version__, prog_name="dozor")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """dozor: archive Telegram channels faithfully and alert your team on what they post.

    Start with `dozor run`; see README.md. Every command accepts --config PATH.
    """
    ctx.ensure_object(CliState)
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


cli.add_command(run_cmd.init)
cli.add_command(run_cmd.run)
cli.add_command(db_cmd.db)
cli.add_command(import_cmd.import_)
cli.add_command(wayback_cmd.wayback)
cli.add_command(channels_cmd.channels)
cli.add_command(channels_cmd.stats)
cli.add_command(search_cmd.search_)
cli.add_command(post_cmd.post_)
cli.add_command(events_cmd.events)
cli.add_command(rules_cmd.rules_group)
cli.add_command(rules_cmd.alerts_group)
cli.add_command(archive_cmd.login)
cli.add_command(archive_cmd.archive)
cli.add_command(archive_cmd.verify)
cli.add_command(archive_cmd.status)
cli.add_command(bot_cmd.bot_command)
cli.add_command(export_cmd.export)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user errors print one line on stderr and return 2, failures of the system
    under dozor (a full disk, a lost database server) one line and 1."""
    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        result = cli.main(args=args, prog_name="dozor", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "dozor"
        message = exc.format_message().rstrip(".")
        return _fail(f"{where}: {message}{_dash_hint(exc, args)} (see --help)")
    except click.ClickException as exc:
        return _fail(f"dozor: {exc.format_message()}")
    except UserError as exc:
        return _fail(f"dozor: {exc}")
    except click.Abort as exc:
        if isinstance(exc.__cause__ or exc.__context__, EOFError):  # click's Abort for an EOF
            return _fail("dozor: the input ended before dozor had what it asked for")
        click.echo("dozor: interrupted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("dozor: interrupted", err=True)
        return 130
    except (DBAPIError, OSError) as exc:
        failure = system_failure(exc)
        if failure is None:
            raise
        log.debug("the system failed", exc_info=exc)
        return _fail(
            f"dozor: {failure}. What was saved before it is kept; run the command again once "
            "that is fixed",
            status=1,
        )
    return result if isinstance(result, int) else 0


def _dash_hint(exc: click.UsageError, args: list[str]) -> str:
    """A query that excludes a word (`-мигрант`) looks like an option to the parser: say how
    to pass it. After ``--`` everything is an argument, options too: say that they go first."""
    if "--" in args and "unexpected extra argument" in exc.format_message():
        extra = args[args.index("--") + 1 :]
        if any(a.startswith("-") for a in extra[1:]):
            return "; options go before --, the query after it"
        return ""
    if not isinstance(exc, click.NoSuchOption) or exc.option_name.startswith("--"):
        return ""
    word = next((a for a in args if a.startswith(exc.option_name) and len(a) > 2), None)
    if word is None:
        return ""
    where = exc.ctx.command_path if exc.ctx else "dozor"
    return (
        f"; to pass '{word}' as a query or value, put it after -- (options first): "
        f"{where} [OPTIONS] -- '{word}'"
    )


def _fail(message: str, status: int = 2) -> int:
    click.echo(" ".join(message.split()), err=True)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
