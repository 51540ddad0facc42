#!/usr/bin/env bash
# Installs and runs the real services the tests talk to, on free loopback ports:
#   - moto_server: an AWS-API-compatible SQS + SNS server (PyPI `moto[server]`)
#   - secantusd-py: a MongoDB-wire-compatible server (PyPI `secantusdb`)
#   - redis-server: Debian's Redis 7, for tests of the hub's Redis backend (the cluster-mode
#     end-to-end tests start private servers of their own, which they kill and restart)
# Everything lives in ignored folders: .tools/venv (installs), .services/ (pids, logs, env).
#
#   scripts/services.sh install   # idempotent install only
#   scripts/services.sh start     # install, start both, write .services/env
#   scripts/services.sh stop      # stop both
# After `start`, `source .services/env` exports AWS_ENDPOINT_URL, AWS_REGION, credentials,
# MONGODB_URI, TEST_REDIS_URL, and the binaries (MOTO_SERVER_BIN, SECANTUSD_BIN) for tests that need a
# private instance they can stop.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.tools/venv"
state="$root/.services"

install() {
  if [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/secantusd-py" ]; then
    echo "services: installing moto[server] and secantusdb into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5,<6' 'secantusdb' 'boto3'
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for_port() { # port name logfile
  for _ in $(seq 1 150); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  echo "services: $2 did not start on port $1; its log:" >&2
  tail -n 30 "$3" >&2 || true
  return 1
}

start() {
  install
  stop >/dev/null 2>&1 || true
  mkdir -p "$state"
  local moto_port mongo_port redis_port
  moto_port=$(free_port)
  mongo_port=$(free_port)
  redis_port=$(free_port)
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$state/moto.log" 2>&1 &
  echo $! >"$state/moto.pid"
  "$venv/bin/secantusd-py" --host 127.0.0.1 --port "$mongo_port" --storage-path :memory: \
    --log-level WARNING >"$state/mongo.log" 2>&1 &
  echo $! >"$state/mongo.pid"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    >"$state/redis.log" 2>&1 &
  echo $! >"$state/redis.pid"
  wait_for_port "$moto_port" moto_server "$state/moto.log"
  wait_for_port "$mongo_port" secantusd-py "$state/mongo.log"
  wait_for_port "$redis_port" redis-server "$state/redis.log"
  cat >"$state/env" <<ENV
export AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export MONGODB_URI='mongodb://127.0.0.1:$mongo_port/?directConnection=true'
export TEST_REDIS_URL=redis://127.0.0.1:$redis_port
export MOTO_SERVER_BIN=$venv/bin/moto_server
export SECANTUSD_BIN=$venv/bin/secantusd-py
ENV
  echo "services: moto_server on :$moto_port, secantusd-py on :$mongo_port, redis-server on :$redis_port (env in $state/env)"
}

stop() {
  for name in moto mongo redis; do
    if [ -f "$state/$name.pid" ]; then
      kill "$(cat "$state/$name.pid")" 2>/dev/null || true
      rm -f "$state/$name.pid"
    fi
  done
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
