#!/usr/bin/env bash
# Upstream overhead: what the gateway adds to a READ tool backed by Supabase. The same PostgREST call
# (`search_entreprise_with_stats`) is measured four ways against a local fake PostgREST
# (examples/fake_postgrest.rs), with wrk:
#   direct  POST /rest/v1/rpc/search_entreprise_with_stats to the fake, with the body and headers the gateway sends
#   rest    POST /mcp/tools/call {"tool_name","params"} to the gateway (FlowChat REST)
#   mcp     POST /mcp tools/call to the gateway (MCP Streamable HTTP, stateless JSON, as bench/run.sh)
#   floor   the rest request to examples/bare_passthrough.rs: axum relaying it with one pooled reqwest client and
#           nothing else, the least any gateway on these crates adds (the peer for the target, as bench/run.sh's
#           bare server is for ping)
# each at concurrency 1 (1 thread, 1 connection: p50, p99) and at BENCH_CONNECTIONS connections (req/s, p50, p99).
# Added latency = a gateway path's p50/p99 minus the direct p50/p99 at concurrency 1; target: added p50 <= 120 µs.
#
# Prints a Markdown table, the added latency with PASS/MISS against the target, and the gateway's peak RSS, and
# writes them with the date, the machine, the git revision and the exact command to
# bench/results/upstream-latest.md.
#
# Usage: bench/upstream.sh
# Environment (all optional): BENCH_DURATION, BENCH_WARMUP, BENCH_QUIET_WAIT, BENCH_ATTEMPTS as in bench/lib.sh
# (each of the eight runs gets its own warm-up and attempts), and
#   BENCH_CONNECTIONS  connections of the throughput runs                  (default 32)
#   BENCH_THREADS      wrk threads of the throughput runs                  (default 2)
#   BENCH_ROUNDS       concurrency-1 rounds behind the added latency: the first is the table's runs, each further
#                      one measures the three paths again back to back (in a rotated order); the verdict is the
#                      median of the rounds' added p50s, so a slow minute of a shared VM counts once   (default 3)
#
# Before measuring it checks each path once with curl: the fake refuses a request without the key (401), each
# path answers 200 with the fake's rows, and the fake received the same body and headers (but the request id)
# directly, through both gateway paths and the floor. Exit status: 0 when every check passed and every measured
# request got a 2xx without socket errors, 1 otherwise. The 120 µs target is informational: a MISS does not fail
# the script.
#
# Needs: cargo, curl, python3, and wrk (installed with apt-get when missing and root/sudo). wrk shares the cores
# with the gateway and the fake; nothing is pinned.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh

bench_settings
COMMAND="$SETTINGS BENCH_ROUNDS=$ROUNDS bench/upstream.sh"
TARGET_ADDED_P50_US=120

require_commands curl cargo python3
ensure_wrk
log "cargo build --release (mcp-gateway, examples/fake_postgrest.rs and examples/bare_passthrough.rs)"
cargo build --release --quiet --bin mcp-gateway --example fake_postgrest --example bare_passthrough
GATEWAY_BIN="${CARGO_TARGET_DIR:-target}/release/mcp-gateway"
FAKE_BIN="${CARGO_TARGET_DIR:-target}/release/examples/fake_postgrest"
FLOOR_BIN="${CARGO_TARGET_DIR:-target}/release/examples/bare_passthrough"
[[ -x "$GATEWAY_BIN" && -x "$FAKE_BIN" && -x "$FLOOR_BIN" ]] || die "$GATEWAY_BIN, $FAKE_BIN or $FLOOR_BIN was not built"
GATEWAY_VERSION="$("$GATEWAY_BIN" --version | awk '{ print $2 }')"

bench_init

# ---------------------------------------------------------------------------------------------------------------
# The requests
# ---------------------------------------------------------------------------------------------------------------
# A key for this run only; the fake accepts nothing else. It never appears in the output or the report.
KEY="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
TOOL=search_entreprise_with_stats
ARGUMENTS='{"search_term":"ACME","limit":5}'
RPC_BODY='{"p_search_term":"ACME","p_limit":5}'
# What the gateway's upstream client sends besides Host and Content-Length (`check captures` proves it).
RPC_HEADERS="Content-Type: application/json
Accept: */*
User-Agent: mcp-gateway/$GATEWAY_VERSION
apikey: $KEY
Authorization: Bearer $KEY"
# The direct runs carry a request id of the gateway's shape (a UUID v7), as the gateway's own requests do.
DIRECT_REQUEST_ID=019aa6c2-5b1e-7c3d-8e4f-9a0b1c2d3e4f
REST_BODY="{\"tool_name\":\"$TOOL\",\"params\":$ARGUMENTS}"
REST_HEADERS='Content-Type: application/json'
MCP_BODY="{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"$TOOL\",\"arguments\":$ARGUMENTS}}"

direct_url() { echo "http://127.0.0.1:$FAKE_PORT/rest/v1/rpc/$TOOL"; }
rest_url() { echo "http://127.0.0.1:$GW_PORT/mcp/tools/call"; }
mcp_url() { echo "http://127.0.0.1:$GW_PORT/mcp"; }
floor_url() { echo "http://127.0.0.1:$FLOOR_PORT/mcp/tools/call"; }

# post_path PATH REQUEST_ID OUT: one request of that path with curl, tagged with the request id; prints
# "<code> <content type>".
post_path() {
    local path="$1" request_id="$2" out="$3"
    case "$path" in
        direct) curl_post "$(direct_url)" "$RPC_BODY" "$RPC_HEADERS"$'\n'"X-Request-ID: $request_id" "$out" ;;
        rest) curl_post "$(rest_url)" "$REST_BODY" "$REST_HEADERS"$'\n'"X-Request-ID: $request_id" "$out" ;;
        mcp) curl_post "$(mcp_url)" "$MCP_BODY" "$MCP_HEADERS"$'\n'"X-Request-ID: $request_id" "$out" ;;
        floor) curl_post "$(floor_url)" "$REST_BODY" "$REST_HEADERS"$'\n'"X-Request-ID: $request_id" "$out" ;;
    esac
}

# ---------------------------------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------------------------------
launch_fake() { SUPABASE_API_KEY="$KEY" "$FAKE_BIN" "127.0.0.1:$1" >"$2" 2>&1 & }
probe_fake() { FAKE_PORT="$1" post_path direct bench-ready "$WORK/ready.fake"; }

# Shipped tool specs, Supabase pointed at the fake, the rate limiter off (one wrk client from one address would hit
# the default per-IP limit at once), warnings only in the log (as bench/run.sh); everything else, audit log
# included, as shipped.
launch_gateway() {
    GATEWAY_BIND="127.0.0.1:$1" SUPABASE_URL="http://127.0.0.1:$FAKE_PORT" SUPABASE_API_KEY="$KEY" \
        RATE_LIMIT=off LOG_LEVEL=warn GATEWAY_TOOL_SPECS=./tool_specs GATEWAY_DATA_DIR="$WORK/data" \
        "$GATEWAY_BIN" serve >"$2" 2>&1 &
}
probe_gateway() { GW_PORT="$1" post_path rest bench-ready "$WORK/ready.gateway"; }
launch_floor() {
    SUPABASE_URL="http://127.0.0.1:$FAKE_PORT" SUPABASE_API_KEY="$KEY" "$FLOOR_BIN" "127.0.0.1:$1" >"$2" 2>&1 &
}
probe_floor() { FLOOR_PORT="$1" post_path floor bench-ready "$WORK/ready.floor"; }

# ---------------------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------------------
# python3 bench checks: `answers DIRECT REST MCP FLOOR` (each path's body is a success carrying the fake's rows)
# and `captures FAKE_LOG` (the fake received the same request directly, through both gateway paths and the floor).
check() {
    python3 - "$@" <<'PY'
import json, sys

def load(path):
    raw = open(path, encoding="utf-8").read()
    try:
        return json.loads(raw)
    except ValueError as e:
        sys.exit(f"{path}: not JSON ({e}): {raw[:300]}")

def answers(direct_path, rest_path, mcp_path, floor_path):
    rows = load(direct_path)
    if not (isinstance(rows, list) and rows and all("acme" in r.get("nom", "").lower() for r in rows)):
        sys.exit(f"direct: expected a non-empty array of ACME companies, got {str(rows)[:300]}")
    for name, path in (("rest", rest_path), ("floor", floor_path)):
        rest = load(path)
        if rest.get("success") is not True or rest.get("tool_name") != "search_entreprise_with_stats":
            sys.exit(f"{name}: not a success of search_entreprise_with_stats: {str(rest)[:500]}")
        if rest.get("result") != rows:
            sys.exit(f"{name}: result is not the fake's rows: {str(rest.get('result'))[:500]}")
    mcp = load(mcp_path)
    result = mcp.get("result")
    if mcp.get("jsonrpc") != "2.0" or mcp.get("id") != 1 or not isinstance(result, dict):
        sys.exit(f"mcp: not a JSON-RPC result for id 1: {str(mcp)[:500]}")
    if result.get("isError") is not False:
        sys.exit(f"mcp: isError is not false: {str(result)[:500]}")
    content = result.get("content") or [{}]
    if json.loads(content[0].get("text", "null")) != rows:
        sys.exit(f"mcp: content[0].text is not the fake's rows: {str(content)[:500]}")
    print(f"{len(rows)} rows on every path")

def captures(log_path):
    seen = {}
    for line in open(log_path, encoding="utf-8"):
        if line.startswith("request "):
            request = json.loads(line[len("request "):])
            seen[request["headers"].get("x-request-id")] = request
    def strip(request):
        headers = {k: v for k, v in request["headers"].items() if k != "x-request-id"}
        return request["function"], request["body"], headers
    direct = seen.get("bench-verify-direct")
    if direct is None:
        sys.exit("the fake logged no direct request")
    for path in ("rest", "mcp", "floor"):
        via = seen.get(f"bench-verify-{path}")
        if via is None:
            sys.exit(f"the fake logged no request from the {path} path carrying its request id")
        if strip(via) != strip(direct):
            sys.exit(f"the gateway ({path}) sent {strip(via)}\n  but the direct request is {strip(direct)}")
    print("the gateway and the floor send what the direct runs send: " + ", ".join(sorted(direct["headers"])))

{"answers": answers, "captures": captures}[sys.argv[1]](*sys.argv[2:])
PY
}

# verify_paths TAG: each path answers 200 application/json, with the fake's rows; request ids bench-TAG-PATH.
verify_paths() {
    local tag="$1" path status summary
    for path in direct rest mcp floor; do
        status="$(post_path "$path" "bench-$tag-$path" "$WORK/$tag.$path.json")"
        if [[ "$status" != "200 application/json"* ]]; then
            cat "$WORK/$tag.$path.json" >&2 2>/dev/null || true
            die "$path: answered HTTP $status, not 200 application/json"
        fi
    done
    summary="$(check answers "$WORK/$tag.direct.json" "$WORK/$tag.rest.json" "$WORK/$tag.mcp.json" \
        "$WORK/$tag.floor.json")" \
        || die "$tag: a path did not answer with the fake's rows"
    log "$tag: $summary"
}

# The fake refuses a missing key, and a request without the bearer, with 401 {"message","hint"}.
verify_refusals() {
    local headers status
    for headers in "Content-Type: application/json" $'Content-Type: application/json\napikey: '"$KEY"; do
        status="$(curl_post "$(direct_url)" "$RPC_BODY" "$headers" "$WORK/refused.json")"
        [[ "$status" == "401 application/json"* ]] || die "the fake answered HTTP $status to a request without its key"
        python3 -c 'import json, sys; b = json.load(open(sys.argv[1])); sys.exit(0 if set(b) == {"message", "hint"} else 1)' \
            "$WORK/refused.json" || die "the fake's 401 is not {message, hint}: $(cat "$WORK/refused.json")"
    done
}

# ---------------------------------------------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------------------------------------------
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
start_server "the fake PostgREST" "$WORK/fake.log" launch_fake probe_fake
FAKE_PID=$SERVER_PID FAKE_PORT=$SERVER_PORT
start_server "mcp-gateway" "$WORK/gateway.log" launch_gateway probe_gateway
GW_PID=$SERVER_PID GW_PORT=$SERVER_PORT
start_server "the bare pass-through" "$WORK/floor.log" launch_floor probe_floor
FLOOR_PID=$SERVER_PID FLOOR_PORT=$SERVER_PORT
GW_RSS_IDLE_KB="$(rss_kb "$GW_PID")"

log "checking each path once"
verify_refusals
verify_paths verify
check captures "$WORK/fake.log" >"$WORK/captures.txt" || die "the direct request differs from the gateway's"
log "$(cat "$WORK/captures.txt")"

declare -A URL BODY HEADERS PIDS LABEL P50 P99 RPS REQUESTS CPU RUNS
URL=([direct]="$(direct_url)" [rest]="$(rest_url)" [mcp]="$(mcp_url)" [floor]="$(floor_url)")
BODY=([direct]="$RPC_BODY" [rest]="$REST_BODY" [mcp]="$MCP_BODY" [floor]="$REST_BODY")
HEADERS=([direct]="$RPC_HEADERS"$'\n'"X-Request-ID: $DIRECT_REQUEST_ID" [rest]="$REST_HEADERS" [mcp]="$MCP_HEADERS"
    [floor]="$REST_HEADERS")
PIDS=([direct]="$FAKE_PID" [rest]="$GW_PID $FAKE_PID" [mcp]="$GW_PID $FAKE_PID" [floor]="$FLOOR_PID $FAKE_PID")
LABEL=([direct]="direct to the fake PostgREST" [rest]="gateway REST POST /mcp/tools/call"
    [mcp]="gateway MCP POST /mcp tools/call" [floor]="bare axum + reqwest pass-through (floor)")
PATHS="direct rest mcp floor"
# c1: one thread, one connection (latency); cN: BENCH_THREADS threads, BENCH_CONNECTIONS connections (throughput).
declare -A LEVEL_NAME=([c1]="c=1" [cN]="c=$CONNECTIONS")
for level in c1 cN; do
    for path in $PATHS; do
        if [[ "$level" == c1 ]]; then WRK_ARGS=(-t 1 -c 1 --latency); else
            WRK_ARGS=(-t "$THREADS" -c "$CONNECTIONS" --latency); fi
        wrk_env "${BODY[$path]}" "${HEADERS[$path]}"
        run_wrk "${LABEL[$path]} (${LEVEL_NAME[$level]})" "${URL[$path]}" "${PIDS[$path]}" "$path.$level"
        note_run_problems "${LABEL[$path]} (${LEVEL_NAME[$level]})"
        key="$path.$level"
        P50[$key]=$R_P50 P99[$key]=$R_P99 RPS[$key]=$R_RPS REQUESTS[$key]=$R_REQUESTS CPU[$key]="$R_CPU"
        RUNS[$key]=$R_ATTEMPTS
    done
done
# Further concurrency-1 rounds: each path once more, back to back, the order rotated so no path always goes first.
declare -A ROUND_P50
for path in $PATHS; do ROUND_P50[$path.1]=${P50[$path.c1]}; done
WRK_ARGS=(-t 1 -c 1 --latency)
ORDERS=("direct rest mcp floor" "rest mcp floor direct" "mcp floor direct rest" "floor direct rest mcp")
for (( round = 2; round <= ROUNDS; round++ )); do
    for path in ${ORDERS[$(( (round - 1) % 4 ))]}; do
        wrk_env "${BODY[$path]}" "${HEADERS[$path]}"
        wait_quiet
        log "${LABEL[$path]} (c=1): round $round of $ROUNDS, ${DURATION}"
        measure_once "${LABEL[$path]} (c=1)" "${URL[$path]}" "${PIDS[$path]}" "$WORK/wrk.$path.c1.round$round.txt"
        note_run_problems "${LABEL[$path]} (c=1, round $round)"
        ROUND_P50[$path.$round]=$R_P50
    done
done
GW_PEAK_KB="$(peak_rss_kb "$GW_PID")"
FAKE_PEAK_KB="$(peak_rss_kb "$FAKE_PID")"
FLOOR_PEAK_KB="$(peak_rss_kb "$FLOOR_PID")"
verify_paths after

# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------
row() {
    local path="$1"
    printf '| %s | %s | %s | %.0f | %s | %s |\n' "${LABEL[$path]}" \
        "$(fmt_latency "${P50[$path.c1]}")" "$(fmt_latency "${P99[$path.c1]}")" \
        "${RPS[$path.cN]}" "$(fmt_latency "${P50[$path.cN]}")" "$(fmt_latency "${P99[$path.cN]}")"
}
# Added latency at concurrency 1 of each gateway path, and its verdict against the target.
declare -A ADDED_P50 ADDED_P99 VERDICT ROUND_LIST
VERDICTS=""
for path in rest mcp floor; do
    added=()
    for (( round = 1; round <= ROUNDS; round++ )); do
        added+=("$(( ROUND_P50[$path.$round] - ROUND_P50[direct.$round] ))")
        ROUND_LIST[$path]+="${ROUND_LIST[$path]:+, }${ROUND_P50[$path.$round]} - ${ROUND_P50[direct.$round]} = ${added[-1]} µs"
    done
    ADDED_P50[$path]="$(printf '%.0f' "$(median "${added[@]}")")"
    ADDED_P99[$path]=$(( P99[$path.c1] - P99[direct.c1] ))
    if (( ADDED_P50[$path] <= TARGET_ADDED_P50_US )); then VERDICT[$path]=PASS; else VERDICT[$path]=MISS; fi
    if [[ $path == floor ]]; then
        VERDICTS+="the bare pass-through (for scale) adds ${ADDED_P50[$path]} µs; "
    else
        VERDICTS+="$path ${VERDICT[$path]} (added p50 ${ADDED_P50[$path]} µs); "
    fi
done
added_row() {
    printf '| %s | %s | %s | **%s** |\n' "${LABEL[$1]}" "$(fmt_latency "${ADDED_P50[$1]}")" \
        "$(fmt_latency "${ADDED_P99[$1]}")" "${VERDICT[$1]}"
}

TABLE="$(cat <<TABLE_EOF
| path | c=1 p50 | c=1 p99 | c=$CONNECTIONS req/s | c=$CONNECTIONS p50 | c=$CONNECTIONS p99 |
|---|---|---|---|---|---|
$(row direct)
$(row rest)
$(row mcp)
$(row floor)

| through the gateway | added p50 (c=1, median of $ROUNDS rounds) | added p99 (c=1, round 1) | added p50 ≤ $TARGET_ADDED_P50_US µs |
|---|---|---|---|
$(added_row rest)
$(added_row mcp)
$(added_row floor)

gateway peak RSS: $(fmt_mib "$GW_PEAK_KB")
TABLE_EOF
)"

run_details() {
    local key
    for key in direct.c1 rest.c1 mcp.c1 floor.c1 direct.cN rest.cN mcp.cN floor.cN; do
        printf '  - %s (%s): %s requests; CPU %s; measured runs made: %s\n' "${LABEL[${key%.*}]}" \
            "${LEVEL_NAME[${key#*.}]}" "${REQUESTS[$key]}" "${CPU[$key]}" "${RUNS[$key]}"
    done
}

mkdir -p bench/results
cat >bench/results/upstream-latest.md <<REPORT_EOF
# mcp-gateway upstream overhead: \`search_entreprise_with_stats\` against a local fake PostgREST

$TABLE

${BENCH_NOTES}Target: added p50 at concurrency 1 ≤ $TARGET_ADDED_P50_US µs: ${VERDICTS%; }.

$(report_context "$LOAD_BEFORE" "$COMMAND")
- git revision: $(git_revision)
- load: \`wrk -t 1 -c 1\` (c=1) and \`wrk -t $THREADS -c $CONNECTIONS\` (c=$CONNECTIONS), \`-d $DURATION --latency -s $WRK_LUA\`, each run after a $WARMUP warm-up, one path at a time, wrk on the same cores (nothing pinned); c=1 runs of all paths first, then the c=$CONNECTIONS runs
- added p50 per concurrency-1 round (gateway p50 - direct p50; round 1 is the table's runs): rest: ${ROUND_LIST[rest]}; mcp: ${ROUND_LIST[mcp]}; floor: ${ROUND_LIST[floor]}
- direct: \`POST /rest/v1/rpc/$TOOL\` \`$RPC_BODY\` with \`Content-Type: application/json\`, \`Accept: */*\`, \`User-Agent: mcp-gateway/$GATEWAY_VERSION\`, \`apikey\`, \`Authorization: Bearer\` (a key made for the run), \`X-Request-ID\` (a UUID v7): the body and headers the gateway sends, checked on the fake's side before measuring
- rest: \`POST /mcp/tools/call\` \`$REST_BODY\` with \`Content-Type: application/json\`
- mcp: \`POST /mcp\` \`$MCP_BODY\` with \`Content-Type: application/json\`, \`Accept: application/json, text/event-stream\`, \`MCP-Protocol-Version: 2025-11-25\`; no session (stateless), answered with \`application/json\`
- answers: the fake returns the same $(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/verify.direct.json") rows on every path (checked before and after the runs)
- mcp-gateway: \`cargo build --release\`, shipped \`tool_specs/\`, \`SUPABASE_URL\` / \`SUPABASE_API_KEY\` pointing at the fake, \`RATE_LIMIT=off LOG_LEVEL=warn\`, $(audit_setting), GATEWAY_* variables inherited from the caller: $(inherited_gateway_settings); RSS after start-up $(fmt_mib "$GW_RSS_IDLE_KB"), peak $(fmt_mib "$GW_PEAK_KB") (\`VmHWM\` after all runs; MiB = 2^20 bytes)
- fake PostgREST: \`examples/fake_postgrest.rs\` (axum, rows built at start-up, no delay), peak RSS $(fmt_mib "$FAKE_PEAK_KB")
- floor: \`examples/bare_passthrough.rs\` (axum, one pooled reqwest client, the rest request relayed with the gateway's upstream body and headers, checked on the fake's side like the gateway's; no auth, spec, validation, retry, metrics or audit), peak RSS $(fmt_mib "$FLOOR_PEAK_KB")
- runs (CPU as a share of all $(nproc) cores; "server" is the fake alone for direct, the gateway and the fake together for the gateway paths; a run is repeated when other processes take > 10%):
$(run_details)
- $(wrk_version)
REPORT_EOF

bench_finish "$TABLE" bench/results/upstream-latest.md \
    "target added p50 <= $TARGET_ADDED_P50_US µs (informational): ${VERDICTS%; }"
