#!/usr/bin/env bash
# Fail (exit 1) when the checked-in code in xene/proto/ differs from what proto/ generates.
#
# Lines that only stamp the generator's version (`# Protobuf Python Version:`,
# `GRPC_GENERATED_VERSION = `) are ignored, so a newer grpcio-tools does not count as drift.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash scripts/gen-proto.sh "$tmp/fresh" >/dev/null

normalize() {
  mkdir -p "$2"
  (cd "$1" && find . -name '*.py' -o -name '*.pyi' | grep -v __pycache__) | while read -r file; do
    mkdir -p "$2/$(dirname "$file")"
    grep -v -e '^# Protobuf Python Version:' -e '^GRPC_GENERATED_VERSION = ' "$1/$file" \
      >"$2/$file" || true
  done
}
normalize xene/proto "$tmp/checked-in"
normalize "$tmp/fresh" "$tmp/expected"

if ! diff -ru "$tmp/expected" "$tmp/checked-in"; then
  echo "xene/proto is out of date with proto/: run scripts/gen-proto.sh and commit the result" >&2
  exit 1
fi
echo "xene/proto matches proto/"
