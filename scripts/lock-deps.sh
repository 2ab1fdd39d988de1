#!/usr/bin/env bash
# Refreshes constraints.txt, the pinned versions of every runtime and test dependency (all extras of
# pyproject.toml) that CI and the quickstart install with `pip install -c constraints.txt`, so that a
# new upstream release cannot change what CI runs until this is run and the result committed.
#   bash scripts/lock-deps.sh              # re-resolve from pyproject.toml, keeping current pins
#   bash scripts/lock-deps.sh --upgrade    # take the newest releases allowed by pyproject.toml
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${XENE_LOCK_TOOLS:-${TMPDIR:-/tmp}/xene-lock-tools}"
if [ ! -x "$tools/bin/uv" ]; then
  python3 -m venv "$tools"
  "$tools/bin/python" -m pip install -q uv
fi
"$tools/bin/uv" pip compile pyproject.toml --all-extras --universal --python-version 3.11 \
  --no-header --quiet "$@" -o constraints.txt
{
  echo "# Pinned versions of every dependency of Xene and its tests; refresh with"
  echo "# 'bash scripts/lock-deps.sh' (or '--upgrade'), never by hand."
  cat constraints.txt
} >constraints.txt.new
mv constraints.txt.new constraints.txt
echo "constraints.txt: $(grep -c '==' constraints.txt) pinned packages"
