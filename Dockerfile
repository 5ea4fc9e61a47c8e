# The peacewatch image used by the Helm chart: the package, its Python dependencies and a Java
# runtime for Spark (analyses, notebooks). Build from the repository root:
#   docker build -t ghcr.io/peaceland/peacewatch:0.1.0 .
FROM python:3.11-slim-bookworm

# Java for Spark's driver JVM; nothing else from the OS.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/peacewatch/venv \
    PATH=/opt/peacewatch/venv/bin:$PATH \
    PYSPARK_PYTHON=/opt/peacewatch/venv/bin/python \
    PEACEWATCH_CACHE_DIR=/opt/peacewatch/cache \
    # The alert function's wheels for the functions image (apachepulsar/pulsar-all: Alpine, musl,
    # Python 3.12), not for this image: its instances run there.
    PEACEWATCH_FUNCTION_PACKAGE__PLATFORM=musllinux_1_1_x86_64 \
    PEACEWATCH_FUNCTION_PACKAGE__PYTHON=3.12 \
    PYTHONUNBUFFERED=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY platform platform
COPY tenants tenants
COPY functions functions
COPY simulator simulator
COPY lakehouse lakehouse
COPY cli cli
RUN python -m venv "$VIRTUAL_ENV" \
    && pip install --no-cache-dir . \
    # Resolve Spark's Delta and S3A jars at build time, so pods start without Maven Central.
    && python -c "from peacewatch.platform.settings import Settings; \
from peacewatch.lakehouse.query.spark import spark_session; spark_session(Settings()).stop()" \
    # ... and the alert function's package, so the onboarding Job needs no package index.
    && python -c "from peacewatch.platform.settings import Settings; \
from peacewatch.functions.deploy.packaging import build_function_zip; build_function_zip(Settings())" \
    && chmod -R a+rX /opt/peacewatch

RUN useradd --uid 10001 --create-home peacewatch
USER 10001
WORKDIR /home/peacewatch
ENTRYPOINT ["peacewatch"]
CMD ["--help"]
