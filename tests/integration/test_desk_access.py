"""Who may see a desk (issue 33), on the real broker: nothing without a session, a session only
for the force's officer token as the broker judges it, ended when the broker stops agreeing;
Host allow-list, security headers, /metrics on a port of its own."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from peacewatch.functions.desk.access import DeskAccess, cookie_name
from peacewatch.functions.desk.server import DeskServer
from peacewatch.platform.auth import mint_token, secret_key
from peacewatch.platform.clients import kit_client, pulsar_admin
from peacewatch.platform.credentials import read_kit_token
from peacewatch.platform.settings import Settings
from peacewatch.platform.topics import TenantTopics

from .conftest import onboard

pytestmark = [pytest.mark.integration, pytest.mark.hostile]


@pytest.fixture(scope="module")
def desk(stack, settings: Settings) -> Iterator[tuple[DeskServer, str, str]]:  # type: ignore[no-untyped-def]
    run = uuid.uuid4().hex[:6]
    north, south = f"acc-{run}-north", f"acc-{run}-south"
    with pulsar_admin(settings) as admin:
        for tenant in (north, south):
            onboard(settings, admin, tenant, partitions=1)
    client = kit_client(settings, tenant=north, kit="officer")
    access = DeskAccess(web_url=settings.pulsar.web_url, recheck_s=1.0)
    server = DeskServer(client, tenant=north, access=access, port=0, metrics_port=0)
    server.start()
    yield server, north, south
    server.stop()
    client.close()


def _login(server: DeskServer, token: str) -> httpx.Response:
    return httpx.post(server.url + "login", data={"token": token}, headers={"Origin": server.url.rstrip("/")})


def test_nothing_without_a_session(desk: tuple[DeskServer, str, str]) -> None:
    server, _, _ = desk
    assert httpx.get(server.url + "events", timeout=5).status_code == 401
    page = httpx.get(server.url, timeout=5)
    assert page.status_code == 303
    assert page.headers["location"] == "login"
    assert httpx.get(server.url + "metrics", timeout=5).status_code == 404  # not on the page's port
    assert httpx.get(server.url + "healthz", timeout=5).status_code == 200  # probes: no data
    assert server.metrics is not None
    assert "peacewatch_desk_open_pages" in httpx.get(f"http://127.0.0.1:{server.metrics.port}/metrics").text


def test_a_foreign_host_is_misdirected(desk: tuple[DeskServer, str, str], settings: Settings) -> None:
    server, north, _ = desk
    officer = read_kit_token(settings, north, "officer")
    sid = _login(server, officer).cookies[cookie_name(north)]
    for host in ("evil.example", "evil.example:80", "127.0.0.1.evil.example"):
        answer = httpx.get(server.url + "events", headers={"Host": host}, cookies={cookie_name(north): sid})
        assert answer.status_code == 421


def test_only_the_forces_officer_gets_a_session(
    desk: tuple[DeskServer, str, str], settings: Settings
) -> None:
    server, north, south = desk
    key = secret_key(settings)
    refused = {
        "another force's officer": read_kit_token(settings, south, "officer"),
        "the force's own drones": read_kit_token(settings, north, "fleet"),
        "a forged role": mint_token(b"x" * 32, role="anyone", expires_in=timedelta(hours=1)),
        "nonsense": "[/]<script>\x1b[2J",
        "nothing": "",
    }
    for who, token in refused.items():
        answer = _login(server, token)
        assert answer.status_code in (403, 400), who
        assert cookie_name(north) not in answer.cookies, who
    cross = httpx.post(server.url + "login", data={"token": read_kit_token(settings, north, "officer")},
                       headers={"Origin": "http://evil.example"})  # fmt: skip
    assert cross.status_code == 403
    answer = _login(server, mint_token(key, role="x", expires_in=None))
    assert answer.status_code == 403

    ok = _login(server, read_kit_token(settings, north, "officer"))
    assert ok.status_code == 303
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    page = httpx.get(server.url, cookies=ok.cookies)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"


def test_a_session_ends_when_the_broker_stops_agreeing(
    desk: tuple[DeskServer, str, str], settings: Settings
) -> None:
    server, north, _ = desk
    role = "acc-officer-" + uuid.uuid4().hex[:6]
    alerts = TenantTopics(north).alerts
    with pulsar_admin(settings) as admin:
        admin.grant_topic_permission(alerts, role=role, actions=["consume"])
        token = mint_token(secret_key(settings), role=role, expires_in=timedelta(hours=1))
        ok = _login(server, token)
        assert ok.status_code == 303
        with httpx.stream("GET", server.url + "events", cookies=ok.cookies, timeout=30) as stream:
            assert stream.status_code == 200
            admin.revoke_topic_permission(alerts, role=role)  # the officer is struck off
            start = time.monotonic()
            for _ in stream.iter_bytes():
                pass  # the desk ends the stream at its next re-check
            assert time.monotonic() - start < 25
    assert httpx.get(server.url + "events", cookies=ok.cookies).status_code == 401
