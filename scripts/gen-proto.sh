#!/usr/bin/env bash
# Generate the Python code of the agent protocol from proto/ into xene/proto/.
#
#   scripts/gen-proto.sh [OUT_DIR]     default OUT_DIR: xene/proto (the checked-in copy)
#
# Needs grpcio-tools (`pip install -e .[test]`). The generated modules are post-processed so that
#  - they import each other as the package `xene.proto.xene.v1` (protoc writes `from xene.v1 ...`);
#  - message classes report their real module name;
#  - agent_pb2.py does not refuse to load on a protobuf runtime older than the protoc that wrote
#    it (ValidateProtobufRuntimeVersion): the messages use only proto3 features every supported
#    runtime (protobuf>=4.25) has, and a hard failure at import would take the agent down for a
#    version stamp.
# scripts/check-proto.sh runs this into a temporary directory and diffs against xene/proto.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-xene/proto}
python=${PYTHON:-python}

mkdir -p "$out/xene/v1"
mapfile -t protos < <(find proto -name '*.proto' | sort)
"$python" -m grpc_tools.protoc -I proto \
  --python_out="$out" --grpc_python_out="$out" --pyi_out="$out" "${protos[@]}"

for generated in "$out"/xene/v1/*_pb2.py "$out"/xene/v1/*_pb2_grpc.py "$out"/xene/v1/*_pb2.pyi; do
  sed -i \
    -e 's/^from xene\.v1 import /from xene.proto.xene.v1 import /' \
    -e "s/'xene\.v1\.\([a-z_]*_pb2\)'/'xene.proto.xene.v1.\1'/" \
    "$generated"
done
for generated in "$out"/xene/v1/*_pb2.py; do
  # Drop the runtime version guard: the import line and the call spanning to its closing paren.
  sed -i \
    -e '/^from google\.protobuf import runtime_version as _runtime_version$/d' \
    -e '/^_runtime_version\.ValidateProtobufRuntimeVersion($/,/^)$/d' \
    "$generated"
done

for package in "$out" "$out/xene" "$out/xene/v1"; do
  [ -f "$package/__init__.py" ] || : >"$package/__init__.py"
done
echo "generated $(ls "$out"/xene/v1/*_pb2*.py* | tr '\n' ' ')"
