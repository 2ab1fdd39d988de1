#!/usr/bin/env bash
# Run every benchmark, one JSON line each, into bench/results/<time>.jsonl (and stdout).
#
#   bench/run-all.sh              full size (1,000 agents, 10,000 pipelines; a few minutes)
#   bench/run-all.sh --quick      scaled down (100 agents, 1,000 pipelines) for a smoke run
#
# Needs `pip install -e .`; Docker figures need a Docker engine at DOCKER_HOST
# (scripts/start-dockerd.sh starts one). Set XENE_BENCH_PROFILE=/tmp/prof to have py-spy
# (pip install py-spy) sample the apiserver while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
mkdir -p bench/results
out="bench/results/$(date -u +%Y%m%dT%H%M%SZ).jsonl"
scale_args=()
memory_args=()
latency_args=()
ui_args=()
if [[ ${1:-} == "--quick" ]]; then
  scale_args=(--agents 100 --pipelines 1000 --kill 10)
  memory_args=(--pipelines 1000 --agents 10)
  latency_args=(--repeat 10)
  ui_args=(--pipelines 20 --repeat 20)
fi

run() {
  echo "== $*" >&2
  "$python" -m "$@" | tee -a "$out"
}

run bench.scale "${scale_args[@]}"
run bench.memory "${memory_args[@]}"
run bench.dag
run bench.cli_startup
run bench.ui "${ui_args[@]}"
# Docker figures are skipped inside when no engine answers; the process executor's are not.
run bench.latency "${latency_args[@]}"
if "$python" -c 'import docker; docker.from_env(timeout=5).ping()' >/dev/null 2>&1; then
  run bench.container_start
else
  echo "== bench.container_start skipped: no Docker engine at DOCKER_HOST" >&2
fi
echo "results in $out" >&2
