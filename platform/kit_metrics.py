"""`peacewatch_kit_token_expiry_timestamp_seconds{tenant,kit}`: when the kit token a process holds
expires, read from its kit file at each scrape (a renewed file shows at once). An alert on
`... - time() < 86400` says a renewal did not happen (README, Operations)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import jwt
from prometheus_client.core import GaugeMetricFamily, Metric

from peacewatch.platform.auth import token_expiry
from peacewatch.platform.credentials import Kit, read_kit_token
from peacewatch.platform.errors import TokenError
from peacewatch.platform.settings import Settings

__all__ = ["KitExpiry"]


class KitExpiry:
    """A Prometheus collector of the expiry of `kits` of one force (those the process holds)."""

    def __init__(self, settings: Settings, *, tenant: str, kits: Sequence[Kit]) -> None:
        self._settings = settings
        self._tenant = tenant
        self._kits = tuple(kits)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "peacewatch_kit_token_expiry_timestamp_seconds",
            "When the kit token this process holds expires (Unix time; absent: no expiry or no kit)",
            labels=["tenant", "kit"],
        )
        for kit in self._kits:
            try:
                expires = token_expiry(read_kit_token(self._settings, self._tenant, kit))
            except (TokenError, OSError, jwt.PyJWTError):
                continue
            if expires is not None:
                family.add_metric([self._tenant, kit], expires.timestamp())
        yield family
