"""The alert desk in a real browser: Debian's chromium, driven by Playwright, against the real stack.

Two forces, each with its alert function and its own `peacewatch desk` process. Reports with bad
scores are published to both; each page shows its own force's alerts - rows and map markers -
and never the other's. Screenshots are kept under build/test-artefacts/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pulsar
import pytest

from peacewatch.functions.deploy.alerting import ALERT_FUNCTION_NAME
from peacewatch.functions.desk.access import DeskAccess
from peacewatch.functions.desk.server import DeskServer
from peacewatch.platform.clients import kit_client, pulsar_admin
from peacewatch.platform.contract import Citizen, Report
from peacewatch.platform.credentials import read_kit_token
from peacewatch.platform.settings import Settings
from peacewatch.platform.topics import NAMESPACE

from .alerting_helpers import publish
from .conftest import cli_env, onboard

pytestmark = pytest.mark.integration

ARTEFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artefacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def forces(stack, settings: Settings) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    run = uuid.uuid4().hex[:6]
    north, south = f"desk-{run}-north", f"desk-{run}-south"
    with pulsar_admin(settings) as admin:
        for tenant in (north, south):
            onboard(settings, admin, tenant, partitions=2, with_function=True)
        yield north, south
        for tenant in (north, south):
            admin.delete_function(tenant, NAMESPACE, ALERT_FUNCTION_NAME)


def _desk(settings: Settings, tenant: str) -> tuple[subprocess.Popen[str], str]:
    """`peacewatch desk -t TENANT --port 0` as a user starts it, and the URL it prints."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "peacewatch.cli.app", "desk", "-t", tenant, "--port", "0"],
        env={**cli_env(settings), "COLUMNS": "200"}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the desk is serving (or has exited)
    match = re.search(r"http://\S+", line)
    if match is None:
        proc.kill()
        raise AssertionError(f"no URL from the desk: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, match.group(0)


def _bad_reports(tenant: str, names: list[str], *, lat: float, lon: float) -> list[Report]:
    reports = []
    for i, name in enumerate(names):
        citizen = Citizen(citizen_id=f"c-{uuid.uuid4().hex[:8]}", name=name, peacescore=3)
        reports.append(Report(
            report_id=uuid.uuid4(), drone_id=f"{tenant[-5:]}-d{i}", ts=datetime.now(UTC),
            lat=lat + 0.01 * i, lon=lon + 0.015 * i, battery_pct=70.0, citizens=[citizen], words=["hello"],
        ))  # fmt: skip
    return reports


def test_each_force_sees_its_own_alerts_live_in_chromium(
    forces: tuple[str, str], client: pulsar.Client, settings: Settings
) -> None:
    from playwright.sync_api import sync_playwright

    north, south = forces
    # Hostile names are data on the page too (issue 33): shown as written, never run.
    north_names = [
        "Ada North",
        "Bram North",
        "Cleo North",
        "<img src=x onerror=window.__pw=1>",
        "[/] \u202eabc",
    ]
    south_names = ["Dirk South", "Eva South"]
    desks = {tenant: _desk(settings, tenant) for tenant in forces}
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            pages = {}
            for tenant, (_, url) in desks.items():
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(url)  # no session: the sign-in page, where the officer's token goes
                page.fill("input[name=token]", read_kit_token(settings, tenant, "officer"))
                page.click("button[type=submit]")
                page.wait_for_selector("#status.live", timeout=30_000)
                pages[tenant] = page
            published_at = time.time()
            for tenant, names, lat in ((north, north_names, 48.85), (south, south_names, 43.60)):
                reports = _bad_reports(tenant, names, lat=lat, lon=2.35)
                publish(client, tenant, [(r.drone_id, r.to_json()) for r in reports])
            for tenant, names in ((north, north_names), (south, south_names)):
                page = pages[tenant]
                # A locator wait, not wait_for_function: the page's CSP refuses eval (as it should).
                page.locator("#feed tr").nth(len(names) - 1).wait_for(timeout=60_000)
                page.wait_for_timeout(1500)  # anything else (another force's alert) would show by now
                page.screenshot(path=str(ARTEFACTS / f"desk-{tenant.rsplit('-', 1)[1]}.png"), full_page=True)
                rows = page.locator("#feed tr").all_inner_texts()
                markers = page.locator("#map circle.marker").count()
                print(f"{tenant}: {len(rows)} rows, {markers} markers, "
                      f"{time.time() - published_at:.1f}s after publishing")  # fmt: skip
                assert sorted(r.split("\t")[1] for r in rows) == sorted(names), rows
                assert page.evaluate("window.__pw") is None  # no markup from a drone ran
                assert markers == len(names)
                assert all("\t3\t" in r for r in rows)  # the peacescore column
                cx = page.locator("#map circle.marker").evaluate_all(
                    "ms => ms.map(m => +m.getAttribute('cx'))"
                )
                assert all(0 <= x <= 1000 for x in cx)  # on the map ...
                assert len(set(cx)) == len(names)  # ... and apart
            browser.close()
    finally:
        for proc, _ in desks.values():
            proc.terminate()
            proc.wait(timeout=20)


def test_an_officer_token_cannot_feed_another_forces_desk(
    forces: tuple[str, str], settings: Settings
) -> None:
    """The desk's guarantee comes from the broker: a desk given north's officer token and pointed
    at south's alerts reads nothing and says it is not reading (healthz 503)."""
    import httpx

    north, south = forces
    officer = kit_client(settings, tenant=north, kit="officer")
    server = DeskServer(officer, tenant=south, access=DeskAccess(web_url=settings.pulsar.web_url), port=0)
    server.start()
    try:
        deadline = time.monotonic() + 30
        while server.read_error is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert isinstance(server.read_error, pulsar.PulsarException), server.read_error
        assert httpx.get(server.url + "healthz").status_code == 503
        assert server.feed.open_page()[0] == []
    finally:
        server.stop()
        officer.close()
