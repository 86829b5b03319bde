"""One aiogram Router per command module, made fresh for each Dispatcher."""

from aiogram import Router

from bot.handlers import (
    channels,
    errors,
    events,
    export,
    fallback,
    membership,
    post,
    rules,
    search,
    start,
)


def routers() -> list[Router]:
    modules = (start, search, post, events, rules, channels, export, membership, fallback, errors)
    return [module.router() for module in modules]
