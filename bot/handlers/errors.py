"""Errors raised by handlers: a user's mistake is explained, anything else logged and apologised
for — never a traceback in the chat. The update's transaction has already been rolled back."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.types import ErrorEvent

from bot.render import esc
from dozor.errors import QueryError, UserError
from dozor.failures import log_failure, system_failure

log = logging.getLogger(__name__)


def explain(exc: BaseException) -> str:
    if isinstance(exc, QueryError):
        return (
            f"⚠️ Query error at position {exc.position + 1}: {esc(exc.message)}\n"
            f"<pre>{esc(exc.pointer())}</pre>\nSee /help for the query language."
        )
    if isinstance(exc, UserError):
        return f"⚠️ {esc(str(exc))}"
    failure = system_failure(exc)
    if failure is not None:
        return f"⚠️ dozor cannot do that now: {esc(failure)}. Please try again later."
    return "⚠️ Something went wrong on our side; it has been logged. Please try again later."


async def on_error(event: ErrorEvent, bot: Bot) -> None:
    exc = event.exception
    if not isinstance(exc, UserError):
        log_failure(log, exc, "update %s failed", event.update.update_id)
    callback = event.update.callback_query
    if callback is not None:
        short = (
            str(exc)
            if isinstance(exc, UserError)
            else system_failure(exc) or "something went wrong; logged"
        )
        await bot.answer_callback_query(callback.id, text="⚠️ " + short[:190])
        return
    message = event.update.message
    if message is not None:
        await bot.send_message(message.chat.id, explain(exc))


def router() -> Router:
    """This module's handlers on a fresh Router (a Router joins one Dispatcher only)."""
    routes = Router(name="errors")
    routes.errors.register(on_error)
    return routes
