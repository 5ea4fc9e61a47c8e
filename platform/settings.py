"""One Settings object, built once at the edge (CLI, test fixture) and passed down explicitly.

Sources, highest first: keyword arguments, environment (PEACEWATCH_..., nested with __),
peacewatch.toml in the working directory, defaults.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from peacewatch.platform.kube.settings import KubeSettings

__all__ = ["MinioSettings", "PulsarSettings", "Settings", "SparkSettings", "TokenSettings"]


class PulsarSettings(BaseModel):
    """The local Apache Pulsar standalone (broker, bookie, metadata store, functions worker)."""

    version: str = "4.0.8"
    host: str = "127.0.0.1"
    broker_port: int = 6650
    web_port: int = 8080
    bookie_port: int = 3181
    zookeeper_port: int = 2181
    stream_storage_port: int = 4181
    # Heap stays <= 1 GiB: the machine has 2 cores and other components share it.
    heap: str = "1g"
    direct_memory: str = "1g"
    http_threads: int = Field(
        default=16,
        ge=8,
        description="Jetty threads; the worker's package upload calls back into the same server, "
        "so a small pool (the default is 2 x cores) deadlocks function registration.",
    )
    startup_timeout_s: float = 120.0
    function_sandbox: bool = Field(
        default=True,
        description="Run Python function instances in mount/PID namespaces with a clean environment "
        "(platform/stack/sandbox.py). Off, a force admin's function could read the platform's keys.",
    )
    # Ledger rollover: offload to MinIO happens only for closed ledgers (tests roll over fast).
    max_entries_per_ledger: int = Field(default=50_000, ge=10)
    min_ledger_rollover_minutes: int = Field(default=10, ge=0)

    @property
    def service_url(self) -> str:
        return f"pulsar://{self.host}:{self.broker_port}"

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"


class MinioSettings(BaseModel):
    """The local MinIO server, built from the Go module proxy."""

    # `go install github.com/minio/minio@<module_version>`; MinIO tags are not semver,
    # so the proxy knows releases by pseudo-version.
    module_version: str = "v0.0.0-20260212201848-7aac2a2c5b7c"
    host: str = "127.0.0.1"
    port: int = 9000
    console_port: int = 9001
    access_key: str = "peacewatch"
    # No default: generated at the first `stack up` (owner-only, STATE/secrets/minio-root.json)
    # unless the operator sets one (PEACEWATCH_MINIO__SECRET_KEY).
    secret_key: SecretStr | None = None
    region: str = "us-east-1"
    startup_timeout_s: float = 60.0

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"


class SparkSettings(BaseModel):
    """Local Spark for the analysts' SQL: delta-spark and hadoop-aws jars from Maven Central."""

    master: str = "local[2]"
    driver_memory: str = "4g"
    # 2 cores: the default 200 shuffle partitions would mostly schedule empty tasks.
    shuffle_partitions: int = Field(default=8, ge=1)
    # Must match the Hadoop that pyspark ships (pyspark 4.2.0: hadoop-client 3.5.0).
    hadoop_aws_version: str = "3.5.0"
    ui: bool = False


class FunctionPackageSettings(BaseModel):
    """Which machine the alert function's dependency wheels are for. Unset: the deploying machine
    (the local stack's instances run with our interpreter). On Kubernetes the instances are pods of
    the functions image (apachepulsar/pulsar-all: Alpine, musl, Python 3.12)."""

    platform: str | None = Field(default=None, pattern=r"^[a-z0-9_]+$", examples=["musllinux_1_1_x86_64"])
    python: str | None = Field(default=None, pattern=r"^3\.[0-9]+$", examples=["3.12"])


class TokenSettings(BaseModel):
    """Token lifetimes and when they are renewed (PEACEWATCH_TOKENS__*: seconds or ISO 8601, e.g.
    P30D). A setting, not a constant, so that a test lives a season in minutes."""

    model_config = ConfigDict(frozen=True)

    superuser: timedelta = Field(default=timedelta(days=30), gt=timedelta(seconds=10))
    # The kits' (the platform's own processes); people's tokens (`tenants token`) are separate.
    lake: timedelta = Field(default=timedelta(days=30), gt=timedelta(seconds=10))
    fleet: timedelta = Field(default=timedelta(days=90), gt=timedelta(seconds=10))
    officer: timedelta = Field(default=timedelta(days=7), gt=timedelta(seconds=10))
    alerting: timedelta = Field(default=timedelta(days=365), gt=timedelta(seconds=10))
    renew_after: float = Field(
        default=0.5, ge=0.05, le=0.9,
        description="A token is renewed once this fraction of its life has passed.",
    )  # fmt: skip

    @field_validator("superuser", "lake", "fleet", "officer", "alerting", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        # An environment variable is a string: "120" means seconds, as the number 120 does.
        return int(value) if isinstance(value, str) and value.strip().isdigit() else value

    def kit(self, kit: str) -> timedelta:
        lifetime: timedelta = getattr(self, kit)
        return lifetime


class Settings(BaseSettings):
    """Everything a peacewatch component needs to know about where things are."""

    model_config = SettingsConfigDict(
        env_prefix="PEACEWATCH_",
        env_nested_delimiter="__",
        toml_file="peacewatch.toml",
        extra="forbid",
    )

    state_dir: Path = Field(
        default_factory=lambda: Path.home() / ".local" / "state" / "peacewatch",
        description="Runtime state: data, logs, pid files, rendered configs.",
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "peacewatch",
        description="Downloads and builds, reused across runs and offline.",
    )
    pulsar: PulsarSettings = Field(default_factory=PulsarSettings)
    minio: MinioSettings = Field(default_factory=MinioSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    function_package: FunctionPackageSettings = Field(default_factory=FunctionPackageSettings)
    kube: KubeSettings = Field(default_factory=KubeSettings)
    tokens: TokenSettings = Field(default_factory=TokenSettings)
    helm_version: str = Field(default="v3.22.0", description="helm CLI built with go install (chart tests)")
    prometheus_version: str = Field(
        default="v0.316.0",  # the module's version of Prometheus 3.x; the server, built with go install
        description="Prometheus for the metrics test (github.com/prometheus/prometheus/cmd/prometheus)",
    )
    bucket_prefix: str = Field(
        default="peacewatch-",
        pattern=r"^[a-z0-9][a-z0-9-]{0,20}$",
        description="Each tenant's MinIO bucket is {bucket_prefix}{tenant}: its lake and offloaded ledgers.",
    )
    lake_dir: Path | None = Field(
        default=None, description="A local directory for the Delta lake instead of MinIO (embedded mode)."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    def tenant_bucket(self, tenant: str) -> str:
        return f"{self.bucket_prefix}{tenant}"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"
