"""The HTML export in a real browser (Debian's chromium, headless, through chromedriver):
pages load without console errors, search finds Russian and Kyrgyz word forms, and a
screenshot lands in the test run's artifacts (``artifacts/``, or ``$DOZOR_ARTIFACTS``)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from dozor.cli.main import main
from tests.conftest import DESKTOP

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("DOZOR_REQUIRE_BROWSER"):
        raise RuntimeError("DOZOR_REQUIRE_BROWSER is set but chromium/chromedriver are missing")
    pytest.skip("needs Debian's chromium and chromium-driver", allow_module_level=True)


def artifacts() -> Path:
    folder = Path(os.environ.get("DOZOR_ARTIFACTS", ROOT / "artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
async def site(tmp_path: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/a.db"\n', "utf-8")
    # two exports of one channel, a post edited between them: the site lists the edit
    for sample in ("current-format-early", "current-format-later", "tg2md-private-channel-2021"):
        assert (
            await asyncio.to_thread(
                main, ["import", "--tz", "UTC", "--config", str(config), str(DESKTOP / sample)]
            )
            == 0
        )
    out = tmp_path / "site"
    code = await asyncio.to_thread(
        main, ["export", "--config", str(config), "--format", "html", "--out", str(out)]
    )
    assert code == 0
    return out


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=412,915"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))


def console_errors(driver: webdriver.Chrome) -> list[str]:
    entries = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [e["message"] for e in entries if e["level"] == "SEVERE"]


def visit_and_search(site: Path) -> None:
    driver = browser()
    try:
        pages = [
            site / "index.html",
            *sorted(site.glob("*/index.html")),
            *sorted(site.glob("*/20*.html")),
            *sorted(site.glob("*/changed*.html")),
        ]
        for page in pages:
            driver.get(page.as_uri())
            assert driver.find_element(By.TAG_NAME, "h1").text, page
            assert console_errors(driver) == [], page
        changed = next(p for p in pages if p.name == "changed.html")
        driver.get(changed.as_uri())
        added = driver.find_elements(By.CSS_SELECTOR, ".diff ins")
        assert added and all(element.is_displayed() for element in added)
        driver.find_element(By.CSS_SELECTOR, ".post .meta a").click()  # to the post's page
        assert driver.current_url.split("#")[1].startswith("m"), driver.current_url
        assert console_errors(driver) == []
        month = next(p for p in pages if p.name.startswith("2024-03"))
        driver.get(month.as_uri())
        driver.save_screenshot(str(artifacts() / "html-export-month.png"))
        found = search(driver, site, "Мигрант")
        assert any("задержали трёх мигрантов" in text for text in found), found
        assert any("мигранттарды кармады" in text for text in found), found
        assert search(driver, site, "ТРЕХ") == search(driver, site, "трёх")
        polls = search(driver, site, "рейд")  # a post with no text: its poll is searched
        assert any("📎 poll: Нужен ли рейд? — Да / Нет" in text for text in polls), polls
        driver.save_screenshot(str(artifacts() / "html-export-search.png"))
        assert console_errors(driver) == []
    finally:
        driver.quit()


def search(driver: webdriver.Chrome, site: Path, query: str) -> list[str]:
    driver.get((site / "search.html").as_uri())
    WebDriverWait(driver, 10).until(lambda d: "indexed" in d.find_element(By.ID, "status").text)
    box = driver.find_element(By.ID, "q")
    box.send_keys(query)
    driver.find_element(By.CSS_SELECTOR, "#search button").click()
    WebDriverWait(driver, 10).until(lambda d: "found" in d.find_element(By.ID, "status").text)
    return [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#results li")]


async def test_the_html_archive_works_in_a_browser(site: Path) -> None:
    await asyncio.to_thread(visit_and_search, site)
