"""The `dozor` command: exit codes, one-line errors, --json, the main job's first run."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from dozor import db
from dozor.cli.main import main
from dozor.cli.when import parse_moment
from dozor.config import DatabaseConfig
from dozor.errors import UserError
from dozor.importer import read_export
from dozor.search import engine as search_engine
from dozor.text import ANALYZER_VERSION
from tests.conftest import DESKTOP, FIXTURES
from tests.helpers import account_export

SUBCOMMANDS = [
    [],
    ["run"],
    ["init"],
    ["import"],
    ["search"],
    ["rules"],
    ["rules", "add"],
    ["rules", "list"],
    ["rules", "test"],
    ["rules", "remove"],
    ["rules", "sync"],
    ["alerts"],
    ["alerts", "generate"],
    ["alerts", "list"],
    ["channels"],
    ["channels", "list"],
    ["channels", "history"],
    ["stats"],
    ["export"],
    ["bot"],
    ["archive"],
    ["verify"],
    ["post"],
    ["events"],
    ["status"],
    ["login"],
    ["db"],
    ["db", "upgrade"],
    ["db", "current"],
    ["db", "reindex"],
]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("DOZOR_") and "__" in name:
            monkeypatch.delenv(name)
    monkeypatch.delenv("DOZOR_CONFIG", raising=False)
    return tmp_path


@pytest.fixture
def configured(workdir: Path, database_url: str) -> Path:
    path = workdir / "config.toml"
    path.write_text(f'[database]\nurl = "{database_url}"\n', encoding="utf-8")
    return path


@pytest.fixture
def migrated(configured: Path) -> Path:
    """A config whose database is an empty archive at the head revision."""
    assert main(["db", "upgrade"]) == 0
    return configured


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("dozor")]
    assert len(errors) == 1, err
    assert "Traceback" not in "\n".join(err)
    return errors[0]


@pytest.mark.parametrize("args", SUBCOMMANDS)
def test_help_everywhere(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*args, "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage: dozor" in out
    assert "--config" in out


def test_first_run_creates_config_and_database_then_names_missing_keys(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run"]) == 2
    line = _one_line_error(capsys)
    assert (workdir / "config.toml").read_text() == (
        Path(__file__).parent.parent / "config.example.toml"
    ).read_text()
    assert (workdir / "dozor.db").exists()
    for key in (
        "telegram.api_id",
        "telegram.api_hash",
        "bot.token",
        "bot.admins",
        "my.telegram.org",
        "@BotFather",
        "DOZOR_TELEGRAM__API_HASH",
    ):
        assert key in line


def test_run_without_bot_keys_warns(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Telegram credentials present, bot ones missing: the archiver runs, the bot waits."""
    from dozor.cli import archive_cmd

    main(["init"])
    monkeypatch.setenv("DOZOR_TELEGRAM__API_ID", "12345")
    monkeypatch.setenv("DOZOR_TELEGRAM__API_HASH", "0123456789abcdef" * 2)
    calls: list[bool] = []

    async def fake_archiver(config: object, *, once: bool) -> list[object]:
        calls.append(once)
        return []

    monkeypatch.setattr(archive_cmd, "run_archiver", fake_archiver)
    capsys.readouterr()
    assert main(["run", "--once"]) == 0
    assert calls == [True]
    assert "team bot is off until bot.token, bot.admins are set" in capsys.readouterr().err


def test_init_refuses_to_overwrite(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init"]) == 0
    assert main(["init"]) == 2
    assert "already exists" in _one_line_error(capsys)
    assert main(["init", "--force"]) == 0


def test_import_list_stats(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = DESKTOP / "current-format-early"
    assert main(["import", str(export), "--username", "@mvd_test"]) == 0
    assert "8 new, 0 updated" in capsys.readouterr().out
    assert main(["--config", str(configured), "import", "--json", str(export)]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert (report["new"], report["unchanged"], report["channel_id"]) == (0, 8, -1001525384822)
    assert main(["import", str(export), "--tz", "Asia/Bishkek", "--username", "t.me/mvd_test"]) == 0
    assert capsys.readouterr().out.endswith("; --tz was not needed: this export has Unix times\n")
    assert main(["channels", "list", "--json"]) == 0
    (channel,) = json.loads(capsys.readouterr().out)
    assert channel["posts"] == 8
    assert channel["username"] == "mvd_test"
    assert channel["first_post_at"] == "2024-03-01T03:00:00Z"
    assert channel["link"] == "https://t.me/mvd_test"
    assert main(["channels", "list"]) == 0
    assert "Тестовый канал МВД" in capsys.readouterr().out
    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["posts"], stats["service_posts"], stats["imports"]) == (8, 2, 3)
    assert main(["stats"]) == 0
    assert "post versions" in capsys.readouterr().out
    assert main(["post", "mvd_test/8"]) == 0
    assert "· service message: pin_message" in capsys.readouterr().out.splitlines()[1]


def test_import_of_a_whole_account_export(
    configured: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    account = tmp_path / "DataExport_2024-11-01"
    account_export(account)
    assert main(["import", "--username", "mvd_test", str(account)]) == 2
    assert "--username applies to one channel" in _one_line_error(capsys)
    assert main(["import", "--tz", "UTC", str(account)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert [line.split(": ", 1)[1].split(",")[0] for line in lines] == [
        "channel 'Тестовый канал МВД' (-1001525384822)",
        "channel 'test' (-1001292077344)",
        "channel 'Покинутый канал' (-1001777000001)",
    ]
    assert ["8 new" in lines[0], "19 new" in lines[1], "5 new" in lines[2]] == [True] * 3
    assert "left out what is not a channel: 1 personal chat, 2 private groups" in " ".join(
        captured.err.split()  # rich wraps stderr
    )
    assert main(["import", "--tz", "UTC", "--json", str(account / "result.json")]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert [(r["new"], r["unchanged"]) for r in reports] == [(0, 8), (0, 19), (0, 5)]
    assert main(["channels", "list", "--json"]) == 0
    channels = json.loads(capsys.readouterr().out)
    assert sorted(c["posts"] for c in channels) == [5, 8, 19]
    assert main(["search", "привет", "--json"]) == 0  # the personal chat stayed out
    assert json.loads(capsys.readouterr().out)["total"] == 0


def test_imported_photos_are_kept_and_shown_in_the_html_export(
    configured: Path, workdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "ChatExport"
    shutil.copytree(DESKTOP / "current-format-early", export)
    (export / "photos").mkdir()
    photo = b"\xff\xd8\xff\xe0 the raid"
    (export / "photos" / "photo_1@03-03-2024_16-30-00.jpg").write_bytes(photo)
    video = b"\x00\x00\x00\x18ftypmp42 the raid on video"
    (export / "video_files").mkdir()
    (export / "video_files" / "raid.mp4").write_bytes(video)
    assert main(["import", str(export)]) == 0  # download_media is off: no files kept
    assert "attachment files kept" not in capsys.readouterr().out
    assert main(["import", "--media", str(export)]) == 0
    assert ", attachment files kept: 2" in capsys.readouterr().out
    assert main(["import", "--media", "--json", str(DESKTOP / "current-format-early")]) == 0
    (again,) = json.loads(capsys.readouterr().out)  # files already kept; none in this folder
    assert (again["files_kept"], again["files_missing"]) == (0, 0)
    digest = hashlib.sha256(photo).hexdigest()
    stored = workdir / "media" / digest[:2] / digest[2:4] / f"{digest}.jpg"
    assert stored.read_bytes() == photo  # archiver.media_dir, beside the config
    assert main(["export", "--format", "html", "--out", str(tmp_path / "site")]) == 0
    capsys.readouterr()
    pages = list((tmp_path / "site").glob("*/2024-03.html"))
    assert f'<img class="photo" src="../media/{digest}.jpg"' in pages[0].read_text()
    assert (tmp_path / "site" / "media" / f"{digest}.jpg").read_bytes() == photo
    film = hashlib.sha256(video).hexdigest()
    assert f'<video class="player" controls preload="none" src="../media/{film}.mp4">' in (
        pages[0].read_text()
    )
    assert main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["stored_files"], stats["stored_bytes"]) == (2, len(photo) + len(video))
    # A Desktop export carries the file too, where Desktop puts photos, and names it so.
    assert main(["export", "--format", "desktop", "--out", str(tmp_path / "desktop")]) == 0
    copied = read_export(tmp_path / "desktop")
    (post,) = [m for m in copied.messages() if m["id"] == 4]
    assert post["photo"] == f"photos/{digest}.jpg"
    assert (tmp_path / "desktop" / "photos" / f"{digest}.jpg").read_bytes() == photo
    assert copied.path.parent == tmp_path / "desktop"  # one channel: all at the top


def test_import_of_zipped_exports(
    configured: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A colleague's ChatExport.zip (or the bot's /export … desktop) imports as it is."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    archive = tmp_path / "ChatExport_2024-03-05.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for file in (DESKTOP / "current-format-early").iterdir():
            zipped.write(file, f"ChatExport_2024-03-05/{file.name}")
        zipped.writestr("photos/../../../outside.txt", "zip-slip")  # kept inside, never above
    assert main(["import", "--json", str(archive)]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["path"] == str(archive / "ChatExport_2024-03-05" / "result.json")
    assert (report["new"], report["channel_id"]) == (8, -1001525384822)
    assert list(scratch.iterdir()) == []  # unpacked into a temporary folder, then removed
    assert not (tmp_path / "outside.txt").exists()

    broken = tmp_path / "broken.zip"
    broken.write_bytes(archive.read_bytes()[:200])
    assert main(["import", str(broken)]) == 2
    assert f"{broken}: not a readable zip archive" in _one_line_error(capsys)
    empty = tmp_path / "notes.zip"
    with zipfile.ZipFile(empty, "w") as zipped:
        zipped.writestr("notes/readme.txt", "no export here")
    assert main(["import", str(empty)]) == 2
    assert f"{empty}: no result.json, messages.html or saved t.me/s page" in _one_line_error(capsys)


def test_import_of_an_html_export(
    configured: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Desktop's default format: the user says which channel it is, once."""
    export = FIXTURES / "desktop-html" / "ChatExport_2024-11-20"
    assert main(["import", str(export)]) == 2
    assert "an HTML export does not say which channel it is" in _one_line_error(capsys)
    assert main(["import", str(DESKTOP / "current-format-early"), "--channel", "x"]) == 2
    assert "the paths hold 0 HTML exports, 1 other exports and 0 pages" in _one_line_error(capsys)
    assert main(["import", str(export), "--channel", "-100123", "--tz", "Europe/Moscow"]) == 2
    assert "its standard offset is UTC+03:00" in _one_line_error(capsys)
    account = tmp_path / "DataExport_2024-11-20"
    shutil.copytree(export, account / "chats" / "chat_001")
    (account / "export_results.html").write_text("<html></html>", encoding="utf-8")
    assert main(["import", str(account)]) == 2
    assert "a whole-account HTML export" in _one_line_error(capsys)
    zipped_account = tmp_path / "DataExport.zip"
    with zipfile.ZipFile(zipped_account, "w") as zipped:
        for file in account.rglob("*"):
            zipped.write(file, f"DataExport/{file.relative_to(account)}")
    assert main(["import", str(zipped_account)]) == 2
    assert f"{zipped_account}/DataExport: a whole-account HTML export" in _one_line_error(capsys)
    assert main(["import", str(account / "chats" / "chat_001"), "--channel", "-100123"]) == 0
    assert "8 new" in capsys.readouterr().out
    assert main(["import", "--check", "--json", str(export / "messages2.html")]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["format"], row["channel_id"], row["channel_title"], row["dates"]) == (
        "desktop-html",
        None,
        "Дозор тест",
        "UTC+06:00",
    )
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    archive = tmp_path / "ChatExport_2024-11-20.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for file in export.rglob("*"):
            zipped.write(file, f"ChatExport_2024-11-20/{file.relative_to(export)}")
    args = ["import", "--json", str(archive), "--channel", "-1001234567890"]
    assert main([*args, "--tz", "Asia/Bishkek", "--username", "dozor_test"]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert (report["format"], report["new"], report["skipped"]) == ("desktop-html", 8, 1)
    assert report["path"] == str(archive / "ChatExport_2024-11-20")
    assert report["dates_assumed_zone"] == "Asia/Bishkek"
    assert main(["import", str(export), "--channel", "@dozor_test"]) == 0
    assert "0 new, 0 updated (0 new versions), 8 unchanged, 1 skipped" in capsys.readouterr().out
    assert main(["import", str(export)]) == 2  # two archived channels bear it out: no guess
    assert "titled 'Дозор тест': -100123, @dozor_test" in _one_line_error(capsys)
    assert main(["search", "мигрант channel:dozor_test", "--json"]) == 0
    (hit,) = json.loads(capsys.readouterr().out)["hits"]
    assert (hit["link"], hit["date"]) == ("https://t.me/dozor_test/2", "2024-11-05T04:15:00Z")


def test_import_check_lists_what_files_hold_and_writes_nothing(
    workdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No config, no database: --check only reads the files."""
    account = account_export(tmp_path / "DataExport")
    page = FIXTURES / "tme-s" / "sherlock-tme-s-durov" / "channel_feed.html"
    assert main(["import", "--check", "--json", str(account), str(page)]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert [(r["format"], r["channel_id"], r["messages"]) for r in rows] == [
        ("web-preview", -1001006503122, 20),
        ("desktop", -1001525384822, 8),
        ("desktop", -1001292077344, 19),
        ("desktop", -1001777000001, 5),
    ]
    assert rows[1]["newest_message_id"] == 8
    assert [r["dates"] for r in rows] == ["exact", "exact", "wall clock: needs --tz", "exact"]
    assert "left out what is not a channel" in captured.err
    assert [p.name for p in workdir.iterdir()] == ["DataExport"]  # no config, no database
    assert main(["import", "--check", str(tmp_path / "missing.json")]) == 2
    assert "no such file or folder" in _one_line_error(capsys)


def test_import_warnings_go_to_stderr(
    configured: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads((DESKTOP / "current-format-early" / "result.json").read_text())
    data["messages"][3]["date"] = "garbage"
    del data["messages"][3]["date_unixtime"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    assert main(["import", str(bad)]) == 0
    captured = capsys.readouterr()
    assert "7 new" in captured.out
    assert "1 skipped" in captured.out
    assert "message 4 skipped: missing or invalid date" in captured.err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["import", "/no/such/export"], "no such file or folder"),
        (["import", "--tz", "Mars/Base", str(DESKTOP / "current-format-early")], "--tz"),
        (
            ["import", "--username", "МВД КР", str(DESKTOP / "current-format-early")],
            "--username 'МВД КР': not a Telegram username",
        ),
        (["import"], "Missing argument"),
        (["frobnicate"], "No such command"),
        (["channels", "list", "--colour"], "dozor channels list: No such option '--colour'"),
        (["search", "channel:99999999999999999999999"], "no archived channel matches"),
        (["rules", "add", "R", "x", "--chat", "9" * 23], "is not a Telegram chat id"),
        (["rules", "pause", "9" * 23], "no rule 99999"),
        (["rules", "pause", "²"], "no rule named '²'"),
        (["search", "-мигрант"], "put it after -- (options first): dozor search [OPTIONS] --"),
        (["search", "--", "-мигрант", "--limit", "1"], "options go before --, the query after"),
        (["rules", "test", "-кот", "--text", "кот"], "dozor rules test: No such option '-к'"),
        (["rules", "test", "кот"], "give either --text or --post"),
        (["rules", "test", "кот", "--text", "a", "--post", "x/1"], "give either --text or --post"),
        (["rules", "test", "кот", "--post", "nosuch/1"], "no archived channel matches 'nosuch'"),
        (["rules", "test", "кот", "--post", "x/1", "--channel", "x"], "--channel goes with --text"),
    ],
)
def test_user_errors_exit_2_with_one_line(
    migrated: Path, args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    assert expected in _one_line_error(capsys)


def test_bad_config_exits_2_naming_the_key(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "config.toml").write_text("[database]\nurl = 5\n")
    assert main(["stats"]) == 2
    assert "config.toml: database.url" in _one_line_error(capsys)
    assert main(["stats", "--config", "elsewhere.toml"]) == 2
    assert "elsewhere.toml: config file not found" in _one_line_error(capsys)


def test_channels_history_shows_renames_and_finds_the_former_name(
    migrated: Path, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = json.loads((DESKTOP / "current-format-early" / "result.json").read_text("utf-8"))
    assert main(["import", str(DESKTOP / "current-format-early")]) == 0
    renamed = workdir / "renamed" / "result.json"
    renamed.parent.mkdir()
    renamed.write_text(json.dumps({**export, "name": "МВД: новое имя"}), encoding="utf-8")
    assert main(["import", str(renamed)]) == 0
    capsys.readouterr()
    assert main(["channels", "history", "Тестовый канал МВД", "--json"]) == 0  # the old name
    history = json.loads(capsys.readouterr().out)
    assert history["title"] == "МВД: новое имя"
    assert [
        (c["field"], c["old_value"], c["new_value"], c["source"]) for c in history["changes"]
    ] == [("title", "Тестовый канал МВД", "МВД: новое имя", "import")]
    assert main(["channels", "history", "1525384822"]) == 0
    out = capsys.readouterr().out
    assert "МВД: новое имя, first seen" in out
    assert "Тестовый канал МВД" in out
    assert main(["channels", "history", "-1001525384822", "--field", "subscribers"]) == 0
    assert "no change of subscribers recorded since" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args",
    [
        ["stats"],
        ["search", "мигрант"],
        ["channels", "list"],
        ["channels", "history", "durov"],
        ["channels", "remove", "durov"],
        ["post", "durov", "1"],
        ["rules", "list"],
        ["rules", "test", "кот", "--post", "durov/1"],
        ["rules", "test", "кот", "--text", "кот", "--channel", "durov"],
        ["alerts", "list"],
        ["export", "--format", "csv", "--out", "out"],
        ["db", "reindex"],
    ],
)
def test_reading_commands_refuse_a_missing_archive_and_create_none(
    configured: Path, database_url: str, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped database.url must not answer "no posts match" from a new empty archive."""
    assert main(args) == 2
    error = _one_line_error(capsys)
    if database_url.startswith("sqlite"):
        path = Path(DatabaseConfig(url=database_url).url.split(":///", 1)[1])
        assert f"no archive at {path}: check database.url" in error
        assert not path.exists()
    else:  # an empty PostgreSQL database: nothing is created in it
        assert "holds no dozor archive yet" in error
        assert asyncio.run(_schema_state(database_url)).current is None


async def _schema_state(url: str) -> db.SchemaState:
    engine = db.create_engine(DatabaseConfig(url=url))
    try:
        return await db.schema_state(engine)
    finally:
        await engine.dispose()


def test_db_commands(
    configured: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if database_url.startswith("sqlite"):  # no file yet: it is named, not created
        assert main(["db", "current"]) == 2
        assert "no archive at" in _one_line_error(capsys)
    else:  # an empty database: there is a schema to report, none yet
        assert main(["db", "current", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["current"] is None
    assert main(["db", "upgrade"]) == 0
    assert "upgraded from empty" in capsys.readouterr().out
    assert main(["db", "current", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["at_head"] is True
    assert main(["db", "upgrade"]) == 0
    assert "already at" in capsys.readouterr().out
    _set_revision(configured, "0099")  # as a newer dozor would leave it
    assert main(["db", "current"]) == 0
    assert "0099 is unknown to this dozor (made by a newer version?)" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 2
    assert "0099 is unknown to this dozor" in _one_line_error(capsys)


def _set_revision(config: Path, revision: str) -> None:
    url = tomllib.loads(config.read_text(encoding="utf-8"))["database"]["url"]

    async def tamper() -> None:
        engine = db.create_engine(DatabaseConfig(url=url))
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
        await engine.dispose()

    asyncio.run(tamper())


def test_real_process_reports_user_errors_without_traceback(workdir: Path) -> None:
    (workdir / "config.toml").write_text("[database]\n")
    result = subprocess.run(
        [sys.executable, "-m", "dozor", "import", "missing.json"],
        capture_output=True,
        text=True,
        cwd=workdir,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "dozor: missing.json: no such file or folder"
    assert "Traceback" not in result.stderr


def test_search_command(
    configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    main(["import", str(DESKTOP / "current-format-later"), "--username", "mvd_test"])
    capsys.readouterr()
    assert main(["search", "мигрант", "--json", "--limit", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["total"] == 3
    assert [h["message_id"] for h in result["hits"]] == [9, 4]
    assert result["hits"][1]["link"] == "https://t.me/mvd_test/4"
    assert result["hits"][1]["highlights"] == [[31, 43]]
    assert main(["search", '"уголовное дело"']) == 0
    out = capsys.readouterr().out
    assert "1 result, showing 1–1" in out
    assert "Возбуждено **уголовное дело**." in out  # marked without colour, which a pipe would lose
    with monkeypatch.context() as terminal:
        terminal.setenv("FORCE_COLOR", "1")  # on a terminal, in colour and nothing more
        terminal.setenv("TERM", "xterm")
        terminal.delenv("NO_COLOR", raising=False)
        assert main(["search", '"уголовное дело"']) == 0
    coloured = capsys.readouterr().out
    assert "Возбуждено \x1b[1;33mуголовное" in coloured and "**" not in coloured
    # words given unquoted are one query, as if quoted together
    assert main(["search", "задержан", "паспорт", "--json"]) == 0
    unquoted = json.loads(capsys.readouterr().out)
    assert main(["search", "задержан паспорт", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == unquoted
    assert (unquoted["query"], [h["message_id"] for h in unquoted["hits"]]) == (
        "задержан паспорт",
        [6],
    )
    assert main(["search", "мигрант", "--offset", "9" * 23]) == 0
    assert capsys.readouterr().out == f"3 results; none at offset {'9' * 23}\n"
    assert main(["search", 'мигрант "уголовное']) == 2
    assert "query error at position 9: unbalanced quote" in _one_line_error(capsys)
    # a query that starts with an exclusion goes after --, as the error message says
    assert main(["search", "--json", "--", "-мигрант"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits and 9 not in [h["message_id"] for h in hits]
    main(["import", "--tz", "UTC", str(DESKTOP / "tg2md-private-channel-2021")])
    capsys.readouterr()
    assert main(["search", "has:photo", "--limit", "50"]) == 0
    shown = capsys.readouterr().out
    assert "/c/1292077344/25  \n  📎 photo 801×526\n" in shown  # a photo without a caption
    # a match in a poll (the post has no text): the poll is shown, and why it matched
    assert main(["search", "рейд", "--json"]) == 0
    (poll,) = [h for h in json.loads(capsys.readouterr().out)["hits"] if h["message_id"] == 10]
    assert (poll["text"], poll["attachment"]) == ("", "poll: Нужен ли рейд? — Да / Нет")
    assert main(["search", "рейд"]) == 0
    assert "/mvd_test/10  \n  📎 poll: Нужен ли **рейд**? — Да / Нет\n" in capsys.readouterr().out


def test_rules_and_alerts_commands(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "add", "Migrants", "мигрант"]) == 2
    assert "--chat is needed" in _one_line_error(capsys)
    assert main(["rules", "add", "Migrants", "мигрант", "--chat", "-100", "--json"]) == 0
    rule = json.loads(capsys.readouterr().out)
    assert (rule["name"], rule["events"], rule["status"]) == (
        "Migrants",
        ["new", "edited"],
        "active",
    )
    assert main(["rules", "add", "Bad", '"мигрант', "--chat", "1"]) == 2
    assert "unbalanced quote" in _one_line_error(capsys)
    assert main(["rules", "add", " Migrants ", "мигрант2", "--chat", "1"]) == 2
    assert "a rule named 'Migrants' already exists" in _one_line_error(capsys)
    assert main(["rules", "add", " ", "мигрант", "--chat", "1"]) == 2
    assert "a rule name is 1 to 100 characters" in _one_line_error(capsys)
    assert main(["rules", "test", "мигрант -задержан", "--text", "Мигранты прибыли"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("MATCH")
    assert "found «Мигранты»" in out
    assert main(["rules", "test", "мигрант", "--text", "Погода", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["matches"] is False
    # an old export does not alert; the rule exists, the outbox stays empty
    main(["import", str(DESKTOP / "current-format-later")])
    capsys.readouterr()
    assert main(["alerts", "generate", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"events": 10, "alerts": 0, "cursor": 10}
    assert main(["alerts", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["alerts", "list", "--status", "failed"]) == 0
    assert capsys.readouterr().out == "no alerts with status failed\n"
    # why an archived post matches (or not): its poll, its facets
    poll = "t.me/c/1525384822/10"
    assert main(["rules", "test", "рейд has:media -is:edited", "--post", poll]) == 0
    out = capsys.readouterr().out
    assert out.startswith("MATCH\n") and "found «рейд»" in out, out
    assert main(["rules", "test", "рейд is:forward", "--post", poll, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["explanation"][-1] == "  ✗ is:forward"
    assert main(["rules", "pause", "Migrants"]) == 0
    assert "now paused" in capsys.readouterr().out
    assert main(["rules", "remove", "Migrants"]) == 0
    assert "now removed" in capsys.readouterr().out
    assert main(["rules", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["rules", "remove", "Nope"]) == 2
    assert "no rule named 'Nope'" in _one_line_error(capsys)


def test_rules_sync_applies_the_config_rules(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = configured.read_text(encoding="utf-8")
    rule = "[[rules]]\nname = '{}'\nquery = '{}'\nchat_id = -100\n"
    two = rule.format("Migrants", "мигрант") + rule.format("Raids", "рейд channel:nope")
    configured.write_text(database + two, encoding="utf-8")
    assert main(["rules", "sync"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "config rules: 2 added, 0 changed, 0 removed\n"
    assert "rule 'Raids': channel:nope matches no archived channel yet" in captured.err
    configured.write_text(database + rule.format("Migrants", "мигрант -задержан"), "utf-8")
    assert main(["rules", "sync"]) == 0
    assert capsys.readouterr().out == "config rules: 0 added, 1 changed, 1 removed\n"
    assert main(["rules", "list", "--json"]) == 0
    listed = [(r["name"], r["query"], r["origin"]) for r in json.loads(capsys.readouterr().out)]
    assert listed == [("Migrants", "мигрант -задержан", "config")]
    assert main(["rules", "add", "Migrants", "мигрант", "--chat", "1"]) == 2
    assert "a rule named 'Migrants' already exists" in _one_line_error(capsys)
    configured.write_text(database + rule.format("Migrants", "a") + rule.format("Migrants", "b"))
    assert main(["rules", "sync"]) == 2
    assert "config.toml: rules: rule names must differ; repeated: Migrants" in _one_line_error(
        capsys
    )


def simulate_an_older_analyzer(database_url: str, stem: str = "мигрант") -> None:
    """What a database indexed by an older dozor looks like: other stems, an older version."""

    async def tamper() -> None:
        engine = db.create_engine(DatabaseConfig(url=database_url))
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE post_search SET stems = replace(stems, :stem, 'x')"), {"stem": stem}
            )
            await conn.execute(text("UPDATE database_facts SET value = '1'"))
        await engine.dispose()

    asyncio.run(tamper())


def test_an_index_built_by_an_older_analyzer_is_rebuilt(
    configured: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["import", str(DESKTOP / "current-format-later"), "--username", "mvd_test"])
    capsys.readouterr()
    assert main(["db", "current", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["search_analyzer"] == facts["analyzer"] == ANALYZER_VERSION
    simulate_an_older_analyzer(database_url)

    assert main(["db", "current"]) == 0
    assert "needs `dozor db reindex`" in capsys.readouterr().out
    assert main(["search", "мигранты", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["total"] == 0  # what the stale index answers
    assert "warning: the search index was built by an older dozor" in captured.err

    assert main(["db", "reindex"]) == 0
    assert "posts read" in capsys.readouterr().out
    assert main(["search", "мигранты", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["total"] == 3
    assert "warning" not in captured.err

    simulate_an_older_analyzer(database_url)  # `db upgrade` rebuilds on its own
    assert main(["db", "upgrade"]) == 0
    assert "search index rebuilt" in capsys.readouterr().out
    assert main(["search", "мигранты", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 3
    assert main(["db", "upgrade"]) == 0
    assert "search index rebuilt" not in capsys.readouterr().out


def test_search_says_when_it_counted_or_checked_only_part(
    configured: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A regex is checked post by post: a total counted within the budget is a lower bound,
    and a search stopped at MAX_SCAN says so instead of "no posts match"."""
    main(["import", str(DESKTOP / "current-format-later"), "--username", "mvd_test"])
    capsys.readouterr()
    monkeypatch.setattr(search_engine, "SCAN_PAGE", 1)
    monkeypatch.setattr(search_engine, "SCAN_COUNT_BUDGET", 2)
    assert main(["search", r"/задерж\w+/", "--limit", "1"]) == 0
    assert capsys.readouterr().out.startswith("at least 1 result, showing 1–1\n")
    assert main(["search", r"/задерж\w+/", "--limit", "1", "--exact-count"]) == 0
    assert capsys.readouterr().out.startswith("3 results, showing 1–1\n")
    monkeypatch.setattr(search_engine, "MAX_SCAN", 2)
    assert main(["search", "/Внимание/"]) == 0  # in post 3, the third newest with text
    note = "only the first 2 candidate posts were checked (this query is checked post by post)"
    assert capsys.readouterr().out.startswith(f"no posts match '/Внимание/'\n{note}")
    assert main(["search", "/Внимание/", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checked_only"] == 2


def test_text_that_looks_like_rich_markup_is_printed_as_is(
    configured: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Titles, texts, file names and queries are the archive's, not markup: "[/x]" once
    raised rich's MarkupError."""
    message = {
        "id": 1,
        "type": "message",
        "date": "2024-01-01T10:00:00",
        "date_unixtime": "1704103200",
        "text": "мигрант [/x]",
        "file": "(File not included. Change data exporting settings to download.)",
        "file_name": "[/oops].pdf",
    }
    export = {"name": "[/bad] title", "type": "public_channel", "id": 1525384999}
    (tmp_path / "result.json").write_text(json.dumps({**export, "messages": [message]}))
    assert main(["import", str(tmp_path)]) == 0
    assert main(["rules", "add", "[/rule]", "мигрант", "--chat", "1"]) == 0
    capsys.readouterr()
    assert main(["search", "мигрант"]) == 0
    out = capsys.readouterr().out
    assert "[/bad] title" in out and "[/oops]" in out and "**мигрант** [/x]" in out
    assert main(["search", "zzz [/x]"]) == 0
    assert capsys.readouterr().out == "no posts match 'zzz [/x]'\n"
    for listing in (["channels", "list"], ["rules", "list"]):
        assert main(listing) == 0
        assert "[/" in capsys.readouterr().out


def test_moments_are_dates_times_or_spans_back_from_now() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_moment("90m", "--since", now) == datetime(2026, 11, 28, 10, 30, tzinfo=UTC)
    assert parse_moment("7d", "--since", now) == datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert parse_moment("2w", "--since", now) == datetime(2026, 11, 14, 12, 0, tzinfo=UTC)
    assert parse_moment("24h", "--since", now) == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert parse_moment("2024-11-01", "--since", now) == datetime(2024, 11, 1, tzinfo=UTC)
    assert parse_moment("2024-11-01T09:30+06:00", "--since", now) == datetime(
        2024, 11, 1, 3, 30, tzinfo=UTC
    )
    assert parse_moment(None, "--since", now) is None
    with pytest.raises(UserError, match="--until '7 days': use YYYY-MM-DD"):
        parse_moment("7 days", "--until", now)
