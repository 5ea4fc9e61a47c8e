"""A force's place on MinIO: its bucket, and three users whose policies reach that bucket only.

- `FORCE-lake` (the sink): read and write objects, never delete them;
- `FORCE-analyst` (sql, analyze, notebooks): read only;
- `FORCE-upkeep` (maintenance: compaction, checkpoints, vacuum): read, write and delete.
Their secrets are generated here and written into the force's kits (platform.credentials),
owner-only; on Kubernetes each kit becomes a Secret. This is the platform's work, done with
MinIO's root user, which nothing else holds.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import MinioAdminException, S3Error
from minio.minioadmin import MinioAdmin

from peacewatch.platform.credentials import (
    MINIO_KITS,
    Kit,
    S3Credentials,
    kit_dir,
    platform_minio,
    write_kit_credentials,
)
from peacewatch.platform.errors import PeacewatchError
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.minio import minio_admin, minio_client

__all__ = ["LakeAccess", "bucket_policy", "minio_errors", "minio_user"]


@contextmanager
def minio_errors() -> Iterator[None]:
    """MinIO's own errors as one line with what to check (the broker's are PulsarAdminError)."""
    try:
        yield
    except (S3Error, MinioAdminException) as exc:
        raise PeacewatchError(f"MinIO refused: {exc}") from None
    except urllib3.exceptions.HTTPError as exc:
        raise PeacewatchError(f"MinIO unreachable ({exc}): is the stack up? `peacewatch stack up`") from None


Access = Literal["read", "write", "maintain"]
_ACCESS: dict[Kit, Access] = {"lake": "write", "analyst": "read", "upkeep": "maintain"}
_READ = ["s3:GetObject"]
_WRITE = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
_DELETE = ["s3:DeleteObject"]


def minio_user(tenant: str, kit: Kit) -> str:
    return f"{tenant}-{kit}"


def bucket_policy(bucket: str, access: Access) -> dict[str, Any]:
    """One bucket only (not even listing other buckets); objects read, written or also deleted."""
    actions = (
        _READ
        + (_WRITE if access in ("write", "maintain") else [])
        + (_DELETE if access == "maintain" else [])
    )
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
            {"Effect": "Allow", "Action": actions, "Resource": [f"arn:aws:s3:::{bucket}/*"]},
        ],
    }


def _missing(exc: MinioAdminException) -> bool:
    return "404" in str(exc)


class LakeAccess:
    """Buckets, policies and users of forces on one MinIO, as the MinIO root user."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = platform_minio(settings)
        self.s3: Minio = minio_client(settings)
        self.admin: MinioAdmin = minio_admin(settings)

    # -- what is there ------------------------------------------------------------------------
    def bucket_exists(self, tenant: str) -> bool:
        return bool(self.s3.bucket_exists(self.settings.tenant_bucket(tenant)))

    def policy(self, tenant: str, kit: Kit) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.admin.policy_info(minio_user(tenant, kit))))
        except MinioAdminException as exc:
            if _missing(exc):
                return None
            raise

    def wanted_policy(self, tenant: str, kit: Kit) -> dict[str, Any]:
        return bucket_policy(self.settings.tenant_bucket(tenant), _ACCESS[kit])

    def user_policy(self, tenant: str, kit: Kit) -> str | None:
        """The policy attached to the kit's user, '' if none, None if there is no user."""
        try:
            info = json.loads(self.admin.user_info(minio_user(tenant, kit)))
        except MinioAdminException as exc:
            if _missing(exc):
                return None
            raise
        return str(info.get("policyName") or "")

    def has_credentials(self, tenant: str, kit: Kit) -> bool:
        return (kit_dir(self.settings, tenant, kit) / "minio.json").exists()

    def object_count(self, tenant: str, *, outside: str = "", limit: int = 1000) -> int:
        """Objects in the tenant's bucket (not counting those under the prefix `outside`)."""
        if not self.bucket_exists(tenant):
            return 0
        n = 0
        for obj in self.s3.list_objects(self.settings.tenant_bucket(tenant), recursive=True):
            if outside and (obj.object_name or "").startswith(outside):
                continue
            n += 1
            if n >= limit:
                break
        return n

    # -- changes --------------------------------------------------------------------------------
    def create_bucket(self, tenant: str) -> None:
        self.s3.make_bucket(self.settings.tenant_bucket(tenant))

    def put_policy(self, tenant: str, kit: Kit) -> None:
        self.admin.policy_add(minio_user(tenant, kit), policy=self.wanted_policy(tenant, kit))

    def put_user(self, tenant: str, kit: Kit) -> None:
        """(Re)create the kit's user with a new secret, attach its policy, write the kit."""
        user = minio_user(tenant, kit)
        secret = secrets.token_urlsafe(30)
        self.admin.user_add(user, secret)
        self.admin.policy_set(user, user=user)
        write_kit_credentials(self.settings, tenant, kit, S3Credentials(access_key=user, secret_key=secret))

    def remove(self, tenant: str) -> list[str]:
        """Drop the users, the policies, every object and the bucket."""
        done = []
        for kit in MINIO_KITS:
            user = minio_user(tenant, kit)
            if self.user_policy(tenant, kit) is not None:
                self.admin.user_remove(user)
                done.append(f"MinIO user {user}")
            if self.policy(tenant, kit) is not None:
                self.admin.policy_remove(user)
                done.append(f"MinIO policy {user}")
        bucket = self.settings.tenant_bucket(tenant)
        if self.bucket_exists(tenant):
            objects = (DeleteObject(o.object_name) for o in self.s3.list_objects(bucket, recursive=True)
                       if o.object_name)  # fmt: skip
            errors = list(self.s3.remove_objects(bucket, objects))
            if errors:
                raise PeacewatchError(f"could not delete {len(errors)} objects of {bucket}: {errors[0]}")
            self.s3.remove_bucket(bucket)
            done.append(f"bucket {bucket} and its objects")
        return done
