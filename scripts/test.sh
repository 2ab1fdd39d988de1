#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine (etcd, a Docker engine, busybox,
# the Python packages) and runs lint, type checks, the proto drift check and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

say() { printf '\n== %s\n' "$*"; }

need_apt=()
command -v /usr/bin/etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
[ -x /usr/bin/busybox ] || [ -x /bin/busybox ] || need_apt+=(busybox-static)
# xenectl's completion tests source its scripts in each shell it supports.
command -v zsh >/dev/null 2>&1 || need_apt+=(zsh)
command -v fish >/dev/null 2>&1 || need_apt+=(fish)
# The web UI's tests drive Debian's Chromium headless through Playwright (no browser download).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing ${need_apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=sudo; else sudo_cmd=; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    "${need_apt[@]}" >/dev/null
fi
# The Debian package starts an etcd service on 2379 on some systems; tests use their own ports.

say "installing Python packages into .venv"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# constraints.txt pins every version (refresh: bash scripts/lock-deps.sh), so CI is reproducible.
.venv/bin/python -m pip install -q -c constraints.txt -e ".[test]"
export PATH="$root/.venv/bin:$PATH"

say "starting dockerd"
eval "$(bash scripts/start-dockerd.sh)"
export XENE_REQUIRE_DOCKER=1
export XENE_REQUIRE_BROWSER=1
export XENE_UI_ARTIFACTS="$root/test-output/ui-failures"
rm -rf "$XENE_UI_ARTIFACTS"
bash scripts/build-test-image.sh

say "ruff"
lint_paths=(xene tests); [ -d bench ] && lint_paths+=(bench)
ruff check "${lint_paths[@]}"
ruff format --check "${lint_paths[@]}"
say "mypy"
mypy xene
[ -d bench ] && mypy bench
if [ -f scripts/check-proto.sh ]; then
  say "generated protobuf code matches proto/"
  bash scripts/check-proto.sh
fi

say "pytest"
status=0
python -m pytest -q -p no:cacheprovider "$@" || status=$?
if [ -d "$XENE_UI_ARTIFACTS" ] && [ -n "$(ls -A "$XENE_UI_ARTIFACTS")" ]; then
  say "screenshots of failed browser tests in $XENE_UI_ARTIFACTS"
  ls -l "$XENE_UI_ARTIFACTS"
fi
exit "$status"
