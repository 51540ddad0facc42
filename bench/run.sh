#!/usr/bin/env bash
# Benchmarks Session Gateway against Nchan and Pushpin with the same load, on loopback
# (`just bench` runs this). Scenarios (BENCHMARKS.md has their tables):
#   fanout    (a) 1 session × 5 000 subscribers, 10 events/s
#   sessions  (b) 10 000 sessions × 1 subscriber, 5 000 publishes/s
#   idle      (c) 50 000 idle SSE connections: memory (PSS) per connection
#   storm     (d) 1 session × 5 000 subscribers that all drop at once and resume with
#                 Last-Event-ID while 20 events/s keep flowing
# and (e): fanout, sessions (and storm) on two gateway nodes sharing Redis (target
# gateway-redis). Optional: burst, publish, sqs, redis-memory (the older single
# measurements; publish is the burst with one subscriber: what a publish request costs).
# Before the scenarios it measures for 10 s how often the machine takes a busy core away
# (bench/machine_stalls.py), and prints it with the machine.
#
#   bench/run.sh                                  # everything, BENCH_REPEATS times
#   BENCH_SCALE=0.05 BENCH_SECONDS=3 BENCH_REPEATS=1 bench/run.sh   # a smoke run
#   BENCH_TARGETS="gateway nchan" BENCH_SCENARIOS="idle" bench/run.sh
#   BENCH_BIN_DIR=DIR bench/run.sh   # prebuilt release `gateway` and `loadgen`, no build
#   BENCH_RECORDS=FILE               # keep every run's JSON record (loadgen --summarize FILE)
#   BENCH_PIN=0                      # do not pin (default: the target on the first half of
#                                    # the cores, the load generator on the second half)
#
# It installs the peers from Debian when missing (apt-get, idempotent), builds the gateway
# and the load generator in release mode, starts each target on a free 127.0.0.1 port
# for each run (fresh process, so CPU and memory belong to that run alone), alternates
# the targets within each repeat, and stops everything it started on exit. A run with a
# gap, duplicate, reordered or missing event, or a broken stream, is marked failed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
targets=${BENCH_TARGETS:-gateway gateway-redis nchan pushpin}
scenarios=${BENCH_SCENARIOS:-fanout sessions idle storm}
repeats=${BENCH_REPEATS:-3}
scale=${BENCH_SCALE:-1}
seconds=${BENCH_SECONDS:-10}
work=$(mktemp -d /tmp/session-gateway-bench.XXXXXX)
records=${BENCH_RECORDS:-$work/records.jsonl}
started=()

# Pinning: the target's processes on the first half of the cores, the load generator on
# the other half, so neither steals the other's CPU (with 2 cores: one each).
cores=$(nproc)
if [ "${BENCH_PIN:-1}" != 0 ] && [ "$cores" -ge 2 ] && command -v taskset >/dev/null; then
  half=$((cores / 2))
  target_cpus="0-$((half - 1))" client_cpus="$half-$((cores - 1))"
  on_target=(taskset -c "$target_cpus") on_client=(taskset -c "$client_cpus")
  pinning="target on CPU $target_cpus, load generator on CPU $client_cpus (taskset)"
else
  on_target=() on_client=()
  pinning="not pinned"
fi

# n × BENCH_SCALE, at least 1.
scaled() { python3 -c "import sys; print(max(1, round($1 * float(sys.argv[1]))))" "$scale"; }

cleanup() {
  for pid in "${started[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for_port() { # port name
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  log "$2 did not listen on port $1"
  return 1
}

# Stops the processes started since index $1 of `started`, newest first.
stop_from() {
  local i
  for ((i = ${#started[@]} - 1; i >= $1; i--)); do
    kill "${started[$i]}" 2>/dev/null || true
    wait "${started[$i]}" 2>/dev/null || true
    unset 'started[i]'
  done
  started=("${started[@]}")
}

install_peers() {
  local missing=()
  if ! command -v nginx >/dev/null || [ ! -e /usr/lib/nginx/modules/ngx_nchan_module.so ]; then
    missing+=(nginx-light libnginx-mod-nchan)
  fi
  if [[ " $targets " == *" pushpin "* ]] && ! command -v pushpin >/dev/null; then
    missing+=(pushpin)
  fi
  if [[ " $targets " == *" gateway-redis "* ]] && ! command -v redis-server >/dev/null; then
    missing+=(redis-server)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
}

# Each start_* sets `url` (subscribe side), `extra` (more loadgen flags) and `pids`.
start_gateway() { # [VAR=value ...] extra environment
  local port
  port=$(free_port)
  # The load generator is one client address: lift the per-client limits it would hit.
  "${on_target[@]}" env -i PATH="$PATH" LISTEN_ADDR="127.0.0.1:$port" RUST_LOG=warn \
    MAX_STREAMS_PER_CLIENT=1000000 MAX_STREAMS=1000000 POST_RATE_PER_MINUTE=0 "$@" \
    "$work/bin/gateway" >>"$work/gateway.log" 2>&1 &
  started+=($!)
  wait_for_port "$port" gateway || return 1
  url="http://127.0.0.1:$port" extra=() pids=$!
}

# Two gateway nodes sharing one redis-server: events are published through the first,
# subscribers are spread over both, so half of them are served across nodes. The pids
# measured are both nodes' and Redis's.
start_gateway-redis() {
  local redis_port first second
  redis_port=$(free_port)
  "${on_target[@]}" redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    >"$work/redis.log" 2>&1 &
  started+=($!)
  local redis=$!
  wait_for_port "$redis_port" redis-server || return 1
  start_gateway REDIS_URL="redis://127.0.0.1:$redis_port" || return 1
  local first_url=$url first_pid=$pids
  start_gateway REDIS_URL="redis://127.0.0.1:$redis_port" || return 1
  extra=(--also-subscribe-url "$url")
  url=$first_url pids="$first_pid,$pids,$redis" redis_port_in_use=$redis_port
}

# Redis memory per session and per event: 1000 sessions of 20 events (5 keys each, one
# 64-byte filler) written through the gateway, `used_memory` read before and after.
scenario_redis_memory() {
  local mark=${#started[@]} before after sessions=1000 events=20000
  start_gateway-redis
  used() { redis-cli -p "$redis_port_in_use" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }
  before=$(used)
  loadgen --target gateway --url "$url" --label redis-memory --sessions "$sessions" \
    --subscribers "$sessions" --events "$events" --rate 0 --concurrency 8 >/dev/null \
    || log "redis-memory load failed"
  after=$(used)
  {
    echo
    echo "redis-memory: $sessions sessions, $events events (history kept: all $((events / sessions)) per session)"
    echo "redis-memory: used_memory $before -> $after bytes: $(((after - before) / sessions)) bytes per session, $(((after - before) / events)) bytes per event"
  } >>"$work/notes.md"
  stop_from "$mark"
}

start_nchan() {
  local port prefix="$work/nginx"
  port=$(free_port)
  rm -rf "$prefix" && mkdir -p "$prefix/tmp"
  sed "s/__PORT__/$port/" "$root/bench/nchan.conf" >"$prefix/nginx.conf"
  "${on_target[@]}" nginx -p "$prefix/" -c "$prefix/nginx.conf" -e stderr 2>>"$work/nginx.log" &
  started+=($!)
  wait_for_port "$port" nginx || return 1
  local master=$!
  url="http://127.0.0.1:$port" extra=()
  pids=$(printf '%s\n' "$master" $(pgrep -P "$master") | paste -sd, -)
}

# Pushpin: the proxy (condure, pushpin-proxy, pushpin-handler) in front of a GRIP backend
# that holds each subscriber's request as a stream on its channel; events are published
# through the handler's HTTP publish API. Pushpin reaches backends through zurl, which runs
# here as a private instance (the packaged one is a system service on /var/run/zurl).
start_pushpin() {
  local port publish_port backend_port dir="$work/pushpin"
  port=$(free_port) publish_port=$(free_port) backend_port=$(free_port)
  rm -rf "$dir" && mkdir -p "$dir/run"
  "${on_target[@]}" python3 "$root/bench/pushpin/backend.py" "$backend_port" &
  started+=($!)
  wait_for_port "$backend_port" "pushpin backend" || return 1
  cat >"$dir/zurl.conf" <<ZURL
[General]
in_spec=ipc://$dir/run/zurl-in
in_stream_spec=ipc://$dir/run/zurl-in-stream
out_spec=ipc://$dir/run/zurl-out
defpolicy=allow
max_open_requests=20000
timeout=600
in_hwm=10000
out_hwm=10000
ZURL
  "${on_target[@]}" zurl --config="$dir/zurl.conf" --loglevel=1 >>"$work/zurl.log" 2>&1 &
  started+=($!)
  local zurl=$!
  # The packaged configuration with private ports, folders and zurl. message_rate is
  # raised from its default 2500/s so that Pushpin's publish throttle is not what is
  # measured; log_level 1 (warnings) as the other targets do not log per request.
  sed -e "s|^rundir=.*|rundir=$dir/run|" \
    -e "s|^logdir=.*|logdir=$dir/run|" \
    -e "s|^log_level=.*|log_level=1|" \
    -e "s|^http_port=.*|http_port=$port|" \
    -e "s|^push_in_http_port=.*|push_in_http_port=$publish_port|" \
    -e "s|^push_in_spec=.*|push_in_spec=tcp://127.0.0.1:$(free_port)|" \
    -e "s|^push_in_sub_specs=.*|push_in_sub_specs=tcp://127.0.0.1:$(free_port)|" \
    -e "s|^command_spec=tcp.*|command_spec=tcp://127.0.0.1:$(free_port)|" \
    -e "s|^message_rate=.*|message_rate=1000000|" \
    -e "s|^message_hwm=.*|message_hwm=1000000|" \
    -e "s|^client_maxconn=.*|client_maxconn=200000|" \
    -e "/^\[proxy\]/a zurl_out_specs=ipc://$dir/run/zurl-in\nzurl_out_stream_specs=ipc://$dir/run/zurl-in-stream\nzurl_in_specs=ipc://$dir/run/zurl-out" \
    /etc/pushpin/pushpin.conf >"$dir/pushpin.conf"
  "${on_target[@]}" pushpin --config "$dir/pushpin.conf" --route "* 127.0.0.1:$backend_port" -m \
    >>"$work/pushpin.log" 2>&1 &
  started+=($!)
  local runner=$!
  wait_for_port "$port" pushpin || return 1
  wait_for_port "$publish_port" "pushpin publish API" || return 1
  url="http://127.0.0.1:$port" extra=(--publish-url "http://127.0.0.1:$publish_port")
  pids=$(printf '%s\n' "$runner" $(pgrep -P "$runner") "$zurl" | paste -sd, -)
}

loadgen() {
  "${on_client[@]}" "$work/bin/loadgen" "$@"
}

# scenario LABEL TARGETS LOADGEN-FLAGS...: the same load against each of TARGETS (those
# of BENCH_TARGETS), BENCH_REPEATS times, alternating the targets within each repeat.
scenario() {
  local label=$1 wanted=$2 target mark row repeat
  shift 2
  for ((repeat = 1; repeat <= repeats; repeat++)); do
    for target in $targets; do
      [[ " $wanted " == *" $target "* ]] || continue
      mark=${#started[@]}
      # A target that does not start (Pushpin, now and then, right after a heavy run) costs
      # that run, not the whole benchmark.
      if ! "start_$target"; then
        log "$label: $target did not start; run skipped"
        stop_from "$mark"
        continue
      fi
      log "$label against $target (repeat $repeat of $repeats)"
      row=$label
      [ "$target" != gateway-redis ] || row="$label, 2 nodes on Redis"
      loadgen --target "${target%-redis}" --url "$url" "${extra[@]}" --pid "$pids" \
        --label "$row" --record "$records" "$@" >&2 || log "$label against $target failed"
      stop_from "$mark"
    done
  done
}

# The gateway fed through SQS by a private moto_server (installed by scripts/services.sh).
scenario_sqs() {
  local mark=${#started[@]} moto_port queue
  "$root/scripts/services.sh" install >&2
  moto_port=$(free_port)
  "$root/.tools/venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
  started+=($!)
  wait_for_port "$moto_port" moto_server || return 1
  export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
  queue=$("$root/.tools/venv/bin/python" -c '
import boto3, os
sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
print(sqs.create_queue(QueueName="bench-metadata")["QueueUrl"])')
  start_gateway AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL" AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    SQS_METADATA_QUEUE_URL="$queue" SQS_WAIT_SECONDS=1
  log "sqs against gateway"
  loadgen --target gateway --via sqs --queue-url "$queue" --url "$url" --pid "$pids" \
    --label sqs --sessions 10 --subscribers 20 --events 200 --rate 20 --concurrency 4 \
    --record "$records" >&2 || log "sqs against gateway failed"
  stop_from "$mark"
}

# 50 000 connections need as many descriptors on each side: raise the limit (root may
# raise the hard limit too); the targets inherit it.
ulimit -Hn 1048576 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
install_peers
# Copies, because other builds sharing CARGO_TARGET_DIR may replace the binaries mid-run.
mkdir -p "$work/bin"
if [ -n "${BENCH_BIN_DIR:-}" ]; then
  log "using the gateway and loadgen in $BENCH_BIN_DIR"
else
  log "building gateway and loadgen (release)"
  (cd "$root" && cargo build --release -q -p gateway -p bench)
fi
cp "${BENCH_BIN_DIR:-$CARGO_TARGET_DIR/release}"/{gateway,loadgen} "$work/bin/"
: >>"$records"
# What the machine itself does to a busy core (hypervisor and kernel stalls): they delay
# every target alike, so the tables are read against it.
log "measuring the machine's stalls (10 s)"
stalls=$(python3 "$root/bench/machine_stalls.py" 10) || stalls="not measured (bench/machine_stalls.py failed)"

fanout_subs=$(scaled 5000) sessions_n=$(scaled 10000) sessions_rate=$(scaled 5000)
idle_subs=$(scaled 50000) storm_subs=$(scaled 5000)
# Loopback source addresses for N subscribers: at most 2 500 connections on each. The
# client binds each socket to its source address before connecting, and such a bind gets
# only half of the ~28 000 ephemeral ports (Linux keeps the other half for connect), minus
# those the previous run left in TIME_WAIT.
sources() { echo $(($1 / 2500 + 1)); }
for name in $scenarios; do
  case $name in
    # (a) One session, many subscribers: pure fan-out, open-loop at 10 events/s.
    fanout) scenario fanout "gateway gateway-redis nchan pushpin" --sessions 1 \
      --subscribers "$fanout_subs" --events $((10 * seconds)) --rate 10 \
      --connect-concurrency 256 --source-addrs "$(sources "$fanout_subs")" ;;
    # (b) Many one-subscriber sessions at 5 000 publishes/s: routing and bookkeeping.
    sessions) scenario sessions "gateway gateway-redis nchan pushpin" \
      --sessions "$sessions_n" --subscribers "$sessions_n" \
      --events $((sessions_rate * seconds)) --rate "$sessions_rate" \
      --concurrency 64 --connect-concurrency 256 --source-addrs "$(sources "$sessions_n")" ;;
    # (c) Idle streams, 50 per session: what a connection costs the target, in PSS.
    idle) scenario idle "gateway nchan pushpin" --sessions $(((idle_subs + 49) / 50)) \
      --subscribers "$idle_subs" --events 1 --idle-secs 5 --source-addrs "$(sources "$idle_subs")" \
      --connect-concurrency 256 ;;
    # (d) Reconnect storm: every subscriber drops at once 3 s into publishing and resumes
    # with Last-Event-ID while events flow. Pushpin is left out: resuming needs a GRIP
    # backend that replays, which the bench's hold-only backend is not.
    storm) scenario storm "gateway gateway-redis nchan" --sessions 1 \
      --subscribers "$storm_subs" --events $((20 * (seconds + 3))) --rate 20 \
      --storm-after-secs 3 --connect-concurrency 512 --source-addrs "$(sources "$storm_subs")" ;;
    # One session, as fast as the target takes publishes (closed loop).
    burst) scenario burst "gateway nchan pushpin" --sessions 1 --subscribers 100 \
      --events 2000 --rate 0 ;;
    # One session, one subscriber, closed loop: the fixed cost of a publish request,
    # which every event's latency pays before its first write.
    publish) scenario publish "gateway nchan pushpin" --sessions 1 --subscribers 1 \
      --events 20000 --rate 0 ;;
    sqs) scenario_sqs ;;
    redis-memory) scenario_redis_memory ;;
    *) log "unknown scenario $name" && exit 2 ;;
  esac
done

build="release build"
[ -z "${BENCH_BIN_DIR:-}" ] || build="binaries from $BENCH_BIN_DIR"
cat <<EOF
## Machine
- CPU: $(lscpu | sed -n 's/^Model name: *//p') ($cores cores; $pinning)
- Memory: $(free -h | awk '/^Mem:/ {print $2}'); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)
- Kernel: $(uname -r)
- Stalls before the runs (bench/machine_stalls.py): $stalls
- Peers: nginx $(nginx -v 2>&1 | sed 's|.*/||') with libnginx-mod-nchan $(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null), pushpin $(dpkg-query -W -f='${Version}' pushpin 2>/dev/null || echo -)
- Gateway: $(git -C "$root" rev-parse --short HEAD), $build
- Runs: BENCH_REPEATS=$repeats, BENCH_SCALE=$scale, BENCH_SECONDS=$seconds; every number is median (min–max) over the repeats

## Results
$("$work/bin/loadgen" --summarize "$records")
$(cat "$work/notes.md" 2>/dev/null)
EOF
