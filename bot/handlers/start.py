"""/start and /help: what the bot does, the query language in short, examples."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot.access import Role

HELP = """<b>dozor</b> archives Telegram channels and alerts the team
when posts appear, change or vanish.

<b>Search</b>
/search <i>query</i> — newest first, 5 per page
/post <i>link</i> — every version of a post, its deletion, its views
/export <i>query or channel</i> [jsonl|csv|desktop|html] — the posts as a file

<b>Alerts</b>
/subscribe <i>query</i> — alert me about matching posts
/rules — my rules: pause, resume, delete, events, mode
/unsubscribe <i>N</i> — delete my rule #N

<b>Archive</b>
/channels — archived channels
/changes <i>channel</i> — its renames, pins, labels, purges…
/events [<i>channel</i>] — the latest edits and deletions of posts
/status — archiver health and alert queue

<b>Query language</b>
<code>мигрант</code> — every word form (мигранты, мигрантов…), any case, ё = е
<code>"уголовное дело"</code> — a phrase
<code>=мигрант</code> — this exact form only · <code>мигра*</code> — prefix
<code>a b</code> both · <code>a OR b</code> either · <code>-a</code> without
<code>channel:mvd_official_kg</code> <code>after:2024-11-01</code> <code>before:…</code>
<code>has:photo</code> <code>is:edited</code> <code>is:deleted</code> <code>/задерж\\w+/i</code>

<b>Examples</b>
<code>/search мигрант channel:mediamvd after:2024-01-01</code>
<code>/subscribe "уголовное дело" OR кармалды</code>"""

ADMIN_HELP = """

<b>Admins</b>
/teamrules — team rules (alerts to the team chat); /teamrules add <i>query</i>
/addchannel <i>@name, t.me link or invite link</i> — archive a channel
/removechannel <i>name</i> — stop following"""


async def help_command(message: Message, role: Role) -> None:
    await message.answer(HELP + (ADMIN_HELP if role == "admin" else ""))


def router() -> Router:
    """This module's handlers on a fresh Router (a Router joins one Dispatcher only)."""
    routes = Router(name="start")
    routes.message.register(help_command, CommandStart())
    routes.message.register(help_command, Command("help"))
    return routes
