#!/usr/bin/env bash
# Start a private Docker engine for tests and development, in the background.
#
#   scripts/start-dockerd.sh [ROOT_DIR [SOCKET]]   start (or reuse) a daemon, print `export DOCKER_HOST=...`
#   scripts/start-dockerd.sh --stop [ROOT_DIR]     stop the daemon started with that ROOT_DIR
#
# ROOT_DIR (env XENE_DOCKER_ROOT, default /var/lib/xene-test-docker) holds data/, exec/, the pid file
# and dockerd.log; SOCKET (env XENE_DOCKER_SOCK, default /run/xene-docker.sock) is where it listens.
# The flags keep the daemon self-contained: no iptables rules, no bridge, the vfs storage driver
# (works inside containers and VMs without overlayfs), so it never touches the host's network setup.
set -euo pipefail

dockerd_bin=${DOCKERD:-/usr/sbin/dockerd}
stop=0
if [[ ${1:-} == "--stop" ]]; then
  stop=1
  shift
fi
root=${1:-${XENE_DOCKER_ROOT:-/var/lib/xene-test-docker}}
sock=${2:-${XENE_DOCKER_SOCK:-/run/xene-docker.sock}}
pidfile="$root/dockerd.pid"
log="$root/dockerd.log"

answers() {
  if command -v curl >/dev/null; then
    curl --silent --fail --max-time 2 --unix-socket "$1" http://localhost/_ping >/dev/null 2>&1
  else
    python3 - "$1" >/dev/null 2>&1 <<'PY'
import socket, sys
with socket.socket(socket.AF_UNIX) as s:
    s.settimeout(2)
    s.connect(sys.argv[1])
    s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
    sys.exit(0 if s.recv(64).split()[1:2] == [b"200"] else 1)
PY
  fi
}

if ((stop)); then
  if [[ -f $pidfile ]]; then
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
    fi
    echo "stopped dockerd (pid $pid)" >&2
  else
    echo "no dockerd pid file at $pidfile" >&2
  fi
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "error: dockerd needs root (run as root or use an existing DOCKER_HOST)" >&2
  exit 1
fi
if [[ ! -x $dockerd_bin ]]; then
  echo "error: $dockerd_bin not found (install docker.io or set DOCKERD)" >&2
  exit 1
fi

if answers "$sock"; then
  echo "dockerd already answers on $sock" >&2
  echo "export DOCKER_HOST=unix://$sock"
  exit 0
fi

mkdir -p "$root/data" "$root/exec" "$(dirname "$sock")"
rm -f "$sock"
# setsid: the daemon must outlive this script and not get the caller's terminal signals.
setsid "$dockerd_bin" \
  --data-root "$root/data" \
  --exec-root "$root/exec" \
  --pidfile "$pidfile" \
  -H "unix://$sock" \
  --iptables=false --ip6tables=false --bridge=none \
  --storage-driver=vfs \
  >"$log" 2>&1 </dev/null &
pid=$!

for _ in $(seq 1 300); do
  if answers "$sock"; then
    echo "dockerd (pid $pid) answers on $sock; log: $log" >&2
    echo "export DOCKER_HOST=unix://$sock"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "error: dockerd exited during start; last lines of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  sleep 0.1
done
echo "error: dockerd did not answer on $sock within 30s; last lines of $log:" >&2
tail -n 20 "$log" >&2
kill "$pid" 2>/dev/null || true
exit 1
