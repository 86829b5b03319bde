"""Entry point of the `dozor` command."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import click

from dozor import __version__
from dozor.cli import (
    archive_cmd,
    bot_cmd,
    channels_cmd,
    db_cmd,
    export_cmd,
    import_cmd,
    rules_cmd,
    run_cmd,
    search_cmd,
)
from dozor.cli.context import CliState, config_option
from dozor.errors import UserError

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
cli.add_command(channels_cmd.channels)
cli.add_command(channels_cmd.stats)
cli.add_command(search_cmd.search_)
cli.add_command(rules_cmd.rules_group)
cli.add_command(rules_cmd.alerts_group)
cli.add_command(archive_cmd.login)
cli.add_command(archive_cmd.archive)
cli.add_command(archive_cmd.status)
cli.add_command(bot_cmd.bot_command)
cli.add_command(export_cmd.export)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user errors print one line on stderr and return 2."""
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None, prog_name="dozor", standalone_mode=False
        )
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        where = f"dozor {exc.ctx.info_name}" if exc.ctx and exc.ctx.parent else "dozor"
        return _fail(f"{where}: {exc.format_message()} (see --help)")
    except click.ClickException as exc:
        return _fail(f"dozor: {exc.format_message()}")
    except UserError as exc:
        return _fail(f"dozor: {exc}")
    except (click.Abort, KeyboardInterrupt):
        click.echo("dozor: interrupted", err=True)
        return 130
    return result if isinstance(result, int) else 0


def _fail(message: str) -> int:
    click.echo(" ".join(message.split()), err=True)
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
