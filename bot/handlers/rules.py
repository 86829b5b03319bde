"""Alert rules from the chat: /subscribe, /rules, /unsubscribe, and /teamrules for admins.

Every rule has a card (its query, events, mode, status) with inline buttons; the button data
is ``r:<id>:<action>`` and every press re-checks that the presser may change that rule:
personal rules belong to their owner, team rules to the admins, and rules from config.toml
are changed only there (the next sync would undo a change made here).
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    User,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot.access import Role, Team
from bot.edits import edit
from bot.render import esc
from bot.settings import BotSettings
from dozor.config import EVENT_KINDS, RULE_MODES
from dozor.errors import UserError
from dozor.ids import is_digits
from dozor.rules.store import (
    ACTIVE,
    PAUSED,
    REMOVED,
    Rule,
    add_rule,
    get_rule,
    list_rules,
    unknown_channels,
    update_rule,
)
from dozor.storage.channels import channel_rows

MODE_LABELS = {
    "instant": "instant",
    "silent": "silent",
    "digest_hourly": "hourly digest",
    "digest_daily": "daily digest",
}
MODE_BUTTONS = {"instant": "🔔", "silent": "🔕", "digest_hourly": "1h", "digest_daily": "1d"}
MAX_LISTED = 30


# --- commands ------------------------------------------------------------------------


async def subscribe(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: BotSettings,
    event_from_user: User,
) -> None:
    query = (command.args or "").strip()
    if not query:
        await message.answer("Usage: /subscribe <i>query</i> — see /help for the query language")
        return
    rule = await _create(
        session, settings, query, chat_id=event_from_user.id, owner=event_from_user.id
    )
    warning = await _unknown_channel_note(session, query)
    await session.commit()
    where = (
        "this chat"
        if message.chat.type == "private"
        else "your private chat with me (open it and press Start if you have not)"
    )
    await message.answer(
        f"✅ Subscribed. Alerts come to {where}.\n\n" + card(rule) + warning,
        reply_markup=card_buttons(rule),
    )


async def my_rules(message: Message, session: AsyncSession, event_from_user: User) -> None:
    owned = await list_rules(session, owner_id=event_from_user.id)
    text, keyboard = rule_list(owned, team=False)
    await message.answer(text, reply_markup=keyboard)


async def unsubscribe(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: BotSettings,
    role: Role,
    event_from_user: User,
) -> None:
    number = (command.args or "").strip().lstrip("#")
    if not is_digits(number):
        await message.answer("Usage: /unsubscribe <i>N</i> — the rule number shown by /rules")
        return
    rule = await _changeable(session, int(number), event_from_user, role)
    await update_rule(session, rule.id, now=settings.now(), status=REMOVED)
    await session.commit()
    await message.answer(f"🗑 Rule #{rule.id} <b>{esc(rule.name)}</b> deleted.")


async def team_rules(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    settings: BotSettings,
    role: Role,
    team: Team,
) -> None:
    if role != "admin":
        await message.answer("Only admins manage team rules.")
        return
    args = (command.args or "").strip()
    if args.split(maxsplit=1)[:1] == ["add"]:
        await _add_team_rule(message, session, settings, team, args[3:].strip())
        return
    text, keyboard = rule_list(await list_rules(session, team_only=True), team=True)
    await message.answer(text, reply_markup=keyboard)


async def _add_team_rule(
    message: Message, session: AsyncSession, settings: BotSettings, team: Team, query: str
) -> None:
    """A rule alerting the team chat: where the running bot serves it (a group that became a
    supergroup while the bot ran is served at its new id)."""
    if team.chat_id is None:
        raise UserError("bot.team_chat_id is not set in the config: team alerts have nowhere to go")
    if not query:
        await message.answer("Usage: /teamrules add <i>query</i>")
        return
    rule = await _create(session, settings, query, chat_id=team.chat_id, owner=None)
    warning = await _unknown_channel_note(session, query)
    await session.commit()
    await message.answer(
        "✅ Team rule added; alerts go to the team chat.\n\n" + card(rule) + warning,
        reply_markup=card_buttons(rule),
    )


async def _create(
    session: AsyncSession, settings: BotSettings, query: str, *, chat_id: int, owner: int | None
) -> Rule:
    return await add_rule(
        session,
        name=query if len(query) <= 60 else query[:59] + "…",
        query=query,
        chat_id=chat_id,
        now=settings.now(),
        history=settings.history,
        origin="bot",
        owner_id=owner,
    )


async def _unknown_channel_note(session: AsyncSession, query: str) -> str:
    rows = await channel_rows(session)
    unknown = unknown_channels(query, rows)
    if not unknown:
        return ""
    names = ", ".join(f"channel:{esc(ref)}" for ref in unknown)
    return f"\n\n⚠️ {names} matches no archived channel yet: no alerts until it is archived."


# --- buttons -------------------------------------------------------------------------


async def rule_button(
    callback: CallbackQuery,
    session: AsyncSession,
    settings: BotSettings,
    role: Role,
    event_from_user: User,
) -> None:
    parts = (callback.data or "").split(":", 3)
    if len(parts) < 3 or not is_digits(parts[1]):
        await callback.answer("Unknown button.")
        return
    rule = await _changeable(
        session, int(parts[1]), event_from_user, role, reading=parts[2] == "show"
    )
    note, rule = await _apply(session, settings, rule, parts[2], parts[3] if len(parts) > 3 else "")
    await session.commit()
    if isinstance(callback.message, Message):
        text = card(rule) if rule.status != REMOVED else f"🗑 Rule #{rule.id} deleted."
        keyboard = card_buttons(rule) if rule.status != REMOVED else None
        await edit(callback.message, text, keyboard)
    await callback.answer(note)


async def list_button(
    callback: CallbackQuery, session: AsyncSession, role: Role, event_from_user: User
) -> None:
    team = callback.data == "rl:team"
    if team and role != "admin":
        await callback.answer("Only admins manage team rules.", show_alert=True)
        return
    found = (
        await list_rules(session, team_only=True)
        if team
        else await list_rules(session, owner_id=event_from_user.id)
    )
    text, keyboard = rule_list(found, team=team)
    if isinstance(callback.message, Message):
        await edit(callback.message, text, keyboard)
    await callback.answer()


async def _apply(
    session: AsyncSession, settings: BotSettings, rule: Rule, action: str, value: str
) -> tuple[str | None, Rule]:
    now = settings.now()
    if action == "show":
        return None, rule
    if action in ("pause", "resume"):
        status = PAUSED if action == "pause" else ACTIVE
        return f"Rule {action}d.", await update_rule(session, rule.id, now=now, status=status)
    if action == "del":
        return "Rule deleted.", await update_rule(session, rule.id, now=now, status=REMOVED)
    if action == "mode" and value in RULE_MODES:
        return f"Mode: {MODE_LABELS[value]}.", await update_rule(
            session, rule.id, now=now, mode=value
        )
    if action == "ev" and value in EVENT_KINDS:
        wanted = set(rule.events) ^ {value}
        if not wanted:
            return "A rule needs at least one kind of event.", rule
        return None, await update_rule(session, rule.id, now=now, events=sorted(wanted))
    return "Unknown button.", rule


async def _changeable(
    session: AsyncSession, rule_id: int, user: User, role: Role, *, reading: bool = False
) -> Rule:
    """The rule, if *user* may see (and unless *reading*, change) it; UserError otherwise."""
    try:
        rule = await get_rule(session, rule_id)
    except UserError:
        raise UserError(f"you have no rule #{rule_id}") from None
    mine = rule.owner_id == user.id
    team = rule.owner_id is None and role == "admin"
    if rule.status == REMOVED or not (mine or team):
        raise UserError(f"you have no rule #{rule_id}")
    if rule.origin == "config" and not reading:
        raise UserError(f"rule #{rule_id} is defined in config.toml; change it there")
    return rule


# --- rendering -----------------------------------------------------------------------


def card(rule: Rule) -> str:
    status = "active" if rule.status == ACTIVE else "⏸ paused"
    source = " · from config.toml" if rule.origin == "config" else ""
    return (
        f"<b>#{rule.id} {esc(rule.name)}</b>{source}\n"
        f"query: <code>{esc(rule.query)}</code>\n"
        f"events: {', '.join(rule.events)}\n"
        f"mode: {MODE_LABELS.get(rule.mode, rule.mode)} · {status}"
    )


def card_buttons(rule: Rule) -> InlineKeyboardMarkup:
    if rule.origin == "config":
        return InlineKeyboardMarkup(inline_keyboard=[[_back(rule)]])
    events = [
        InlineKeyboardButton(
            text=("✅ " if kind in rule.events else "▫️ ") + kind,
            callback_data=f"r:{rule.id}:ev:{kind}",
        )
        for kind in EVENT_KINDS
    ]
    modes = [
        InlineKeyboardButton(
            text=("● " if mode == rule.mode else "") + MODE_BUTTONS[mode],
            callback_data=f"r:{rule.id}:mode:{mode}",
        )
        for mode in RULE_MODES
    ]
    toggle = "resume" if rule.status == PAUSED else "pause"
    actions = [
        InlineKeyboardButton(
            text="▶ resume" if toggle == "resume" else "⏸ pause",
            callback_data=f"r:{rule.id}:{toggle}",
        ),
        InlineKeyboardButton(text="🗑 delete", callback_data=f"r:{rule.id}:del"),
        _back(rule),
    ]
    return InlineKeyboardMarkup(inline_keyboard=[events, modes, actions])


def _back(rule: Rule) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text="« all rules", callback_data="rl:team" if rule.owner_id is None else "rl:mine"
    )


def rule_list(found: list[Rule], *, team: bool) -> tuple[str, InlineKeyboardMarkup | None]:
    title = "Team rules (alerts to the team chat)" if team else "Your rules"
    if not found:
        hint = "/teamrules add <i>query</i>" if team else "/subscribe <i>query</i>"
        return f"<b>{title}</b>\nNone yet. Add one with {hint}.", None
    lines = [f"<b>{title}</b>"]
    for rule in found[:MAX_LISTED]:
        paused = " · ⏸ paused" if rule.status == PAUSED else ""
        lines.append(
            f"#{rule.id} {esc(rule.name)} · {MODE_LABELS.get(rule.mode, rule.mode)}{paused}"
        )
    if len(found) > MAX_LISTED:
        lines.append(f"… and {len(found) - MAX_LISTED} more")
    lines.append("\nTap a rule to change it.")
    buttons = [
        [InlineKeyboardButton(text=f"⚙ #{r.id} {r.name[:40]}", callback_data=f"r:{r.id}:show")]
        for r in found[:MAX_LISTED]
    ]
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=buttons)


def router() -> Router:
    """This module's handlers on a fresh Router (a Router joins one Dispatcher only)."""
    routes = Router(name="rules")
    routes.message.register(subscribe, Command("subscribe"))
    routes.message.register(my_rules, Command("rules"))
    routes.message.register(unsubscribe, Command("unsubscribe"))
    routes.message.register(team_rules, Command("teamrules"))
    routes.callback_query.register(rule_button, F.data.startswith("r:"))
    routes.callback_query.register(list_button, F.data.in_({"rl:mine", "rl:team"}))
    return routes
