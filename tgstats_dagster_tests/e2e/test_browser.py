"""The Dagster UI in a real browser: headless Chromium (Debian's) driven by Playwright.

Opens the asset lineage and the daily pivot's partitions page of the ``tgstats dev``
deployment after the 2 peers x 10 days backfill, checks that the assets and the partitions
are shown and no error is, and saves screenshots under test-artifacts/e2e/browser/.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tgstats_dagster_tests.e2e.conftest import (
    ARTIFACTS,
    BACKFILL_DAYS,
    BACKFILL_PEERS,
    CHANNEL,
    PEERS,
    Deployment,
)

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ARTIFACTS / "browser"
# `make screenshots` sets this to docs/images: the README's pictures come from this test.
README_IMAGES = os.environ.get("TGSTATS_README_IMAGES")
ASSETS = (
    "telegram_peers",
    "stats_raw",
    "content_raw",
    "revenue_status",
    "channel_daily",
    "channel_hourly",
    "posts",
    "stats_figures",
    "post_interactions",
    "megagroup_tops",
    "channel_report",
)
#: The assets partitioned by stats peer x day (the others by stats peer, but the peer entity).
DAY_ASSETS = 3
# What the UI shows when a page or a query fails.
ERROR_TEXTS = (
    "Something went wrong",
    "An error occurred",
    "Unexpected error",
    "PythonError",
    "Traceback",
    "could not be loaded",
    "Failed to load",
)
PAGE_TIMEOUT_MS = 60_000
DIALOG_TIMEOUT_MS = 15_000


@dataclass
class Browser:
    """A page of a fresh headless Chromium profile, and the errors the page has met."""

    page: Any
    problems: list[str] = field(default_factory=list)

    def open(self, url: str) -> None:
        self.page.goto(url, wait_until="networkidle")

    def text(self) -> str:
        return self.page.inner_text("body")

    def screenshot(self, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        if README_IMAGES:
            Path(README_IMAGES).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, Path(README_IMAGES) / path.name)
        return path

    def assert_no_error(self, screenshot: Path) -> None:
        text = self.text().lower()
        shown = [phrase for phrase in ERROR_TEXTS if phrase.lower() in text]
        assert not shown, f"the page shows {shown}; see {screenshot}"
        assert not self.problems, f"{self.problems}; see {screenshot}"


@pytest.fixture(scope="module")
def browser(
    tmp_path_factory: pytest.TempPathFactory, dev_deployment: Deployment
) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: install Debian's Chromium with "
            "`apt-get update && apt-get install -y chromium` (as root), then run again"
        )
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            # 11 assets: the lineage graph needs the height to show every node.
            viewport={"width": 1920, "height": 1500},
        )
        try:
            page = context.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            browser = Browser(page)
            page.on("pageerror", lambda error: browser.problems.append(f"page error: {error}"))
            page.on(
                "response",
                lambda response: (
                    response.status >= 400
                    and browser.problems.append(f"HTTP {response.status} {response.url}")
                ),
            )
            # A new profile gets the UI's "Join the Dagster community" dialog once: skip it.
            browser.open(dev_deployment.base_url)
            with contextlib.suppress(PlaywrightTimeout):
                page.get_by_role("button", name="Skip").click(timeout=DIALOG_TIMEOUT_MS)
            yield browser
        finally:
            context.close()


def _every_node_loaded(browser: Browser, timeout: float = 60) -> str:
    """The page's text once every node of the graph shows its partitions (they load one
    query at a time; a busy machine takes seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        text = browser.text()
        loaded = len(re.findall(r"\b\d+ partitions\b", text)) >= len(ASSETS)
        if loaded or time.monotonic() > deadline:
            return text
        time.sleep(0.5)


def test_asset_lineage_page_shows_every_asset(dev_deployment: Deployment, browser: Browser) -> None:
    dev_deployment.reported()
    browser.open(f"{dev_deployment.base_url}/asset-groups")
    try:
        # Each asset is a node of the graph (named by its tooltip), besides its list entry.
        for asset in ASSETS:
            browser.page.locator(f'[data-tooltip="{asset}"]').wait_for()
        browser.page.get_by_text(f"{len(PEERS)} partitions", exact=True).wait_for()
        text = _every_node_loaded(browser)
    finally:
        screenshot = browser.screenshot("asset-lineage")
    assert "Global asset lineage" in text
    for asset in ASSETS:
        shown = browser.page.get_by_text(asset, exact=True).filter(visible=True)
        assert shown.count() == 2, f"{asset}: in the list and in the graph"
    # The peer entity has one partition per peer; the snapshot assets and the report one
    # per stats peer; the daily pivot, the hourly history and the posts one per stats peer x day.
    counts = re.findall(r"\b(\d+) partitions\b", text)
    assert len(counts) == len(ASSETS), counts
    assert counts.count(str(len(PEERS))) == 1, counts
    assert counts.count(str(len(BACKFILL_PEERS))) == len(ASSETS) - 1 - DAY_ASSETS, counts
    days = set(counts) - {str(len(PEERS)), str(len(BACKFILL_PEERS))}
    assert len(days) == 1 and counts.count(days.pop()) == DAY_ASSETS, counts
    browser.assert_no_error(screenshot)


def test_daily_pivot_partitions_page_shows_the_backfilled_partitions(
    dev_deployment: Deployment, browser: Browser
) -> None:
    outcome = dev_deployment.backfilled()
    page = browser.page
    day = BACKFILL_DAYS[len(BACKFILL_DAYS) // 2].isoformat()
    browser.open(f"{dev_deployment.base_url}/assets/channel_daily?view=partitions")
    try:
        page.get_by_text(re.compile(r"Materialized \(\d+\)")).first.wait_for()
        page.get_by_text(day, exact=True).first.click()
        for peer in BACKFILL_PEERS:
            page.get_by_text(peer, exact=True).first.wait_for()
        # The partition (day, channel): its latest materialization and its metadata.
        page.get_by_text(CHANNEL, exact=True).first.click()
        page.get_by_text("followers").first.wait_for()
        page.wait_for_load_state("networkidle")
    finally:
        screenshot = browser.screenshot("channel-daily-partitions")
    text = browser.text()
    counts = dict(re.findall(r"(Materialized|Failed|Missing) \((\d+)\)", text))
    assert int(counts["Materialized"]) >= len(outcome.partition_keys), counts
    assert counts["Failed"] == "0", counts
    assert f"{day}|{CHANNEL}" in text, "the selected partition is shown"
    assert "No partition selected" not in text
    browser.assert_no_error(screenshot)


def test_each_partition_event_carries_its_own_figures(
    dev_deployment: Deployment, browser: Browser
) -> None:
    """The daily pivot's events: each (day, peer) with that day's rows and audience."""
    dev_deployment.backfilled()
    page = browser.page
    browser.open(f"{dev_deployment.base_url}/assets/channel_daily?view=events")
    try:
        page.get_by_text("dagster/partition_row_count", exact=True).first.wait_for()
        page.wait_for_load_state("networkidle")
    finally:
        screenshot = browser.screenshot("channel-daily-events")
    text = browser.text()
    assert "followers" in text or "members" in text
    assert "materialized in run" in text
    browser.assert_no_error(screenshot)


def test_a_channel_report_partition_shows_its_picture(
    dev_deployment: Deployment, browser: Browser
) -> None:
    """After the UI's backfill, the report sensor draws each channel; its partition shows the
    overview picture embedded in the materialization's metadata."""
    dev_deployment.reported()
    page = browser.page
    browser.open(f"{dev_deployment.base_url}/assets/channel_report?view=partitions")
    picture = page.locator('img[src^="data:image/svg+xml;base64,"]').first
    try:
        page.get_by_text(CHANNEL, exact=True).first.click()
        page.get_by_text("report", exact=True).first.wait_for()
        # The UI shows Markdown metadata behind a link, in a dialog.
        page.get_by_text("[Show Markdown]").first.click()
        picture.wait_for()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=picture.element_handle()
        )
        picture.scroll_into_view_if_needed()
    finally:
        screenshot = browser.screenshot("channel-report")
    box = picture.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50, box
    browser.assert_no_error(screenshot)
