"""Replies survive Telegram's flood control: a 429 waits ``retry_after`` and tries again.

Used on the Bot that answers commands. Alert delivery has its own retry loop (it records each
attempt on the alert), so it talks through a Bot without this middleware.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)


class RetryMiddleware(BaseRequestMiddleware):
    def __init__(
        self,
        *,
        attempts: int = 5,
        max_wait: float = 60.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.attempts = attempts
        self.max_wait = max_wait
        self.sleep = sleep

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        polling = isinstance(method, GetUpdates)  # polling has its own backoff
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if polling or attempt == self.attempts or exc.retry_after > self.max_wait:
                    raise
                log.info("%s: Telegram asks to wait %s s", method.__api_method__, exc.retry_after)
                await self.sleep(exc.retry_after)
            except TelegramServerError:
                if polling or attempt == self.attempts:
                    raise
                await self.sleep(min(2.0**attempt, self.max_wait))
        raise AssertionError("unreachable: the last attempt returns or raises")
