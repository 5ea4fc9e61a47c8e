#!/bin/sh
# The MinIO chart starts `/usr/bin/docker-entrypoint.sh minio server ...`: run what it names.
set -e
exec "$@"
