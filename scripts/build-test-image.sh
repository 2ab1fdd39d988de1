#!/usr/bin/env bash
# Build the `busybox:latest` image the Docker tests use, without any registry: a root filesystem of
# the host's static busybox (/bin/sh and every applet as a symlink) imported like `docker import`.
# Idempotent: does nothing when the image exists. Talks to DOCKER_HOST (or the default socket).
# The same code builds it inside the test session (tests/fixtures/docker.py, `busybox_image`).
#
#   scripts/build-test-image.sh [IMAGE]      (default busybox:latest)
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-busybox:latest}
"${PYTHON:-python3}" - "$image" <<'PY'
import sys

import docker

from tests.fixtures.docker import BUSYBOX, ensure_busybox_image

if not BUSYBOX.exists():
    sys.exit(f"error: {BUSYBOX} not found (install busybox-static)")
print(f"image {ensure_busybox_image(docker.from_env(), sys.argv[1])} is ready", file=sys.stderr)
PY
