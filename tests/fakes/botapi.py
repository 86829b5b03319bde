"""A small local Bot API server for bot tests: the real aiogram client talks to it over HTTP.

It serves the methods dozor's bot uses, records every request, queues updates for long polling,
and injects faults: 429 with ``retry_after``, 5xx, and 403 for chats that blocked the bot.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import time
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import BodyPartReader, web

BOT_ID = 4242


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    status: int = 200  # what the fake answered
    result: Any = None  # what it answered with (a Message for sendMessage...)

    @property
    def text(self) -> str:
        """The text as the user sees it (tags parsed away), or as sent if refused."""
        if isinstance(self.result, dict) and "text" in self.result:
            return str(self.result["text"])
        return str(self.params.get("text") or self.params.get("caption") or "")


class FakeBotAPI:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.faults: dict[str, deque[tuple[int, int]]] = {}  # method -> (status, retry_after)
        self.blocked: set[int] = set()
        self.moved: dict[int, int] = {}  # groups upgraded to supergroups: old id -> new id
        self.unknown_chats: set[int] = set()  # getChat answers "chat not found"
        # (chat, message) -> (text, buttons) as last sent: an identical edit is refused
        self.contents: dict[tuple[int, int], tuple[str, Any]] = {}
        self.crash_after_accepting: int | None = None  # chat id: accept, then drop the reply
        self._message_ids = itertools.count(100)
        self._update_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.token: str | None = None  # when set, other tokens get 401 Unauthorized
        self.refused: list[str] = []  # methods called with another token

    # --- server ----------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle)
        # A long poll whose client has gone is cancelled, not waited for at shutdown.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"].lower()
        if self.token is not None and request.match_info["token"] != self.token:
            self.refused.append(method)
            return _error(401, "Unauthorized")
        params, files = await _read_form(request)
        call = Call(method, params, files)
        self.calls.append(call)
        fault = (
            self._fault(method, params) or self._checked(params) or self._unchanged(method, params)
        )
        if fault is not None:
            call.status = fault.status
            return fault
        answer = getattr(self, f"_m_{method}", None)
        if answer is None:
            return _error(404, f"Not Found: method {method} is not in the fake")
        result = await answer(params, files)
        call.result = result
        if self.crash_after_accepting is not None and params.get("chat_id") == str(
            self.crash_after_accepting
        ):
            self.crash_after_accepting = None
            raise ConnectionResetError("the bot process died before reading the reply")
        return web.json_response({"ok": True, "result": result})

    def _fault(self, method: str, params: dict[str, Any]) -> web.Response | None:
        queue = self.faults.get(method)
        if queue:
            status, retry_after = queue.popleft()
            if status == 429:
                return _error(
                    429,
                    f"Too Many Requests: retry after {retry_after}",
                    {"retry_after": retry_after},
                )
            return _error(status, "Internal Server Error")
        chat = params.get("chat_id")
        if chat is not None and int(chat) in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if chat is not None and int(chat) in self.unknown_chats:
            return _error(400, "Bad Request: chat not found")
        if chat is not None and int(chat) in self.moved:
            return _error(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self.moved[int(chat)]},
            )
        return None

    def fail(self, method: str, *faults: tuple[int, int]) -> None:
        """The next calls of *method* fail: (429, retry_after) or (500, 0)..."""
        self.faults.setdefault(method.lower(), deque()).extend(faults)

    # --- methods ---------------------------------------------------------------------

    async def _m_getme(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return {"id": BOT_ID, "is_bot": True, "first_name": "dozor", "username": "dozor_bot"}

    async def _m_getchatmembercount(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return 3

    async def _m_deletewebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _m_setwebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _m_setmycommands(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _m_getupdates(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        timeout = float(params.get("timeout") or 0)
        offset = int(params.get("offset") or 0)
        updates: list[dict[str, Any]] = []
        try:
            first = await asyncio.wait_for(self.updates.get(), timeout=timeout or 0.01)
            updates.append(first)
            while not self.updates.empty():
                updates.append(self.updates.get_nowait())
        except TimeoutError:
            pass
        return [u for u in updates if u["update_id"] >= offset]

    async def _m_sendmessage(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return self._message(params, text=params.get("text", ""))

    def _checked(self, params: dict[str, Any]) -> web.Response | None:
        """Telegram's own checks on a message text in HTML mode."""
        text = params.get("text", params.get("caption"))
        if text is None or params.get("parse_mode") != "HTML":
            return None
        problem = html_problem(text)
        if problem:
            return _error(400, f"Bad Request: can't parse entities: {problem}")
        if visible_length(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        return None

    def _unchanged(self, method: str, params: dict[str, Any]) -> web.Response | None:
        """Telegram refuses an edit that changes neither the text nor the buttons."""
        if method != "editmessagetext":
            return None
        key = (int(params["chat_id"]), int(params.get("message_id", 0)))
        if self.contents.get(key) == (params.get("text", ""), params.get("reply_markup")):
            return _error(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        return None

    async def _m_editmessagetext(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return self._message(
            params, text=params.get("text", ""), message_id=int(params.get("message_id", 0))
        )

    async def _m_answercallbackquery(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _m_senddocument(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        name, content = next(iter(files.items())) if files else ("file", b"")
        message = self._message(params, text=params.get("caption", ""))
        message["document"] = {
            "file_id": f"doc{len(self.calls)}",
            "file_unique_id": "u",
            "file_name": name,
            "file_size": len(content),
        }
        return message

    def _message(
        self, params: dict[str, Any], *, text: str, message_id: int | None = None
    ) -> dict[str, Any]:
        """The Message Telegram answers with: its text as parsed (tags gone, entities kept
        out of this fake), its buttons."""
        chat_id = int(params["chat_id"])
        if params.get("parse_mode") == "HTML":
            text = html.unescape(re.sub(r"<[^>]+>", "", text))
        message_id = message_id or next(self._message_ids)
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "text": text,
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self.contents[(chat_id, message_id)] = (
            params.get("text", ""),
            params.get("reply_markup"),
        )
        return message

    # --- what tests look at ----------------------------------------------------------

    def sent(self, method: str = "sendmessage", chat_id: int | None = None) -> list[Call]:
        """Calls of *method* (to *chat_id*) that the fake accepted."""
        return [c for c in self.tried(method, chat_id) if c.status == 200]

    def tried(self, method: str = "sendmessage", chat_id: int | None = None) -> list[Call]:
        """Every call of *method* (to *chat_id*), accepted or not."""
        return [
            c
            for c in self.calls
            if c.method == method and (chat_id is None or c.params.get("chat_id") == str(chat_id))
        ]

    async def wait_for(
        self,
        method: str = "sendmessage",
        chat_id: int | None = None,
        count: int = 1,
        seconds: float = 5,
    ) -> list[Call]:
        """The accepted calls of *method* (to *chat_id*) once there are *count* of them (within
        *seconds*)."""
        async with asyncio.timeout(seconds):
            while len(found := self.sent(method, chat_id)) < count:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        return found

    # --- updates ---------------------------------------------------------------------

    def message(
        self, user_id: int, text: str, *, chat_id: int | None = None, chat_type: str = "private"
    ) -> dict[str, Any]:
        """Queue a message from *user_id* (in a private chat unless *chat_id* says otherwise)."""
        chat = chat_id if chat_id is not None else user_id
        update = {
            "update_id": next(self._update_ids),
            "message": {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": chat, "type": chat_type},
                "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
                "text": text,
                **(
                    {
                        "entities": [
                            {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
                        ]
                    }
                    if text.startswith("/")
                    else {}
                ),
            },
        }
        self.updates.put_nowait(update)
        return update

    def bot_membership(
        self, user_id: int, chat_id: int, status: str, *, chat_type: str = "supergroup"
    ) -> dict[str, Any]:
        """Queue the news that *user_id* changed the bot's membership of *chat_id*: "member"
        (added), "left" (removed), "kicked" (a user blocked it)."""
        bot = {"id": BOT_ID, "is_bot": True, "first_name": "dozor"}
        old = "left" if status == "member" else "member"
        update = {
            "update_id": next(self._update_ids),
            "my_chat_member": {
                "chat": {"id": chat_id, "type": chat_type, "title": "Команда"},
                "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
                "date": int(time.time()),
                "old_chat_member": {"status": old, "user": bot},
                "new_chat_member": {"status": status, "user": bot},
            },
        }
        self.updates.put_nowait(update)
        return update

    def callback(self, user_id: int, data: str, message: dict[str, Any]) -> dict[str, Any]:
        """Queue a press of an inline button on *message* (a result of sendMessage)."""
        update = {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": str(next(self._update_ids)),
                "chat_instance": "c",
                "data": data,
                "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
                "message": {
                    **message,
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "dozor"},
                },
            },
        }
        self.updates.put_nowait(update)
        return update


async def _read_form(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    params: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename:
                files[part.filename] = bytes(await part.read())
            else:
                params[part.name] = await part.text()
    elif request.can_read_body:
        params = dict(await request.post())
    for key in ("reply_markup", "entities", "allowed_updates", "link_preview_options"):
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    return params, files


TELEGRAM_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-spoiler",
    "span",
    "tg-emoji",
}


class _TelegramHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problem: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.problem = self.problem or f'unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problem = self.problem or f'unmatched end tag "{tag}"'
        else:
            self.stack.pop()


_BARE_AMPERSAND = re.compile(r"&(?!(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);)")
_BARE_LESS_THAN = re.compile(r"<(?![a-zA-Z/])")


def html_problem(text: str) -> str | None:
    if _BARE_AMPERSAND.search(text):
        return "unescaped &"
    if _BARE_LESS_THAN.search(text):
        return "unescaped <"
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.stack:
        return parser.problem or f'unclosed tag "{parser.stack[-1]}"'
    return parser.problem


def visible_length(text: str) -> int:
    return len(html.unescape(re.sub(r"<[^>]+>", "", text)))


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)
