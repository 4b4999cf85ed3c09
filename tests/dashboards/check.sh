#!/usr/bin/env bash
# Every query of the Grafana dashboards in deploy/grafana/dashboards/ returns data from a real gateway.
#
#   tests/dashboards/check.sh GATEWAY_BIN FAKE_HIGGSFIELD_BIN FLAKY_UPSTREAM_BIN
#
# Installs Debian's `prometheus` when /usr/bin/prometheus is missing (apt; the package's service is not used),
# starts the fakes (examples/fake_higgsfield.rs, examples/flaky_upstream.rs) and the gateway on free loopback
# ports with a config under which every metric family gets series (API keys, a category rate limit, a tool that
# retries against the flaky upstream), then Prometheus with deploy/prometheus/prometheus.yml (target, key file and a
# 1 s scrape interval substituted). It sends a little load with curl (bounded loops), then evaluates every
# variable and panel query through Prometheus' HTTP API (tests/dashboards/queries.py). Prints PASS/FAIL lines and
# `dashboards: N passed, M failed`; exits 1 on any failure. Logs and the final /metrics text go to target/dashboards/.
set -euo pipefail
cd "$(dirname "$0")/../.."

die() { printf 'dashboards: %s\n' "$*" >&2; exit 1; }
[[ $# -eq 3 ]] || die "usage: $0 GATEWAY_BIN FAKE_HIGGSFIELD_BIN FLAKY_UPSTREAM_BIN"
gateway_bin=$1 higgsfield_bin=$2 flaky_bin=$3
for bin in "$gateway_bin" "$higgsfield_bin" "$flaky_bin"; do [[ -x $bin ]] || die "not an executable: $bin"; done
python=${PYTHON:-python3}

if [[ ! -x /usr/bin/prometheus ]]; then
  sudo_if_needed=()
  [[ $(id -u) -eq 0 ]] || sudo_if_needed=(sudo)
  "${sudo_if_needed[@]}" apt-get update -qq
  # RUNLEVEL=1: the package's init script must not start a Prometheus of its own (policy-rc.d may be absent).
  "${sudo_if_needed[@]}" env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

logs=target/dashboards
mkdir -p "$logs"
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# free_port, wait_for WHAT URL LOG
source tests/check_lib.sh

higgsfield_port=$(free_port)
"$higgsfield_bin" "127.0.0.1:$higgsfield_port" >"$logs/fake-higgsfield.log" 2>&1 &
pids+=("$!")
wait_for "the fake Higgsfield" "http://127.0.0.1:$higgsfield_port/files/probe.png" "$logs/fake-higgsfield.log"
flaky_port=$(free_port)
"$flaky_bin" "127.0.0.1:$flaky_port" >"$logs/flaky-upstream.log" 2>&1 &
pids+=("$!")
wait_for "the flaky upstream" "http://127.0.0.1:$flaky_port/item" "$logs/flaky-upstream.log"

# The shipped tools plus one http read against the flaky upstream.
mkdir -p "$tmp/specs" "$tmp/data"
cp -R tool_specs/. "$tmp/specs/"
cp tests/dashboards/specs/*.json "$tmp/specs/"
agent=dash-agent-secret burst=dash-burst-secret scraper=dash-prometheus-secret
cat >"$tmp/gateway.toml" <<EOF
tool_specs = "$tmp/specs"
data_dir = "$tmp/data"
rate_limit = "120/minute"

[category_rate_limits]
media = "2/minute"

[[keys]]
id = "dash-agent"
key = "$agent"
scopes = ["tools:list", "tools:call"]

[[keys]]
id = "dash-burst"
key = "$burst"
scopes = ["tools:list", "tools:call"]

[[keys]]
id = "dash-prometheus"
key = "$scraper"
scopes = ["metrics"]
EOF
gateway_port=$(free_port)
base="http://127.0.0.1:$gateway_port"
env GATEWAY_CONFIG="$tmp/gateway.toml" GATEWAY_BIND="127.0.0.1:$gateway_port" LOG_LEVEL=info \
  GATEWAY_TEMPLATE_ENV="DASH_*" DASH_FLAKY_URL="http://127.0.0.1:$flaky_port" HIGGSFIELD_BASE_URL="http://127.0.0.1:$higgsfield_port" \
  HF_KEY=interop-id:interop-secret GATEWAY_JOB_POLL_INITIAL_MS=100 GATEWAY_JOB_POLL_MAX_MS=200 \
  "$gateway_bin" serve >"$logs/gateway.log" 2>&1 &
pids+=("$!")
wait_for "the gateway" "$base/health" "$logs/gateway.log"

# Prometheus with the shipped scrape example, pointed at this gateway.
printf %s "$scraper" >"$tmp/metrics.key"
prometheus_port=$(free_port)
prometheus="http://127.0.0.1:$prometheus_port"
sed -e 's|scrape_interval: 15s|scrape_interval: 1s|' -e "s|/etc/prometheus/metrics.key|$tmp/metrics.key|" \
  -e "s|\"gateway:8080\"|\"127.0.0.1:$gateway_port\"|" deploy/prometheus/prometheus.yml >"$tmp/prometheus.yml"
for substituted in "scrape_interval: 1s" "$tmp/metrics.key" "127.0.0.1:$gateway_port"; do
  grep -qF "$substituted" "$tmp/prometheus.yml" || die "deploy/prometheus/prometheus.yml changed: cannot set $substituted"
done
/usr/bin/prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
  --web.listen-address="127.0.0.1:$prometheus_port" --log.level=warn >"$logs/prometheus.log" 2>&1 &
pids+=("$!")
wait_for "Prometheus" "$prometheus/-/ready" "$logs/prometheus.log"

# --- a little load -------------------------------------------------------------------------------------------
# mcp KEY BODY [HEADER...]: POST /mcp, print the HTTP status.
mcp() {
  local key=$1 body=$2; shift 2
  curl -s -o /dev/null -w '%{http_code}\n' "$base/mcp" -H "authorization: Bearer $key" \
    -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' "$@" -d "$body"
}
call() { mcp "$1" "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"$2\",\"arguments\":$3}}"; }

{
  # A session that stays open, and a legacy SSE stream held until the end.
  mcp "$agent" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"dashboards","version":"1"}}}'
  curl -sN --max-time 600 -H "authorization: Bearer $agent" "$base/sse" >/dev/null &
  pids+=("$!")
  for _ in $(seq 1 10); do call "$agent" ping '{}'; done
  for _ in $(seq 1 25); do call "$agent" dash_flaky_item '{}'; done
  call "$agent" ping '{"unexpected":1}'
  call "$agent" no_such_tool '{}'
  call "$agent" get_entreprise_by_id '{"p_entreprise_id":"x"}'
  # Two media jobs pass the category limit (2/minute), the third is refused.
  for n in 1 2 3; do call "$agent" higgsfield_image "{\"prompt\":\"dashboards $n\",\"wait_for_completion\":false}"; done
  for _ in $(seq 1 5); do call "$burst" ping '{}'; done
  # Past the request rate (120/minute, burst 120): the last requests get 429.
  for _ in $(seq 1 130); do
    curl -s -o /dev/null -w '%{http_code}\n' "$base/mcp/tools/list" -H "authorization: Bearer $burst"
  done
  curl -s -o /dev/null -w '%{http_code}\n' "$base/mcp/tools/list" -H 'authorization: Bearer not-a-key'
} >"$logs/load.log"
printf 'load: %s requests, statuses %s\n' "$(wc -l <"$logs/load.log")" \
  "$(sort "$logs/load.log" | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}')"

# What the gateway exposes, to read when a query fails.
curl -s "$base/metrics" -H "authorization: Bearer $scraper" >"$logs/metrics.txt"

# --- every query ---------------------------------------------------------------------------------------------
results=$logs/results.log
{
  up=0
  for _ in $(seq 1 150); do
    up=$(curl -s "$prometheus/api/v1/query" --data-urlencode 'query=up{job="mcp-gateway"}' |
      "$python" -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')
    [[ $up == 1 ]] && break
    sleep 0.1
  done
  if [[ $up == 1 ]]; then
    echo "PASS prometheus scrapes /metrics with the example config and its key"
  else
    echo "FAIL prometheus scrapes /metrics with the example config and its key (up=$up; see $logs/prometheus.log)"
  fi
  "$python" tests/dashboards/queries.py "$prometheus" 60 deploy/grafana/dashboards/*.json
} | tee "$results"
passed=$(grep -c '^PASS' "$results" || true)
failed=$(grep -c '^FAIL' "$results" || true)
printf 'dashboards: %d passed, %d failed\n' "$passed" "$failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
