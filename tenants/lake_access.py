"""A tenant's place on MinIO: its bucket, and a user whose policy reaches that bucket only.

The user's secret is generated here and kept owner-only in the state directory (on Kubernetes,
a Secret); Spark sessions and sinks opened "as the tenant" read it from there.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from minio import Minio
from minio.credentials.providers import StaticProvider
from minio.deleteobjects import DeleteObject
from minio.error import MinioAdminException
from minio.minioadmin import MinioAdmin

from peacewatch.lakehouse.lake import S3Credentials
from peacewatch.platform.auth import secrets_dir, write_private
from peacewatch.platform.errors import PeacewatchError
from peacewatch.platform.settings import Settings
from peacewatch.platform.stack.minio import minio_client

__all__ = ["LakeAccess", "bucket_policy", "lake_credentials_for", "lake_user", "tenant_credentials"]


def lake_user(tenant: str) -> str:
    return f"{tenant}-lake"


def bucket_policy(bucket: str) -> dict[str, Any]:
    """Read and write inside one bucket; nothing else (not even listing other buckets)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                "Resource": [f"arn:aws:s3:::{bucket}"],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                           "s3:ListMultipartUploadParts"],
                "Resource": [f"arn:aws:s3:::{bucket}/*"],
            },
        ],
    }  # fmt: skip


def _credentials_file(settings: Settings, tenant: str) -> Path:
    return secrets_dir(settings) / "tenants" / f"{tenant}-minio.json"


def tenant_credentials(settings: Settings, tenant: str) -> S3Credentials:
    """The tenant's own MinIO credentials (written by onboarding)."""
    path = _credentials_file(settings, tenant)
    if not path.exists():
        raise PeacewatchError(
            f"no MinIO credentials for tenant {tenant!r} in {path.parent}: onboard it with "
            f"`peacewatch tenants add {tenant}`"
        )
    data = json.loads(path.read_text())
    return S3Credentials(access_key=data["access_key"], secret_key=data["secret_key"])


def lake_credentials_for(settings: Settings, tenant: str) -> S3Credentials | None:
    """The credentials a tenant's sink or analysis uses; None means the platform's (or no MinIO)."""
    if settings.lake_dir is not None or settings.lake_credentials == "platform":
        return None
    return tenant_credentials(settings, tenant)


def _missing(exc: MinioAdminException) -> bool:
    return "404" in str(exc)


class LakeAccess:
    """Bucket, policy and user of tenants on one MinIO, as the MinIO root user."""

    def __init__(self, settings: Settings) -> None:
        m = settings.minio
        self.settings = settings
        self.s3: Minio = minio_client(settings)
        self.admin = MinioAdmin(
            endpoint=m.endpoint,
            credentials=StaticProvider(m.access_key, m.secret_key.get_secret_value()),
            region=m.region,
            secure=False,
        )

    # -- what is there ------------------------------------------------------------------------
    def bucket_exists(self, tenant: str) -> bool:
        return bool(self.s3.bucket_exists(self.settings.tenant_bucket(tenant)))

    def policy(self, tenant: str) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.admin.policy_info(lake_user(tenant))))
        except MinioAdminException as exc:
            if _missing(exc):
                return None
            raise

    def user_policy(self, tenant: str) -> str | None:
        """The policy attached to the tenant's user, '' if none, None if there is no user."""
        try:
            info = json.loads(self.admin.user_info(lake_user(tenant)))
        except MinioAdminException as exc:
            if _missing(exc):
                return None
            raise
        return str(info.get("policyName") or "")

    def has_credentials(self, tenant: str) -> bool:
        return bool(_credentials_file(self.settings, tenant).exists())

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

    def put_policy(self, tenant: str) -> None:
        self.admin.policy_add(lake_user(tenant), policy=bucket_policy(self.settings.tenant_bucket(tenant)))

    def put_user(self, tenant: str) -> None:
        """(Re)create the user with a new secret, attach its policy, keep the secret owner-only."""
        secret = secrets.token_urlsafe(30)
        self.admin.user_add(lake_user(tenant), secret)
        self.admin.policy_set(lake_user(tenant), user=lake_user(tenant))
        body = json.dumps({"access_key": lake_user(tenant), "secret_key": secret}).encode()
        write_private(_credentials_file(self.settings, tenant), body)

    def remove(self, tenant: str) -> list[str]:
        """Drop the user, the policy, every object and the bucket."""
        done = []
        if self.user_policy(tenant) is not None:
            self.admin.user_remove(lake_user(tenant))
            done.append(f"MinIO user {lake_user(tenant)}")
        if self.policy(tenant) is not None:
            self.admin.policy_remove(lake_user(tenant))
            done.append(f"MinIO policy {lake_user(tenant)}")
        _credentials_file(self.settings, tenant).unlink(missing_ok=True)
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
