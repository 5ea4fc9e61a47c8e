"""The token kits' onboarding steps: each kit holds a current token for its role.

A kit's token is re-issued when missing, for another role or generation, signed with another key
or past `tokens.renew_after` of its life (Settings.tokens: lifetimes are settings)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from functools import partial

from peacewatch.platform.auth import mint_token, secret_key, token_needs_renewal
from peacewatch.platform.credentials import TOKEN_KITS, Kit, kit_dir, write_kit_token
from peacewatch.platform.settings import Settings
from peacewatch.platform.steps import Step, StepKey

__all__ = ["KitResource", "kit_token_steps"]


class KitResource(StrEnum):
    TOKEN = "kit token"  # noqa: S105 - a step kind, not a secret; name: the kit


def _kit_token_state(settings: Settings, tenant: str, kit: Kit, role: str) -> str:
    import jwt

    path = kit_dir(settings, tenant, kit) / "token"
    if not path.exists():
        return "missing"
    token = path.read_text().strip()
    try:
        claims = jwt.decode(token, secret_key(settings), algorithms=["HS256"], options={"verify_exp": False})
    except jwt.PyJWTError:
        return "signed with another key"
    if claims.get("sub") != role:
        return f"for {claims.get('sub')}"
    t = settings.tokens
    if token_needs_renewal(token, lifetime=t.kit(kit), renew_after=t.renew_after):
        return "due for renewal"
    return "current"


def _write_kit_token(settings: Settings, tenant: str, kit: Kit, role: str) -> None:
    token = mint_token(secret_key(settings), role=role, expires_in=settings.tokens.kit(kit))
    write_kit_token(settings, tenant, kit, token)


def _lifetime(span: timedelta) -> str:
    return f"{span.days} days" if span >= timedelta(days=2) else f"{span.total_seconds():.0f} s"


def kit_token_steps(settings: Settings, *, tenant: str, roles: Mapping[Kit, str]) -> list[Step]:
    """One step per token kit; `roles`: each kit's broker role (with the force's generation)."""
    return [
        Step(
            StepKey(KitResource.TOKEN, kit),
            f"{kit} kit token ({roles[kit]}, {_lifetime(settings.tokens.kit(kit))})",
            _kit_token_state(settings, tenant, kit, roles[kit]),
            "current",
            partial(_write_kit_token, settings, tenant, kit, roles[kit]),
        )
        for kit in TOKEN_KITS
    ]
