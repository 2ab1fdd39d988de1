#!/usr/bin/env bash
# One command to try Xene on this machine: installs it into .venv, makes sure a Docker engine answers
# (on Debian as root: installs docker.io and starts a private dockerd, builds a local busybox image),
# starts the API server on its embedded etcd and an agent, applies the examples, runs the fan-out
# pipeline and shows its result and logs. `bash deploy/quickstart.sh stop` stops what it started.
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
.venv/bin/python -m pip install -q -c constraints.txt -e . >"$state/install.log" 2>&1 || {
  echo "installing Xene failed; the end of $state/install.log:" >&2; tail -n 30 "$state/install.log" >&2
  exit 1
}
export PATH="$root/.venv/bin:$PATH"

running() { [ -f "$state/$1.pid" ] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

docker_answers() {
  .venv/bin/python -c 'import docker; docker.from_env(timeout=3).ping()' >/dev/null 2>&1
}
if ! docker_answers; then
  if [ -S /run/xene-docker.sock ]; then export DOCKER_HOST=unix:///run/xene-docker.sock; fi
fi
if ! docker_answers; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "no Docker engine answers at ${DOCKER_HOST:-the default socket}; start one (or run this" >&2
    echo "script as root on Debian, which installs and starts a private one) and try again" >&2
    exit 1
  fi
  need=()
  command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
  [ -x /usr/bin/busybox ] || [ -x /bin/busybox ] || need+=(busybox-static)
  if [ ${#need[@]} -gt 0 ]; then
    echo "== installing ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${need[@]}" >/dev/null
  fi
  echo "== starting a private dockerd"
  eval "$(bash scripts/start-dockerd.sh)"
fi
export DOCKER_HOST="${DOCKER_HOST:-unix:///var/run/docker.sock}"
# The examples use busybox:latest; with no registry in reach, build it from the host's busybox.
if ! .venv/bin/python -c 'import docker, sys; docker.from_env().images.get(sys.argv[1])' \
    busybox:latest >/dev/null 2>&1; then
  PYTHON=.venv/bin/python bash scripts/build-test-image.sh busybox:latest
fi

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

if ! running agent; then
  echo "== starting xene-agent 'local' (log in $state/agent.log)"
  nohup xene-agent --server 127.0.0.1:9090 --name local --labels os=linux \
    >"$state/agent.log" 2>&1 &
  echo $! >"$state/agent.pid"
fi
for _ in $(seq 1 100); do
  if xenectl get agents 2>/dev/null | grep -q "local.*Ready"; then break; fi
  sleep 0.1
done

echo "== xenectl apply -f examples/hello.yaml -f examples/fanout.yaml"
xenectl apply -f examples/hello.yaml -f examples/fanout.yaml
for _ in $(seq 1 100); do
  if xenectl get pipelines 2>/dev/null | grep -q "fanout.report.*Scheduled"; then break; fi
  sleep 0.1
done
echo "== xenectl get pipelines -o wide"
xenectl get pipelines -o wide
echo "== xenectl run fanout/report --wait"
result=0
xenectl run fanout/report --wait || result=$?
echo "== xenectl logs fanout/report"
xenectl logs fanout/report
echo "== xenectl runs"
xenectl runs
echo
echo "Xene is running. Try: export PATH=\"$root/.venv/bin:\$PATH\" DOCKER_HOST=$DOCKER_HOST"
echo "  xenectl run hello/build --wait; xenectl describe run fanout.report.1; xenectl get triggers"
echo "Stop it with: bash deploy/quickstart.sh stop"
exit "$result"
