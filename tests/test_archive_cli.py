"""The archiver's commands end to end, with Telegram replaced by the in-process fake."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from telethon import TelegramClient, errors
from telethon.sessions import MemorySession
from telethon.tl import functions, types

import archiver.client
from archiver.updates import ArchiverClient
from dozor.cli import archive_cmd, run_cmd
from dozor.cli.main import main
from dozor.config import Config, load_config
from dozor.db import missing_sqlite_file
from dozor.errors import ConfigError, UserError
from tests.conftest import DESKTOP
from tests.fakes.botapi import FakeBotAPI
from tests.fakes.telegram import FakeSender, FakeTelegram
from tests.test_cli import simulate_an_older_analyzer

BARE = 1525384822


@pytest.fixture
def telegram(monkeypatch: pytest.MonkeyPatch) -> FakeTelegram:
    fake = FakeTelegram()
    channel = fake.channel(BARE, "mvd_test", "МВД тест")
    fake.post_many(channel, 120)

    def build_client(config: Any) -> ArchiverClient:
        client = ArchiverClient(MemorySession(), 1, "0" * 32, flood_sleep_threshold=0)
        client._sender = _LazySender(fake, client)
        return client

    monkeypatch.setattr(archiver.client, "build_client", build_client)
    return fake


class _LazySender:
    """Creates the FakeSender inside the command's event loop."""

    def __init__(self, telegram: FakeTelegram, client: TelegramClient) -> None:
        self._telegram, self._client = telegram, client
        self._sender: FakeSender | None = None

    def __getattr__(self, name: str) -> Any:
        if self._sender is None:
            self._sender = FakeSender(self._telegram, self._client._updates_queue)
        return getattr(self._sender, name)


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n'
        '[telegram]\napi_id = 1\napi_hash = "0123456789abcdef0123456789abcdef"\n'
        '[archiver]\nchannels = ["@mvd_test"]\n',
        encoding="utf-8",
    )
    return path


def _sqlite_file(config: Path) -> Path | None:
    """The SQLite file *config* names, while it does not exist yet; None for PostgreSQL."""
    return missing_sqlite_file(load_config(config).database)


def test_archive_once_then_status(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _sqlite_file(configured)
    assert main(["status"]) == 0
    expected = [
        "no channels followed yet: `dozor archive` or `dozor run` follows the 1 in "
        "archiver.channels",
        "alerts: none yet",
    ]
    if path is not None:  # status creates no database
        expected.insert(0, f"no archive yet at {path}")
        assert not path.exists()
    assert capsys.readouterr().out.splitlines() == expected
    assert main(["archive", "--once"]) == 0
    assert "120 new, 0 edited, 0 deleted — ok" in capsys.readouterr().out
    assert main(["status", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["channels"]
    assert (row["title"], row["status"], row["backfill_complete"]) == ("МВД тест", "ok", True)
    assert row["newest_message_id"] == 120
    assert row["verified_at"] is not None  # the first backfill read the whole history
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "МВД тест" in out
    assert "complete" in out
    assert out.splitlines()[-1] == "alerts: none yet"
    assert main(["channels", "list", "--json"]) == 0
    (channel,) = json.loads(capsys.readouterr().out)
    assert (channel["posts"], channel["tracked"], channel["username"]) == (120, True, "mvd_test")
    assert main(["search", "пост", "--json", "--limit", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 120


def test_a_pass_that_leaves_a_channel_behind_exits_1_for_cron(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["archive", "--once"]) == 0
    capsys.readouterr()
    telegram.channels[BARE].private = True
    assert main(["archive", "--once"]) == 1
    out, err = capsys.readouterr()
    assert "0 new, 0 edited, 0 deleted — private: " in out
    assert err.splitlines()[-1] == "dozor: 1 of 1 channels not up to date"
    assert main(["search", "пост", "--json", "--limit", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 120  # the archive is kept


def _desktop_export(folder: Path, telegram: FakeTelegram) -> Path:
    """The fake channel as Desktop exports it: a link nested in bold loses the link."""
    messages = []
    for message in telegram.channels[BARE].messages.values():
        text: Any = message.message
        if message.entities:  # Desktop keeps the outer entity of nested ones
            text = [{"type": "bold", "text": message.message}]
        stamp = message.date
        messages.append(
            {
                "id": message.id,
                "type": "message",
                "date": stamp.strftime("%Y-%m-%dT%H:%M:%S"),
                "date_unixtime": str(int(stamp.timestamp())),
                "from": "МВД тест",
                "from_id": f"channel{BARE}",
                "text": text,
            }
        )
    export = {"name": "МВД тест", "type": "public_channel", "id": BARE, "messages": messages}
    folder.mkdir()
    (folder / "result.json").write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    return folder


def test_the_archiver_completes_an_imported_export_instead_of_seeing_edits(
    telegram: FakeTelegram,
    configured: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """A channel imported from Desktop, then archived: Telegram re-reads every post and
    shows the formatting Desktop lost. Nothing was edited, and nothing is said to be."""
    channel = telegram.channels[BARE]
    bold = types.MessageEntityBold(offset=0, length=21)
    link = types.MessageEntityTextUrl(offset=13, length=8, url="https://mvd.gov.kg/")
    telegram.post(channel, "Подробности: сайт МВД", push=False, entities=[bold, link])
    assert main(["import", "--tz", "UTC", str(_desktop_export(tmp_path / "export", telegram))]) == 0
    capsys.readouterr()
    assert main(["verify", "mvd_test"]) == 2  # not followed yet: archive --once follows it
    capsys.readouterr()
    for command in (["archive", "--once"], ["verify", "mvd_test"]):  # each reads every post
        assert main(command) == 0
        assert "0 new, 0 edited, 0 deleted — ok" in capsys.readouterr().out
    assert main(["post", "mvd_test", "121", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert [len(v["entities"]) for v in record["versions"]] == [2]
    assert [e["kind"] for e in record["events"]] == ["new"]
    assert main(["search", "is:edited", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 0
    # The other way round: the export again, now that Telegram's copy is archived.
    assert main(["import", "--tz", "UTC", str(tmp_path / "export")]) == 0
    assert "121 messages: 0 new, 0 updated (0 new versions), 121 unchanged" in (
        capsys.readouterr().out
    )
    assert main(["post", "mvd_test", "121", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["versions"] == record["versions"]


def test_channels_add_takes_the_marked_id_of_an_imported_channel(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    imported = telegram.channel(1292077344, "tg2md_test", "test")
    telegram.post_many(imported, 2)
    export = DESKTOP / "tg2md-private-channel-2020"
    assert main(["import", "--tz", "UTC", str(export), "--username", "tg2md_test"]) == 0
    capsys.readouterr()
    assert main(["channels", "add", "-1001292077344"]) == 0
    assert capsys.readouterr().out == "following 'test' (-1001292077344)\n"


def test_one_process_at_a_time_uses_the_telegram_session(
    telegram: FakeTelegram,
    configured: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cron `archive --once` while another dozor holds the session is refused, naming it.
    `channels add` hands the channel over; unanswered, it stays queued for the next run."""
    other = telegram.channel(BARE + 1, "other_test", "Другой канал")
    telegram.post_many(other, 3)
    monkeypatch.setattr(archive_cmd, "HAND_OVER_SECONDS", 0.3)
    session = configured.parent / "dozor.session"
    with archiver.client.session_lock(session):  # a holder that archives nothing
        for command in (["archive", "--once"], ["login", "--check"]):
            assert main(command) == 2
            assert capsys.readouterr().err.splitlines()[-1] == (
                f"dozor: another dozor process (pid {os.getpid()}) is using the Telegram "
                f"session {session}; wait for it to finish, or stop it"
            )
        assert main(["channels", "add", "@other_test"]) == 2
        out, err = capsys.readouterr()
        assert (
            out
            == f"dozor (pid {os.getpid()}) is archiving with this session: asking it to follow\n"
        )
        assert err.splitlines()[-1] == (
            "dozor: @other_test: no answer yet; it stays queued (`dozor status` counts the "
            "requests waiting)"
        )
        assert main(["status"]) == 0
        assert "channel requests waiting for the archiver: 1" in capsys.readouterr().out
    assert main(["archive", "--once"]) == 0  # released with its holder; the request is done
    out = capsys.readouterr().out
    assert "120 new" in out and "3 new" in out
    assert main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["channel_requests_waiting"] == 0


async def test_channels_add_is_answered_by_the_archiver_that_holds_the_session(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    telegram.channel(BARE + 1, "other_test", "Другой канал")
    config = load_config(configured)
    async with archive_cmd.archiver_for(config) as running:  # as `dozor run` holds it
        command = asyncio.create_task(
            asyncio.to_thread(main, ["channels", "add", "@other_test", "t.me/nosuch_channel"])
        )
        while not command.done():  # the running archiver looks at requests every few seconds
            await running.process_requests()
            await asyncio.sleep(0.05)
    assert command.result() == 2  # one of the two could not be followed
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == f"following 'Другой канал' ({-1000000000000 - BARE - 1})"
    assert err.splitlines()[-1].startswith("dozor: t.me/nosuch_channel: ")


async def test_a_cron_pass_ends_when_telegram_stays_unreachable(
    telegram: FakeTelegram,
    configured: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(archive_cmd, "ONCE_OFFLINE_SECONDS", 0.5)

    def lose_telegram(request: Any) -> None:
        if isinstance(request, functions.messages.GetHistoryRequest):
            telegram.down = True
            telegram.drop_connections()
            raise ConnectionError("connection reset by peer")

    telegram.before_answer.append(lose_telegram)
    pass_ = asyncio.to_thread(main, ["archive", "--once"])
    assert await asyncio.wait_for(pass_, timeout=30) == 1  # a pass that retried on would hang
    out, err = capsys.readouterr()
    assert "offline: Telegram unreachable; gave up after 1 s of retries" in out, out
    assert err.splitlines()[-1] == "dozor: 1 of 1 channels not up to date"


def test_a_session_where_no_lock_can_be_made_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    session = tmp_path / "a-file" / "dozor.session"
    with (
        pytest.raises(UserError, match=r"^cannot use the Telegram session .*dozor\.session: "),
        archiver.client.session_lock(session),
    ):
        pass


def test_verify_re_reads_the_whole_archive_of_followed_channels(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with configured.open("a", encoding="utf-8") as config:
        config.write("reconcile_window = 10\n")  # the [archiver] table is the file's last
    assert main(["verify"]) == 2
    assert "no channels followed yet" in capsys.readouterr().err
    assert main(["archive", "--once"]) == 0
    capsys.readouterr()
    telegram.delete(telegram.channels[BARE], [5], push=False)  # far below the re-read window
    assert main(["archive", "--once"]) == 0
    assert "0 new, 0 edited, 0 deleted — ok" in capsys.readouterr().out
    assert main(["verify", "-1001525384822"]) == 0  # the marked id, as `channels list` shows
    assert "0 new, 0 edited, 1 deleted — ok" in capsys.readouterr().out
    assert main(["search", "is:deleted", "--json"]) == 0
    assert [hit["message_id"] for hit in json.loads(capsys.readouterr().out)["hits"]] == [5]
    assert main(["verify", "@nobody_here"]) == 2
    assert "nobody_here" in capsys.readouterr().err
    assert main(["channels", "remove", "mvd_test"]) == 0
    assert main(["verify", "mvd_test"]) == 2
    assert capsys.readouterr().err.endswith(
        "'mvd_test' is archived but not followed: `dozor channels add` it first\n"
    )


def test_post_shows_every_version_the_deletion_and_the_counters(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    channel = telegram.channels[BARE]
    assert main(["archive", "--once"]) == 0
    telegram.edit(channel, 118, "пост 118: задержаны двое мигрантов", push=False)
    channel.messages[118].views = 1_500
    assert main(["archive", "--once"]) == 0
    telegram.delete(channel, list(range(105, 121)), push=False)  # a purge: one event
    assert main(["archive", "--once"]) == 0
    capsys.readouterr()
    assert main(["post", "https://t.me/mvd_test/118"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == [
        "МВД тест (@mvd_test) · post 118 · https://t.me/mvd_test/118",
        "posted 2024-01-01 01:58 UTC · last edited 2024-01-01 02:01 UTC",
    ]
    assert "deleted on Telegram, seen " in out
    assert "\nпост 118\n" in out  # version 1 whole, then what version 2 changed:
    assert "\nпост [-118-]{+118: задержаны двое мигрантов+}\n" in out
    assert "counters over time (2 samples)" in out and "1,500" in out
    assert "mass_deleted (reconcile) · version 1 · 16 posts at once" in out

    assert main(["post", "t.me/c/1525384822/118", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["link"] == "https://t.me/mvd_test/118"
    assert [v["text"] for v in record["versions"]] == [
        "пост 118",
        "пост 118: задержаны двое мигрантов",
    ]
    assert [(m["views"], m["rounded"]) for m in record["metrics"]] == [(1, False), (1_500, False)]
    assert [e["kind"] for e in record["events"]] == ["new", "edited", "mass_deleted"]
    assert record["post"]["deleted_at"] is not None
    assert record["attachment"] is None  # a text post
    assert main(["post", "@mvd_test", "104", "--json"]) == 0  # before the purge: still there
    record = json.loads(capsys.readouterr().out)
    assert (record["post"]["deleted_at"], [e["kind"] for e in record["events"]]) == (None, ["new"])
    assert main(["post", "-1001525384822", "104", "--json"]) == 0  # a marked id is no option
    assert json.loads(capsys.readouterr().out) == record


def test_post_refuses_what_it_cannot_show(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["archive", "--once"]) == 0
    capsys.readouterr()
    for args, error in [
        (["t.me/mvd_test"], "'t.me/mvd_test' is not a post link: give one like"),
        (["mvd_test", "x"], "'x' is not a post number"),
        (["mvd_test/500"], "МВД тест: post 500 is not in the archive"),
        (["mvd_test/99999999999"], "is not a post link"),
        (["@nobody_here/5"], "nobody_here"),
        (["--jsn", "-1001525384822", "104"], "No such option '--jsn'. Did you mean '--json'?"),
        (["-1001525384822", "-104"], "'-104' is not a post number"),
        (["-1001525384822", "104", "-x"], "No such option '-x'"),
    ]:
        assert main(["post", *args]) == 2
        err = capsys.readouterr().err
        assert error in err and len(err.splitlines()) == 1, args


def test_the_archiver_rebuilds_an_index_an_older_dozor_built(
    telegram: FakeTelegram,
    configured: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["archive", "--once"]) == 0
    simulate_an_older_analyzer(database_url, "пост")
    capsys.readouterr()
    assert main(["search", "пост", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 0
    assert main(["archive", "--once"]) == 0  # rebuilds the index before archiving
    capsys.readouterr()
    assert main(["search", "пост", "--json", "--limit", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 120


def test_channels_add_reports_each_channel(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    telegram.channel(1399999999, "border_test", "Погранслужба")
    assert main(["channels", "add", "t.me/s/border_test", "@nobody_here"]) == 2
    captured = capsys.readouterr()
    assert "following 'Погранслужба'" in captured.out
    assert "@nobody_here" in captured.err
    assert main(["channels", "remove", "border_test"]) == 0
    assert "no longer following 'Погранслужба'" in capsys.readouterr().out


def test_channels_add_refuses_what_names_no_channel_before_connecting(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    telegram.channel(1399999999, "border_test", "Погранслужба")
    for ref in ("@@@", "Погранслужба", "https://example.com/border_test"):
        assert main(["channels", "add", "border_test", ref]) == 2
        captured = capsys.readouterr()
        assert repr(ref) in captured.err
        assert "following" not in captured.out  # not even the good one: nothing was done
    assert telegram.requests == []


def test_login_check(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["login", "--check"]) == 0
    assert "is logged in as Analyst" in capsys.readouterr().out


def test_a_proxy_answering_for_telegram_is_a_clear_error(
    configured: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real Telethon against a loopback server that answers like an HTTP proxy and hangs up."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer_once() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(64)
            connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=answer_once, daemon=True).start()

    def build_client(config: Any) -> ArchiverClient:
        session = MemorySession()
        session.set_dc(2, "127.0.0.1", port)
        return ArchiverClient(session, 1, "0" * 32, connection_retries=0)

    monkeypatch.setattr(archiver.client, "build_client", build_client)
    with server:
        assert main(["archive", "--once"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "dozor: cannot reach Telegram: the connection closed before Telegram answered "
        "(a proxy or firewall in the way?)"
    )


def test_archiving_needs_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text("[database]\n")
    assert main(["archive", "--once"]) == 2
    assert "telegram.api_id and telegram.api_hash" in capsys.readouterr().err


def test_session_files_are_private(tmp_path: Path) -> None:
    from archiver.client import protect_session_file

    session = tmp_path / "dozor.session"
    session.write_bytes(b"sqlite")
    session.chmod(0o644)
    protect_session_file(session)
    assert session.stat().st_mode & 0o777 == 0o600


def _telegram_config(tmp_path: Path, extra: str = "") -> Config:
    path = tmp_path / "config.toml"
    path.write_text(
        '[telegram]\napi_id = 5\napi_hash = "0123456789abcdef0123456789abcdef"\n' + extra,
        encoding="utf-8",
    )
    return load_config(path, environ={})


def test_a_broken_session_file_is_a_config_error(tmp_path: Path) -> None:
    from archiver.client import build_client

    (tmp_path / "dozor.session").write_bytes(b"not a database at all, but long enough " * 4)
    with pytest.raises(ConfigError, match=r"telegram\.session: .*dozor\.session is not a"):
        build_client(_telegram_config(tmp_path))


def test_a_private_server_key_is_trusted_and_a_bad_one_refused(tmp_path: Path) -> None:
    import rsa
    from telethon.crypto import rsa as telethon_rsa

    from archiver.client import build_client

    public, _ = rsa.newkeys(512)
    (tmp_path / "server.pem").write_bytes(public.save_pkcs1())
    server = '[telegram.server]\ndc_id = 2\nhost = "127.0.0.1"\npublic_key_file = "server.pem"\n'
    build_client(_telegram_config(tmp_path, server)).session.close()
    assert telethon_rsa._compute_fingerprint(public) in telethon_rsa._server_keys
    (tmp_path / "server.pem").write_text("not a key", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not an RSA public key in PEM"):
        build_client(_telegram_config(tmp_path, server))


def test_login_asks_for_phone_and_code(
    telegram: FakeTelegram,
    configured: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io

    telegram.authorized = False
    assert main(["login", "--check"]) == 2
    assert "is not logged in: run `dozor login`" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("+996700000000\n"))  # no code follows
    assert main(["login"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "dozor: the input ended before dozor had what it asked for"
    monkeypatch.setattr("sys.stdin", io.StringIO("+996700000000\n12345\n"))
    assert main(["login"]) == 0
    assert "logged in as Analyst" in capsys.readouterr().out
    assert telegram.authorized


async def test_run_once_archives_then_alerts_the_team(
    telegram: FakeTelegram,
    configured: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The composition root: `dozor run --once` archives, then the team side alerts."""
    api = FakeBotAPI()
    await api.start()
    try:
        with configured.open("a", encoding="utf-8") as config:
            config.write(
                f'[bot]\ntoken = "1:test"\nadmins = [1]\napi_server = "{api.url}"\n'
                "[alerts]\nhistory_minutes = 100000000\n"
                '[[rules]]\nname = "Два поста"\nquery = \'"пост 117" OR "пост 118"\'\n'
                "chat_id = 777\n"
            )
        assert await asyncio.to_thread(main, ["run", "--once"]) == 0
        assert "120 new" in capsys.readouterr().out
        alerts = api.sent(chat_id=777)
        assert sorted("пост 117" in a.text for a in alerts) == [False, True]
        assert all("Два поста" in a.text for a in alerts)
    finally:
        await api.stop()


async def json_of(capsys: pytest.CaptureFixture[str], *command: str) -> Any:
    """What `dozor COMMAND --json` prints, run beside a `dozor run` (in a thread)."""
    assert await asyncio.to_thread(main, [*command, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


class DozorRun:
    """`dozor run` as a service, in a thread of its own (its own event loop), with the team
    bot on the fake Bot API; stopped as by SIGTERM."""

    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api
        self.job: asyncio.Task[int] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def start(self, configured: Path, config: str = "") -> None:
        with configured.open("a", encoding="utf-8") as file:
            file.write(
                f'[bot]\ntoken = "1:test"\nadmins = [1]\napi_server = "{self.api.url}"\n{config}'
            )
        self.job = asyncio.create_task(asyncio.to_thread(main, ["run"]))

    def stop_on_signals(self) -> asyncio.Event:  # the command's SIGTERM, in its own loop
        self.loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        return self._stop

    def soon(self, call: Callable[..., Any], *args: Any) -> None:
        """*call* in the command's loop (the fake Telegram's updates go there)."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(call, *args)

    async def stop(self) -> int:
        """Stop the command; its exit status."""
        assert self.job is not None
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        return await asyncio.wait_for(self.job, timeout=30)


@pytest.fixture
async def dozor_run(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DozorRun]:
    api = FakeBotAPI()
    await api.start()
    run = DozorRun(api)
    monkeypatch.setattr(run_cmd, "stop_on_signals", run.stop_on_signals)
    try:
        yield run
    finally:
        if run.job is not None and not run.job.done():
            await run.stop()
        await api.stop()


async def test_run_serves_until_stopped_archiving_live_posts_and_alerting(
    telegram: FakeTelegram, configured: Path, dozor_run: DozorRun
) -> None:
    """`dozor run` as a service: the archiver and the team bot in one process, a live post
    archived and alerted, a command answered, and a clean exit when the stop signal comes."""
    api = dozor_run.api
    dozor_run.start(
        configured,
        "[alerts]\nhistory_minutes = 100000000\n"
        '[[rules]]\nname = "Мигранты"\nquery = "мигрант"\nchat_id = 777\n',
    )
    await api.wait_for("getupdates", seconds=20)  # the bot is polling
    history = functions.messages.GetHistoryRequest
    async with asyncio.timeout(20):  # the first sync has begun, live handlers are in
        while not telegram.count(history):  # noqa: ASYNC110 - the fake has no event
            await asyncio.sleep(0.02)
    dozor_run.soon(telegram.post, telegram.channels[BARE], "Задержаны мигранты")
    (alert,) = await api.wait_for(chat_id=777, seconds=20)
    assert "Мигранты" in alert.text and "Задержаны мигранты" in alert.text
    api.message(1, "/status")
    (answer,) = await api.wait_for(chat_id=1, seconds=20)
    # (the alert may still be marked sending: delivery records it after Telegram answers)
    assert "✅ МВД тест" in answer.text and "Alerts:" in answer.text
    assert await dozor_run.stop() == 0


def test_status_names_posts_this_dozor_cannot_read(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    telegram.channels[BARE].unreadable.add(60)  # a kind of message newer than Telethon
    assert main(["archive", "--once"]) == 0
    assert "119 new, 0 edited, 0 deleted — ok" in capsys.readouterr().out
    assert main(["status", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["channels"]
    assert (row["status"], row["unreadable"], row["backfill_complete"]) == ("ok", 1, True)
    assert main(["status"]) == 0
    assert "a post of a kind this dozor cannot read yet: upgrade dozor" in capsys.readouterr().out


def test_status_names_a_channel_the_account_could_not_join(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    telegram.join_refusal = errors.ChannelsTooMuchError
    assert main(["archive", "--once"]) == 0  # archived all the same
    assert "120 new, 0 edited, 0 deleted — ok" in capsys.readouterr().out
    assert main(["status", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["channels"]
    assert row["not_joined"].startswith("the account is in as many channels and groups as ")
    assert main(["status"]) == 0
    assert "no live updates: the account is in as many channels" in capsys.readouterr().out
    joins = telegram.count(functions.channels.JoinChannelRequest)
    assert main(["archive", "--once"]) == 0  # the next cron run: joining waits its time
    assert telegram.count(functions.channels.JoinChannelRequest) == joins


def test_a_long_flood_wait_holds_for_the_next_cron_run(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Telegram asks dozor to wait an hour: the cron runs within that hour leave the channel
    alone (asking before the time only draws longer waits) and say so. (The run after the
    hour archives: tests/test_archiver.py, on a clock it can move.)"""
    history = functions.messages.GetHistoryRequest
    telegram.flood(history, 3600)
    assert main(["archive", "--once"]) == 1
    assert "flood_wait: Telegram asked to wait 3600 s" in capsys.readouterr().out
    reads = telegram.count(history)
    assert main(["archive", "--once"]) == 1
    assert "flood_wait: until " in capsys.readouterr().out
    assert telegram.count(history) == reads


def test_a_post_gone_by_its_auto_delete_timer_is_told_apart(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    channel = telegram.channels[BARE]
    message = telegram.post(channel, "Исчезнет через час", push=False, ttl_period=3600)
    assert main(["archive", "--once"]) == 0
    telegram.tick(3600)
    telegram.delete(channel, [message.id, 5], push=False)  # 5 is deleted by the channel
    assert main(["archive", "--once"]) == 0
    assert "0 new, 0 edited, 1 deleted, 1 gone by auto-delete — ok" in capsys.readouterr().out
    assert main(["post", f"mvd_test/{message.id}"]) == 0
    out = capsys.readouterr().out
    assert "gone on Telegram when its auto-delete timer ran out" in out
    assert "expired (reconcile)" in out
    assert main(["post", f"mvd_test/{message.id}", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["post"]["expires_at"] is not None
    assert main(["export", "--format", "csv", "--out", "csv", "--include-deleted"]) == 0
    with Path("csv/posts.csv").open(encoding="utf-8", newline="") as table:
        rows = {int(row["message_id"]): row for row in csv.DictReader(table)}
    assert rows[message.id]["expires_at"] == shown["post"]["expires_at"]
    assert rows[message.id - 1]["expires_at"] == ""


def test_telegrams_labels_on_a_channel_are_archived_as_changes(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Telegram marks a followed channel as a scam and hides it on Android, and the channel
    turns on auto-delete: the change is logged (a channel first seen without a label logs
    nothing) and listed."""
    assert main(["archive", "--once"]) == 0
    capsys.readouterr()
    assert main(["channels", "history", "mvd_test", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["changes"] == []
    channel = telegram.channels[BARE]
    channel.scam = True
    channel.restriction = [types.RestrictionReason("android", "terms", "Violates the terms")]
    channel.auto_delete = 86400
    assert main(["archive", "--once"]) == 0
    capsys.readouterr()
    assert main(["channels", "history", "mvd_test", "--json"]) == 0
    (change,) = json.loads(capsys.readouterr().out)["changes"]
    labels = "scam, auto-delete after 1 day, restricted (android: terms)"
    assert (change["field"], change["old_value"], change["new_value"]) == ("labels", "", labels)
    assert main(["channels", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["labels"] == labels
    assert main(["channels", "list"]) == 0
    assert "followed, ok; scam," in capsys.readouterr().out  # a narrow table folds the rest


def test_a_post_telegram_hides_is_said_so(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Telegram restricts a followed channel's post after it was archived: the next pass
    keeps where and why, and `dozor post` and the JSON Lines export say so."""
    assert main(["archive", "--once"]) == 0
    message = telegram.channels[BARE].messages[115]
    message.restriction_reason = [types.RestrictionReason("all", "terms", "Violates the terms")]
    assert main(["archive", "--once"]) == 0
    capsys.readouterr()
    assert main(["post", "mvd_test/115"]) == 0
    out = capsys.readouterr().out
    assert "hidden by Telegram's apps: restricted (all: terms)" in out
    assert "restricted (reconcile) · version 1 · nowhere → restricted (all: terms)" in out
    assert main(["export", "--format", "jsonl", "--out", "out", "--query", "=пост"]) == 0
    lines = Path("out/posts.jsonl").read_text(encoding="utf-8").splitlines()
    restricted = {json.loads(line)["id"]: json.loads(line)["restriction"] for line in lines}
    assert (restricted[115], restricted[114]) == ("restricted (all: terms)", "")
    assert main(["export", "--format", "csv", "--out", "csv", "--query", "=пост"]) == 0
    with Path("csv/posts.csv").open(encoding="utf-8", newline="") as table:
        rows = {int(row["message_id"]): row for row in csv.DictReader(table)}
    assert (rows[115]["restriction"], rows[114]["restriction"]) == ("restricted (all: terms)", "")


def test_the_post_a_channel_pins_is_archived_as_changes(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A followed channel pins a post, pins another, and unpins all: each pass that sees a
    change logs it, and `channels history` lists it (nothing pinned at the first sight logs
    nothing)."""
    channel = telegram.channels[BARE]

    def pinned_changes() -> list[tuple[str, str | None, str | None]]:
        assert main(["archive", "--once"]) == 0
        capsys.readouterr()
        assert main(["channels", "history", "mvd_test", "--field", "pinned", "--json"]) == 0
        changes = json.loads(capsys.readouterr().out)["changes"]
        return [(c["field"], c["old_value"], c["new_value"]) for c in changes]

    assert pinned_changes() == []
    channel.pinned = 7
    assert pinned_changes() == [("pinned", "", "7")]
    channel.pinned = 12
    assert pinned_changes()[1:] == [("pinned", "7", "12")]
    assert main(["post", "mvd_test/12"]) == 0
    assert "shown pinned since " in capsys.readouterr().out
    channel.pinned = None
    assert pinned_changes()[2:] == [("pinned", "12", "")]
    assert pinned_changes()[3:] == []  # nothing changed
    assert main(["post", "mvd_test/7", "--json"]) == 0
    (span,) = json.loads(capsys.readouterr().out)["pinned"]
    assert span["since"] < span["until"]
    assert main(["post", "mvd_test/12"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"shown pinned [0-9-]+ [0-9:]+ UTC to [0-9-]+ [0-9:]+ UTC", out), out
    assert main(["post", "mvd_test/8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pinned"] == []


async def test_a_logged_out_session_stops_archiving_and_the_team_is_told(
    telegram: FakeTelegram,
    configured: Path,
    dozor_run: DozorRun,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Telegram logs dozor's session out while `dozor run` works (the account ended it from
    its phone). Archiving stops; the bot stays up, tells the admins once, and its /status
    says so, as does `dozor status`; the exit status is 2 when dozor is stopped. Logged in
    again, the archiver clears it."""
    api = dozor_run.api

    def log_out(request: Any) -> None:
        if isinstance(request, functions.messages.GetHistoryRequest):
            telegram.authorized = False

    telegram.before_answer.append(log_out)
    dozor_run.start(configured)
    (notice,) = await api.wait_for(chat_id=1, seconds=20)
    assert notice.text.startswith(
        "⛔ Telegram logged dozor's session out (AUTH_KEY_UNREGISTERED): archiving has "
        "stopped; stop dozor, run `dozor login`, then start it again."
    )
    asked = len(telegram.requests)
    api.message(1, "/status")
    (_, answer) = await api.wait_for(chat_id=1, count=2, seconds=20)
    assert "⛔ Telegram logged dozor's session out" in answer.text
    assert "✅ МВД тест" in answer.text  # the channel itself is fine
    await asyncio.sleep(6)  # a round of notices more: the team is told once
    assert len(api.sent(chat_id=1)) == 2
    assert len(telegram.requests) == asked  # nor is Telegram asked again
    assert await dozor_run.stop() == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "dozor: Telegram logged dozor's session out (AUTH_KEY_UNREGISTERED): archiving has "
        "stopped; stop dozor, run `dozor login`, then start it again"
    )
    assert await asyncio.to_thread(main, ["status"]) == 0
    assert capsys.readouterr().out.startswith("Telegram logged dozor's session out")
    logout = (await json_of(capsys, "status"))["session_logout"]
    assert logout["reason"] == "AUTH_KEY_UNREGISTERED"
    telegram.before_answer.remove(log_out)
    telegram.authorized = True  # `dozor login` again
    assert await asyncio.to_thread(main, ["archive", "--once"]) == 0
    capsys.readouterr()
    assert (await json_of(capsys, "status"))["session_logout"] is None


async def test_run_once_logged_out_tells_the_team_and_exits_2(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """From cron, `dozor run --once` meets a session Telegram logged out: the team hears of it
    all the same."""
    api = FakeBotAPI()
    await api.start()
    try:
        with configured.open("a", encoding="utf-8") as config:
            config.write(f'[bot]\ntoken = "1:test"\nadmins = [1]\napi_server = "{api.url}"\n')
        telegram.before_answer.append(
            lambda request: (
                setattr(telegram, "authorized", False)
                if isinstance(request, functions.messages.GetHistoryRequest)
                else None
            )
        )
        assert await asyncio.to_thread(main, ["run", "--once"]) == 2
        (notice,) = api.sent(chat_id=1)
        assert "⛔ Telegram logged dozor's session out (AUTH_KEY_UNREGISTERED)" in notice.text
        assert (
            capsys.readouterr()
            .err.splitlines()[-1]
            .startswith("dozor: Telegram logged dozor's session out (AUTH_KEY_UNREGISTERED)")
        )
    finally:
        await api.stop()


def _revoke_session(telegram: FakeTelegram) -> None:
    """The account ends dozor's session from its phone: Telegram answers SESSION_REVOKED."""

    def revoked(request: Any) -> None:
        if isinstance(request, functions.updates.GetStateRequest):
            raise errors.SessionRevokedError(request=request)

    telegram.authorized = False
    telegram.before_answer.append(revoked)


async def test_a_session_logged_out_while_dozor_was_stopped_is_a_logout_too(
    telegram: FakeTelegram,
    configured: Path,
    dozor_run: DozorRun,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The session is revoked while dozor is stopped (a reboot, a cron gap): the next start is
    the first to hear of it. As with a logout while running, it is recorded with Telegram's
    reason, `dozor status` shows it, the team is told once, and `dozor run` goes on serving
    the archive to the team; logged in again, the archiver clears it."""
    api = dozor_run.api
    assert await asyncio.to_thread(main, ["archive", "--once"]) == 0
    _revoke_session(telegram)
    assert await asyncio.to_thread(main, ["archive", "--once"]) == 2
    revoked = (
        "Telegram logged dozor's session out (SESSION_REVOKED): archiving has stopped; stop "
        "dozor, run `dozor login`, then start it again"
    )
    assert capsys.readouterr().err.splitlines()[-1] == f"dozor: {revoked}"
    logout = (await json_of(capsys, "status"))["session_logout"]
    assert logout["reason"] == "SESSION_REVOKED"
    dozor_run.start(configured)
    (notice,) = await api.wait_for(chat_id=1, seconds=20)
    assert notice.text.startswith(f"⛔ {revoked}.")
    api.message(1, "/search пост")  # the archive is still served
    (_, answer) = await api.wait_for(chat_id=1, count=2, seconds=20)
    assert "120 results" in answer.text
    await asyncio.sleep(6)  # a round of notices more: the team is told once
    assert len(api.sent(chat_id=1)) == 2
    assert await dozor_run.stop() == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith(f"dozor: {revoked}")
    telegram.before_answer.clear()
    telegram.authorized = True  # `dozor login` again
    assert await asyncio.to_thread(main, ["archive", "--once"]) == 0
    capsys.readouterr()
    assert (await json_of(capsys, "status"))["session_logout"] is None


def test_a_session_never_logged_in_is_told_to_log_in(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Setting dozor up, on a new archive or on one an import filled: not a logout, nothing
    for the team to hear of; log in."""
    _revoke_session(telegram)
    for step in range(2):
        assert main(["archive", "--once"]) == 2
        assert capsys.readouterr().err.splitlines()[-1] == (
            "dozor: the Telegram session is not logged in: run `dozor login`"
        )
        assert main(["status", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["session_logout"] is None
        if step == 0:
            export = DESKTOP / "tg2md-private-channel-2020"
            assert main(["import", "--tz", "UTC", str(export), "--username", "tg2md_test"]) == 0
            capsys.readouterr()


async def test_a_bot_token_revoked_while_dozor_runs_ends_the_bot_not_the_archive(
    telegram: FakeTelegram,
    configured: Path,
    dozor_run: DozorRun,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The bot's token is revoked with @BotFather while `dozor run` works: aiogram alone would
    retry getUpdates for ever. The bot ends, the archiver goes on (a post deleted meanwhile
    would otherwise be lost), `dozor status` says why, and dozor exits with 2 when stopped."""
    api = dozor_run.api
    dozor_run.start(configured)
    await api.wait_for("getupdates", seconds=20)
    async with asyncio.timeout(20):  # the first sync is done
        while telegram.count(functions.channels.JoinChannelRequest) == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    api.token = "2:new"  # the old one is revoked
    api.message(1, "/help")  # the bot's answer meets the refusal
    async with asyncio.timeout(20):
        while "archiving goes on" not in capsys.readouterr().err:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    refused = len(api.refused)
    dozor_run.soon(telegram.post, telegram.channels[BARE], "пост после отзыва токена")
    async with asyncio.timeout(20):
        while True:
            if (await json_of(capsys, "search", "отзыва"))["total"] == 1:
                break
    await asyncio.sleep(3)  # aiogram alone retries a refused poll every 1-5 s
    assert len(api.refused) == refused
    assert (await json_of(capsys, "status"))["bot_token_rejected_at"] is not None
    assert await dozor_run.stop() == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "dozor: bot.token: Telegram no longer accepts this token (revoked or replaced with "
        "@BotFather?); alerts wait in the archive until dozor runs with a valid one"
    )
    api.token = None  # dozor runs with a valid token again
    assert await asyncio.to_thread(main, ["bot", "--once"]) == 0
    capsys.readouterr()
    assert (await json_of(capsys, "status"))["bot_token_rejected_at"] is None


async def test_the_team_group_upgraded_to_a_supergroup_keeps_its_alerts(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Telegram gives a group upgraded to a supergroup a new id and refuses the old one. The
    bot's check of the team chat at its start learns the move; the alerts go to the new id,
    later runs use it for the config's team chat and rules, and `dozor status` says what to
    change in the config."""
    team, supergroup = -4001, -1004001
    api = FakeBotAPI()
    await api.start()

    def asked_of(chat: int) -> list[str]:
        return [call.method for call in api.calls if call.params.get("chat_id") == str(chat)]

    try:
        with configured.open("a", encoding="utf-8") as config:
            config.write(
                f'[bot]\ntoken = "1:test"\nadmins = [1]\nteam_chat_id = {team}\n'
                f'api_server = "{api.url}"\n[alerts]\nhistory_minutes = 100000000\n'
                '[[rules]]\nname = "Пост 117"\nquery = \'"пост 117"\'\n'
            )
        api.moved[team] = supergroup
        assert await asyncio.to_thread(main, ["run", "--once"]) == 0
        (alert,) = api.sent(chat_id=supergroup)
        assert "пост 117" in alert.text
        assert asked_of(team) == ["getchatmembercount"]  # the start's check learns the move
        capsys.readouterr()
        assert await asyncio.to_thread(main, ["status"]) == 0
        assert capsys.readouterr().out.startswith(
            f"bot.team_chat_id: chat {team} became the supergroup {supergroup}; dozor uses the "
            "new id: put it in config.toml\n"
        )
        telegram.post(telegram.channels[BARE], "пост 117 снова", push=False)
        assert await asyncio.to_thread(main, ["run", "--once"]) == 0
        assert len(api.sent(chat_id=supergroup)) == 2
        assert asked_of(team) == ["getchatmembercount"]  # the config's old id: not again
    finally:
        await api.stop()


def test_events_lists_what_channels_did_to_their_posts_newest_first(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A post edited, one deleted, one hidden by Telegram, then eleven deleted at once: the
    changes come newest first, each with its words changed or the text that was deleted."""
    channel = telegram.channels[BARE]
    assert main(["archive", "--once"]) == 0
    telegram.edit(channel, 118, "пост 118: задержаны двое мигрантов", push=False)
    telegram.delete(channel, [3], push=False)
    channel.messages[115].restriction_reason = [
        types.RestrictionReason("all", "terms", "Violates the terms")
    ]
    assert main(["archive", "--once"]) == 0
    telegram.delete(channel, list(range(100, 111)), push=False)  # a purge: one event in the feed
    assert main(["archive", "--once"]) == 0
    capsys.readouterr()

    assert main(["events", "--json", "--limit", "20"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["more"] is False
    listed = [(c["kind"], c["message_id"]) for c in shown["events"]]
    # Deletions and the restriction happened as dozor saw them (now); the edit on Telegram's
    # clock (the fake's, in 2024), so it comes last.
    assert listed[:11] == [("deleted", n) for n in range(110, 99, -1)]
    assert sorted(listed[11:13]) == [("deleted", 3), ("restricted", 115)]
    assert listed[13:] == [("edited", 118)]
    purged, *_ = shown["events"]
    assert (purged["deleted_at_once"], purged["text_before"]) == (11, "пост 110")
    restricted = next(c for c in shown["events"] if c["kind"] == "restricted")
    assert (restricted["old"], restricted["new"]) == ("", "restricted (all: terms)")
    edit = shown["events"][-1]
    assert (edit["text_before"], edit["text_after"]) == (
        "пост 118",
        "пост 118: задержаны двое мигрантов",
    )
    assert (edit["version_before"], edit["version_after"], edit["source"]) == (1, 2, "reconcile")
    assert edit["link"] == "https://t.me/mvd_test/118"

    assert main(["events", "--limit", "20"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(
        "  deleted  МВД тест (@mvd_test) · post 110 · https://t.me/mvd_test/110"
        " · one of 11 deleted at once"
    )
    assert out[1] == "  пост 110"
    assert "  hidden by Telegram's apps:  → restricted (all: terms)" not in out
    assert "  hidden by Telegram's apps: nowhere → restricted (all: terms)" in out
    edited = out.index(next(line for line in out if "  edited  " in line))
    assert out[edited].startswith("2024-01-01 02:01 UTC  edited  МВД тест (@mvd_test) · post 118")
    assert " · found 20" in out[edited] and out[edited].endswith("(reconcile)")  # found later
    assert out[edited + 1] == "  пост [-118-]{+118: задержаны двое мигрантов+}"
    assert out[-1] == "14 events (edited, deleted, restricted, restored), newest first"

    assert main(["events", "--kind", "edited"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 event (edited), newest first"
    assert main(["events", "--kind", "edited", "--kind", "restricted", "--json"]) == 0
    kinds = [c["kind"] for c in json.loads(capsys.readouterr().out)["events"]]
    assert kinds == ["restricted", "edited"]
    assert main(["events", "--query", "мигрант", "--json"]) == 0  # the text after the edit
    assert [c["message_id"] for c in json.loads(capsys.readouterr().out)["events"]] == [118]
    assert main(["events", "--query", "=110", "--kind", "deleted", "--json"]) == 0
    assert [c["message_id"] for c in json.loads(capsys.readouterr().out)["events"]] == [110]
    assert main(["events", "--limit", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "2 events (edited, deleted, restricted, restored), newest first; older ones with --limit 4"
    )
    assert main(["events", "--limit", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["more"] is True

    # Made on Telegram in the last hour: not the edit (2024); found by dozor in the last hour:
    # all of them, so a daily review with --found-since misses no edit found late.
    assert main(["events", "--since", "1h", "--kind", "edited"]) == 0
    assert capsys.readouterr().out == "no events (edited) match\n"
    assert main(["events", "--found-since", "1h", "--kind", "edited", "--json"]) == 0
    assert [c["message_id"] for c in json.loads(capsys.readouterr().out)["events"]] == [118]
    assert main(["events", "--kind", "new", "--limit", "1", "--json"]) == 0
    (newest,) = json.loads(capsys.readouterr().out)["events"]
    assert (newest["kind"], newest["message_id"], newest["text_after"]) == ("new", 120, "пост 120")


def test_events_refuses_what_it_cannot_list(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["archive", "--once"]) == 0
    capsys.readouterr()
    for args, error in [
        (["--channel", "nobody_here"], "nobody_here"),
        (["--since", "yesterday"], "--since 'yesterday': use YYYY-MM-DD or YYYY-MM-DDTHH:MM"),
        (["--since", "2025-01-02", "--until", "2025-01-01"], "is not before --until"),
        (["--query", "(мигрант"], "query error at position"),
        (["--kind", "pinned"], "Invalid value for '--kind'"),
        (["--limit", "0"], "Invalid value for '--limit'"),
        (["--follow", "--until", "1d"], "--until and --follow do not go together"),
    ]:
        assert main(["events", *args]) == 2, args
        err = capsys.readouterr().err
        assert error in err and len(err.splitlines()) == 1, (args, err)


def test_events_name_the_action_of_a_deleted_service_message(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    channel = telegram.channels[BARE]
    last = channel.messages[120]
    channel.messages[121] = types.MessageService(
        id=121,
        peer_id=last.peer_id,
        date=last.date,
        action=types.MessageActionPinMessage(),
        reply_to=types.MessageReplyHeader(reply_to_msg_id=5),
    )
    assert main(["archive", "--once"]) == 0
    telegram.delete(channel, [121], push=False)
    assert main(["archive", "--once"]) == 0
    capsys.readouterr()
    assert main(["events"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "  deleted  МВД тест (@mvd_test) · post 121 · " in out[0]
    assert out[1:] == [
        "  service message: pin_message",
        "1 event (edited, deleted, restricted, restored), newest first",
    ]


def test_an_edit_that_keeps_the_words_but_sends_a_link_elsewhere_is_told(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A channel points its post's "здесь" at another page without a word changed: `dozor
    events` and `dozor post` say where the link led and leads now, not "something changed"."""
    channel = telegram.channels[BARE]
    text = "Заявление МВД читайте здесь"
    first, second = "https://mvd.gov.kg/statement", "https://example.org/other"
    telegram.edit(
        channel, 118, text, push=False, entities=[types.MessageEntityTextUrl(22, 5, first)]
    )
    assert main(["archive", "--once"]) == 0
    telegram.edit(
        channel, 118, text, push=False, entities=[types.MessageEntityTextUrl(22, 5, second)]
    )
    assert main(["archive", "--once"]) == 0
    capsys.readouterr()
    told = f"link «здесь» now leads to {second} (was {first})"

    assert main(["events", "--json"]) == 0
    (edit,) = json.loads(capsys.readouterr().out)["events"]
    assert (edit["text_before"], edit["text_after"]) == (text, text)
    assert edit["other_changes"] == [told]
    assert main(["events"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:3] == ["  (text unchanged)", f"  • {told}"]
    assert main(["post", "mvd_test", "118"]) == 0
    assert f"• {told}" in capsys.readouterr().out.splitlines()


def test_a_button_pointed_elsewhere_is_told_and_shown(
    telegram: FakeTelegram, configured: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The button under a post is archived with where it leads; the channel pointing it at
    another page is an edit `dozor events` tells; `dozor post` and the HTML export show it."""
    channel = telegram.channels[BARE]

    def button(url: str) -> types.ReplyInlineMarkup:
        read = types.KeyboardInlineButton("Читать", types.InlineButtonTypeUrl(url))
        return types.ReplyInlineMarkup([types.KeyboardInlineButtonRow([read])])

    first, second = "https://mvd.gov.kg/1", "https://example.org/2"
    telegram.edit(channel, 117, "Сводка", push=False, reply_markup=button(first))
    assert main(["archive", "--once"]) == 0
    telegram.edit(channel, 117, "Сводка", push=False, reply_markup=button(second))
    assert main(["archive", "--once"]) == 0
    capsys.readouterr()

    assert main(["events", "--json"]) == 0
    (edit,) = json.loads(capsys.readouterr().out)["events"]
    assert edit["other_changes"] == [f"button «Читать» now leads to {second} (was {first})"]
    assert main(["post", "mvd_test", "117"]) == 0
    assert f"buttons: Читать → {second}" in capsys.readouterr().out
    assert main(["export", "--format", "html", "--out", str(tmp_path / "site")]) == 0
    pages = (tmp_path / "site" / "mvd_test").glob("20*.html")
    html = "".join(page.read_text("utf-8") for page in pages)
    assert f'<a class="button" href="{second}" rel="noopener noreferrer">Читать</a>' in html


def test_events_follow_lists_each_change_as_another_process_archives_it(
    telegram: FakeTelegram, configured: Path
) -> None:
    """`dozor events --follow --json` in a process of its own, while this one archives: each
    change comes once, as a line of JSON, soon after the pass that found it; Ctrl-C ends it
    cleanly."""
    channel = telegram.channels[BARE]
    assert main(["archive", "--once"]) == 0
    telegram.edit(channel, 117, "пост 117 исправлен", push=False)  # before it starts
    assert main(["archive", "--once"]) == 0
    follower = subprocess.Popen(
        [sys.executable, "-m", "dozor", "events", "--follow", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in follower.stdout or ():
            lines.put(line)

    reader = threading.Thread(target=read)
    reader.start()

    def next_lines(count: int) -> list[dict[str, Any]]:
        return [json.loads(lines.get(timeout=30)) for _ in range(count)]

    try:
        (earlier,) = next_lines(1)  # the latest changes first, then each new one
        assert (earlier["kind"], earlier["message_id"]) == ("edited", 117)
        telegram.edit(channel, 118, "пост 118: задержаны двое мигрантов", push=False)
        telegram.delete(channel, [3], push=False)
        assert main(["archive", "--once"]) == 0
        first = next_lines(2)
        assert sorted((c["kind"], c["message_id"]) for c in first) == [
            ("deleted", 3),
            ("edited", 118),
        ]
        telegram.delete(channel, list(range(100, 111)), push=False)  # a purge
        assert main(["archive", "--once"]) == 0
        purge = next_lines(11)
        assert sorted(c["message_id"] for c in purge) == list(range(100, 111))
        assert {(c["kind"], c["deleted_at_once"]) for c in purge} == {("deleted", 11)}
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=30) == 0
    finally:
        follower.kill()
        reader.join(timeout=30)
    assert lines.empty()  # nothing twice
    assert "Traceback" not in (follower.stderr.read() if follower.stderr else "")
