#!/usr/bin/env bash
# Build the `busybox:latest` image the examples and Docker tests use, without any registry: a root
# filesystem of the host's static busybox (/bin/sh and every applet as a symlink) imported like
# `docker import`. Idempotent: does nothing when the image exists. Talks to DOCKER_HOST (or the
# default socket). The code is xene/busybox_image.py, which the quickstart and the test fixtures
# (`busybox_image`) use too.
#
#   scripts/build-test-image.sh [IMAGE]      (default busybox:latest)
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" -m xene.busybox_image "$@"
