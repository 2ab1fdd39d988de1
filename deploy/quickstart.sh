#!/usr/bin/env bash
# One command to try Xene on this machine: installs it into .venv, starts the API server on its
# embedded etcd (and an agent once agents exist), applies examples/hello.yaml and shows the result.
# `bash deploy/quickstart.sh stop` stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
state="${XENE_QUICKSTART_DIR:-$HOME/.xene/quickstart}"
server="${XENE_SERVER:-http://127.0.0.1:8080}"
mkdir -p "$state"

stop_all() {
  for name in agent apiserver; do
    if [ -f "$state/$name.pid" ]; then
      pid=$(cat "$state/$name.pid")
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        echo "stopped $name (pid $pid)"
      fi
      rm -f "$state/$name.pid"
    fi
  done
}

if [ "${1:-}" = "stop" ]; then stop_all; exit 0; fi

echo "== installing Xene into $root/.venv"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q -e . >"$state/install.log" 2>&1 || {
  echo "installing Xene failed; the end of $state/install.log:" >&2; tail -n 30 "$state/install.log" >&2
  exit 1
}
export PATH="$root/.venv/bin:$PATH"

running() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

if running apiserver; then
  echo "== xene-apiserver already running (pid $(cat "$state/apiserver.pid"))"
else
  echo "== starting xene-apiserver with embedded etcd (data in ~/.xene, log in $state/apiserver.log)"
  nohup xene-apiserver >"$state/apiserver.log" 2>&1 &
  echo $! >"$state/apiserver.pid"
fi
for _ in $(seq 1 300); do
  if curl -fsS "$server/readyz" >/dev/null 2>&1; then break; fi
  if ! running apiserver; then
    echo "xene-apiserver exited; its log:" >&2; tail -n 30 "$state/apiserver.log" >&2; exit 1
  fi
  sleep 0.1
done
curl -fsS "$server/readyz" >/dev/null || { echo "xene-apiserver did not become ready" >&2; exit 1; }

if xene-agent --help >/dev/null 2>&1 && xene-agent --help | grep -q -- "--server"; then
  if ! running agent; then
    echo "== starting xene-agent 'local' (log in $state/agent.log)"
    nohup xene-agent --server 127.0.0.1:9090 --name local --labels os=linux \
      >"$state/agent.log" 2>&1 &
    echo $! >"$state/agent.pid"
  fi
fi

echo "== xenectl apply -f examples/hello.yaml"
xenectl apply -f examples/hello.yaml
for _ in $(seq 1 50); do
  if xenectl get pipelines -o name 2>/dev/null | grep -q .; then break; fi
  sleep 0.1
done
echo "== xenectl get workflows"
xenectl get workflows
echo "== xenectl get pipelines -o wide"
xenectl get pipelines -o wide
echo
echo "Xene is running. Try: export PATH=\"$root/.venv/bin:\$PATH\"; xenectl get triggers"
echo "Stop it with: bash deploy/quickstart.sh stop"
