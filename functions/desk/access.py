"""Who may see a force's desk: its officers, as the broker says, for as long as it says so.

The desk holds no signing key (tokens are HS256 with the broker's key). An officer logs in with
their person token; the desk verifies it by acting with it against the broker - the stats of the
force's alerts topic, which Pulsar serves only to a role that may consume or produce there (or
administers the force) - and opens an HttpOnly, SameSite=Strict session. The session ends when
the token expires, after `session_max_s`, or at the first re-check (`recheck_s`) the broker
refuses (the role's grant removed, the force re-onboarded, the key rotated).

Pure session logic (Sessions, with an injectable clock) is apart from the broker call.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie

import jwt

from peacewatch.platform.errors import DeskUnavailable, PulsarAdminError
from peacewatch.platform.pulsar_admin import PulsarAdmin
from peacewatch.platform.topics import TenantTopics

__all__ = ["BrokerCheck", "DeskAccess", "Session", "Sessions", "cookie_name", "host_allowed"]

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeskAccess:
    """The desk's access options. `allowed_hosts`: the host names a page may be reached under
    (the Host header, port aside); anything else is answered 421 (DNS rebinding)."""

    web_url: str
    allowed_hosts: frozenset[str] = frozenset({"127.0.0.1", "localhost"})
    recheck_s: float = 60.0
    session_max_s: float = 12 * 3600.0
    max_pages: int = 32
    max_sessions: int = 1000


@dataclass(slots=True)
class Session:
    token: str
    ends_at: float
    checked_at: float


@dataclass(slots=True)
class Sessions:
    """Open sessions by id; the oldest goes when `max_sessions` are open."""

    max_sessions: int = 1000
    clock: Clock = time.time
    _open: dict[str, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, token: str, *, ends_at: float) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            while len(self._open) >= self.max_sessions:
                self._open.pop(next(iter(self._open)))
            self._open[sid] = Session(token=token, ends_at=ends_at, checked_at=self.clock())
        return sid

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            session = self._open.get(sid)
            if session is not None and session.ends_at <= self.clock():
                del self._open[sid]
                return None
            return session

    def due(self, session: Session, *, every_s: float) -> bool:
        return self.clock() - session.checked_at >= every_s

    def checked(self, session: Session) -> None:
        session.checked_at = self.clock()

    def end(self, sid: str) -> None:
        with self._lock:
            self._open.pop(sid, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)


def token_ends_at(token: str, *, clock: Clock = time.time, max_s: float) -> float:
    """When a session opened with `token` ends: its `exp`, or `max_s` from now if sooner. Read
    only after the broker accepted the token (the desk cannot check the signature itself)."""
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        exp = None
    limit = clock() + max_s
    return min(float(exp), limit) if isinstance(exp, int | float) else limit


class BrokerCheck:
    """Whether a token is good for reading `tenant`'s alerts, asked of the broker itself."""

    def __init__(self, *, web_url: str, tenant: str, timeout_s: float = 5.0) -> None:
        self._web_url = web_url
        self._topic = TenantTopics(tenant).alerts
        self._timeout = timeout_s

    def __call__(self, token: str) -> bool:
        if not token or len(token) > 4096 or not token.isascii() or not token.isprintable():
            return False
        try:
            with PulsarAdmin(web_url=self._web_url, token=token, timeout_s=self._timeout) as as_caller:
                as_caller.topic_stats(self._topic)
        except PulsarAdminError as exc:
            if exc.status in (401, 403):
                return False
            raise DeskUnavailable(
                f"the broker did not answer the check ({exc.status or 'no answer'})"
            ) from None
        return True


def cookie_name(tenant: str) -> str:
    """Per force: cookies ignore ports, and two desks on one host must not share a session."""
    return f"pw_desk_{tenant.replace('-', '_')}"


def session_id(cookie_header: str | None, *, tenant: str) -> str | None:
    if not cookie_header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None
    morsel = jar.get(cookie_name(tenant))
    return morsel.value if morsel is not None else None


def host_allowed(host_header: str | None, allowed: frozenset[str]) -> bool:
    """The Host header's name (port aside) is one of `allowed`."""
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):  # [v6]:port
        name = host[1 : host.find("]")] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in allowed
