"""A thin typed client for the Pulsar admin REST API (v2 for topics/tenants, v3 for functions).

No maintained Python admin client exists; this covers what peacewatch needs and turns every
error answer into PulsarAdminError with the broker's own reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from peacewatch.platform.errors import PulsarAdminError, UnsafeName

__all__ = ["PulsarAdmin"]

_NOT_READY_RETRIES = 20


def _rewind_files(kwargs: dict[str, Any]) -> None:
    for value in (kwargs.get("files") or {}).values():
        handle = value[1]
        if hasattr(handle, "seek"):
            handle.seek(0)


def _q(segment: str) -> str:
    """One path segment, quoted: a name can never add, climb or end a segment of the path, nor
    start a query or fragment (a role named `../../x#` once granted on another force's namespace)."""
    if segment in ("", ".", ".."):
        raise UnsafeName(f"{segment!r} cannot be a name in a Pulsar admin path: use letters, digits and '-'")
    return quote(segment, safe="")


def _ns(namespace: str) -> str:
    """tenant/namespace, each quoted."""
    parts = namespace.split("/")
    if len(parts) != 2:
        raise UnsafeName(f"{namespace!r} is not a namespace (tenant/namespace)")
    return "/".join(_q(p) for p in parts)


def _topic_path(topic: str) -> str:
    """persistent://t/ns/name -> persistent/t/ns/name, each segment quoted."""
    domain, sep, rest = topic.partition("://")
    parts = rest.split("/")
    if not sep or domain not in ("persistent", "non-persistent") or len(parts) != 3:
        raise UnsafeName(f"{topic!r} is not a topic (persistent://tenant/namespace/name)")
    return "/".join([domain, *(_q(p) for p in parts)])


def _schema_path(topic: str) -> str:
    """persistent://t/ns/name -> /admin/v2/schemas/t/ns/name/schema"""
    return f"/admin/v2/schemas/{_topic_path(topic).split('/', 1)[1]}/schema"


class _BearerToken(httpx.Auth):
    """The token asked again for every request: a renewed kit file takes effect without a restart
    (a long-lived admin client, the sink's monitor among them, held its first token for life)."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token()}"
        yield request


class PulsarAdmin:
    def __init__(
        self, *, web_url: str, token: str | Callable[[], str] | None = None, timeout_s: float = 30.0
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if isinstance(token, str) and token else {}
        auth = _BearerToken(token) if callable(token) else None
        self._http = httpx.Client(base_url=web_url, headers=headers, auth=auth, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PulsarAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        ok_statuses: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> httpx.Response:
        for attempt in range(_NOT_READY_RETRIES + 1):
            try:
                resp = self._http.request(method, path, json=json_body, **kwargs)
            except httpx.HTTPError as exc:
                raise PulsarAdminError(
                    method=method,
                    path=path,
                    status=0,
                    reason=f"{exc.__class__.__name__}: {exc} (is the stack up? `peacewatch stack up`)",
                ) from exc
            # A worker that just started (or lost its leader) answers 503 for a few seconds.
            if resp.status_code != 503 or attempt == _NOT_READY_RETRIES:
                break
            _rewind_files(kwargs)
            time.sleep(1.0)
        if resp.is_success or resp.status_code in ok_statuses:
            return resp
        raise PulsarAdminError(method=method, path=path, status=resp.status_code, reason=_reason(resp))

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._request(method, path, **kwargs)
        return resp.json() if resp.content else None

    # -- cluster ----------------------------------------------------------------------------
    def clusters(self) -> list[str]:
        return list(self._json("GET", "/admin/v2/clusters"))

    # -- tenants and namespaces ---------------------------------------------------------------
    def tenants(self) -> list[str]:
        return list(self._json("GET", "/admin/v2/tenants"))

    def get_tenant(self, tenant: str) -> dict[str, Any] | None:
        resp = self._request("GET", f"/admin/v2/tenants/{_q(tenant)}", ok_statuses=(404,))
        return None if resp.status_code == 404 else dict(resp.json())

    def create_tenant(self, tenant: str, *, admin_roles: list[str], clusters: list[str]) -> None:
        body = {"adminRoles": admin_roles, "allowedClusters": clusters}
        self._request("PUT", f"/admin/v2/tenants/{_q(tenant)}", json_body=body)

    def update_tenant(self, tenant: str, *, admin_roles: list[str], clusters: list[str]) -> None:
        body = {"adminRoles": admin_roles, "allowedClusters": clusters}
        self._request("POST", f"/admin/v2/tenants/{_q(tenant)}", json_body=body)

    def delete_tenant(self, tenant: str, *, force: bool = False) -> None:
        self._request("DELETE", f"/admin/v2/tenants/{_q(tenant)}", params={"force": str(force).lower()})

    def namespaces(self, tenant: str) -> list[str]:
        return list(self._json("GET", f"/admin/v2/namespaces/{_q(tenant)}"))

    def create_namespace(self, namespace: str) -> bool:
        """True if created, False if it existed."""
        resp = self._request(
            "PUT", f"/admin/v2/namespaces/{_ns(namespace)}", json_body={}, ok_statuses=(409,)
        )
        return resp.status_code != 409

    def delete_namespace(self, namespace: str, *, force: bool = False) -> None:
        self._request(
            "DELETE", f"/admin/v2/namespaces/{_ns(namespace)}", params={"force": str(force).lower()}
        )

    def get_namespace_policy(self, namespace: str, policy: str) -> Any:
        return self._json("GET", f"/admin/v2/namespaces/{_ns(namespace)}/{policy}")

    def set_namespace_policy(
        self,
        namespace: str,
        policy: str,
        value: Any,
        *,
        method: str = "POST",
        params: dict[str, str] | None = None,
    ) -> None:
        self._request(
            method, f"/admin/v2/namespaces/{_ns(namespace)}/{policy}", json_body=value, params=params
        )

    def remove_namespace_policy(
        self, namespace: str, policy: str, *, params: dict[str, str] | None = None
    ) -> None:
        self._request("DELETE", f"/admin/v2/namespaces/{_ns(namespace)}/{policy}", params=params)

    def unload_namespace(self, namespace: str) -> None:
        """Close every topic of the namespace: connected clients reconnect (and are authorised again)."""
        self._request("PUT", f"/admin/v2/namespaces/{_ns(namespace)}/unload")

    def get_namespace_policy_or_none(self, namespace: str, policy: str) -> Any:
        """A policy's value, or None where the namespace has none set (404/204)."""
        resp = self._request("GET", f"/admin/v2/namespaces/{_ns(namespace)}/{policy}", ok_statuses=(404,))
        return resp.json() if resp.status_code != 404 and resp.content else None

    # -- topics -------------------------------------------------------------------------------
    def topics(self, namespace: str) -> list[str]:
        return list(self._json("GET", f"/admin/v2/persistent/{_ns(namespace)}"))

    def partitions(self, topic: str) -> int:
        meta = self._json("GET", f"/admin/v2/{_topic_path(topic)}/partitions")
        return int(meta.get("partitions", 0))

    def create_partitioned_topic(self, topic: str, *, partitions: int) -> bool:
        resp = self._request(
            "PUT", f"/admin/v2/{_topic_path(topic)}/partitions", json_body=partitions, ok_statuses=(409,)
        )
        return resp.status_code != 409

    def set_topic_partitions(self, topic: str, *, partitions: int) -> None:
        """Grow a partitioned topic (Pulsar never shrinks one)."""
        self._request("POST", f"/admin/v2/{_topic_path(topic)}/partitions", json_body=partitions)

    def create_topic(self, topic: str) -> bool:
        resp = self._request("PUT", f"/admin/v2/{_topic_path(topic)}", ok_statuses=(409,))
        return resp.status_code != 409

    def topic_stats(self, topic: str, *, partitioned: bool = False) -> dict[str, Any]:
        suffix = "partitioned-stats" if partitioned else "stats"
        return dict(self._json("GET", f"/admin/v2/{_topic_path(topic)}/{suffix}"))

    def get_topic_policy(self, topic: str, policy: str) -> Any:
        return self._json("GET", f"/admin/v2/{_topic_path(topic)}/{policy}")

    def set_topic_policy(self, topic: str, policy: str, value: Any) -> None:
        self._request("POST", f"/admin/v2/{_topic_path(topic)}/{policy}", json_body=value)

    def delete_topic(self, topic: str, *, partitioned: bool) -> bool:
        suffix = "/partitions" if partitioned else ""
        resp = self._request(
            "DELETE", f"/admin/v2/{_topic_path(topic)}{suffix}", params={"force": "true"}, ok_statuses=(404,)
        )
        return resp.status_code != 404

    def subscriptions(self, topic: str) -> list[str]:
        return list(self._json("GET", f"/admin/v2/{_topic_path(topic)}/subscriptions"))

    def create_subscription(self, topic: str, subscription: str) -> bool:
        """A durable subscription from the earliest message (all partitions of a partitioned topic)."""
        resp = self._request(
            "PUT", f"/admin/v2/{_topic_path(topic)}/subscription/{_q(subscription)}",
            json_body={"ledgerId": -1, "entryId": -1, "partitionIndex": -1}, ok_statuses=(409,),
        )  # fmt: skip
        return resp.status_code != 409

    def skip_all(self, topic: str, subscription: str) -> None:
        """Acknowledge everything the subscription has not consumed (all partitions)."""
        self._request("POST", f"/admin/v2/{_topic_path(topic)}/subscription/{_q(subscription)}/skip_all")

    def topic_properties(self, topic: str) -> dict[str, str]:
        """User properties of a topic (for a partitioned topic: of the topic as a whole)."""
        return dict(self._json("GET", f"/admin/v2/{_topic_path(topic)}/properties") or {})

    def set_topic_properties(self, topic: str, properties: Mapping[str, str]) -> None:
        self._request("PUT", f"/admin/v2/{_topic_path(topic)}/properties", json_body=dict(properties))

    def topic_permissions(self, topic: str) -> dict[str, list[str]]:
        """Grants on the topic ({} for a topic that does not exist yet: it has none)."""
        resp = self._request("GET", f"/admin/v2/{_topic_path(topic)}/permissions", ok_statuses=(404,))
        return {} if resp.status_code == 404 or not resp.content else dict(resp.json())

    def grant_topic_permission(self, topic: str, *, role: str, actions: list[str]) -> None:
        self._request("POST", f"/admin/v2/{_topic_path(topic)}/permissions/{_q(role)}", json_body=actions)

    def revoke_topic_permission(self, topic: str, *, role: str) -> None:
        self._request("DELETE", f"/admin/v2/{_topic_path(topic)}/permissions/{_q(role)}", ok_statuses=(404,))

    def namespace_permissions(self, namespace: str) -> dict[str, list[str]]:
        return dict(self._json("GET", f"/admin/v2/namespaces/{_ns(namespace)}/permissions") or {})

    def grant_namespace_permission(self, namespace: str, *, role: str, actions: list[str]) -> None:
        self._request(
            "POST", f"/admin/v2/namespaces/{_ns(namespace)}/permissions/{_q(role)}", json_body=actions
        )

    def revoke_namespace_permission(self, namespace: str, *, role: str) -> None:
        self._request(
            "DELETE", f"/admin/v2/namespaces/{_ns(namespace)}/permissions/{_q(role)}", ok_statuses=(404,)
        )

    def internal_stats(self, topic: str) -> dict[str, Any]:
        return dict(self._json("GET", f"/admin/v2/{_topic_path(topic)}/internalStats"))

    # -- schemas ------------------------------------------------------------------------------
    def get_schema(self, topic: str) -> dict[str, Any] | None:
        resp = self._request("GET", _schema_path(topic), ok_statuses=(404,))
        return None if resp.status_code == 404 else dict(resp.json())

    def upload_schema(self, topic: str, payload: Mapping[str, Any]) -> None:
        self._request("POST", _schema_path(topic), json_body=dict(payload))

    # -- functions (v3) -----------------------------------------------------------------------
    def get_function(self, tenant: str, namespace: str, name: str) -> dict[str, Any] | None:
        resp = self._request(
            "GET", f"/admin/v3/functions/{_q(tenant)}/{_q(namespace)}/{_q(name)}", ok_statuses=(404,)
        )
        return None if resp.status_code == 404 else dict(resp.json())

    def functions(self, tenant: str, namespace: str) -> list[str]:
        return list(self._json("GET", f"/admin/v3/functions/{_q(tenant)}/{_q(namespace)}"))

    def put_function(self, config: Mapping[str, Any], *, package: Path, update: bool) -> None:
        """Create (POST) or update (PUT) a function from a local package file."""
        path = f"/admin/v3/functions/{_q(config['tenant'])}/{_q(config['namespace'])}/{_q(config['name'])}"
        with package.open("rb") as fh:
            files = {
                "functionConfig": (None, json.dumps(dict(config)), "application/json"),
                "data": (package.name, fh, "application/octet-stream"),
            }
            if update:
                # The deployer's current token replaces the one the worker keeps for the instances.
                files["updateOptions"] = (None, json.dumps({"update-auth-data": True}), "application/json")
            self._request("PUT" if update else "POST", path, files=files)

    def delete_function(self, tenant: str, namespace: str, name: str) -> bool:
        resp = self._request(
            "DELETE", f"/admin/v3/functions/{_q(tenant)}/{_q(namespace)}/{_q(name)}", ok_statuses=(404,)
        )
        return resp.status_code != 404

    def function_status(self, tenant: str, namespace: str, name: str) -> dict[str, Any]:
        return dict(self._json("GET", f"/admin/v3/functions/{_q(tenant)}/{_q(namespace)}/{_q(name)}/status"))

    def delete_package(self, url: str) -> bool:
        """Drop a package left behind by a failed registration (function://t/ns/name@version)."""
        kind, rest = url.split("://", 1)
        name, version = rest.rsplit("@", 1)
        resp = self._request(
            "DELETE", f"/admin/v3/packages/{_q(kind)}/{_q(name)}/{_q(version)}", ok_statuses=(404,)
        )
        return resp.status_code != 404


def _reason(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:300] or resp.reason_phrase
    if isinstance(body, dict) and "reason" in body:
        return str(body["reason"])
    return json.dumps(body)[:300]
