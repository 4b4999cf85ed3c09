#!/usr/bin/env bash
# Federation end to end: the gateway serving real upstream MCP servers, and a second gateway serving the first.
#
#   tests/interop/federation.sh GATEWAY_BIN
#
# Starts, all on free loopback ports: the Python SDK upstream (tests/fixtures/upstream/python_upstream.py) over
# Streamable HTTP and over the legacy HTTP+SSE transport, the TypeScript SDK v1 upstream (ts_upstream.mjs), gateway
# A with six upstream specs (`py`: the Python server with exclude / rename / description / fixed rules; `quick`: the
# same server, only `sleepy` and `echo`, with a 2 s timeout, whose `echo` meets a gateway tool of the same served
# name; `pyio`: the same server as a stdio child; `pysse`: the SSE one; `ts`: the TypeScript server; `gone`: a
# port nobody listens on), API keys and a fresh data folder; and gateway B whose only upstream is gateway A (a
# bearer key from a template). Then tests/interop/python_federation.py drives both with the official Python SDK
# client in both eras, REST and the admin endpoints. Prints PASS/FAIL (and XFAIL, for the features the gateway
# lacks yet) lines and `federation: N passed, M failed`; exits 1 on a failure. Logs, specs and data go to
# target/federation/.
#
# PYTHON: the interpreter with mcp==2.3.0 (scripts/test.sh passes .cache/venv/bin/python); NODE: Node 22.
set -euo pipefail
cd "$(dirname "$0")/../.."

die() { printf 'federation: %s\n' "$*" >&2; exit 1; }
[[ $# -eq 1 && -x $1 ]] || die "usage: $0 GATEWAY_BIN"
bin=$1
python=${PYTHON:-python3}
node=${NODE:-tests/interop/node_modules/.bin/node}
# The stdio upstream is started by the gateway, from another folder: absolute paths (not resolving the venv's
# symlink, which would leave the venv).
[[ $python == */* ]] && python="$(cd "$(dirname "$python")" && pwd)/$(basename "$python")"
[[ -x $node ]] || die "Node is missing at $node (scripts/test.sh installs it in tests/interop/node_modules)"
fixtures=$PWD/tests/fixtures/upstream

out=$PWD/target/federation
rm -rf "$out" && mkdir -p "$out/specs-a" "$out/specs-b"
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
# wait_for WHAT COMMAND...: poll COMMAND every 0.1 s, at most 15 s.
wait_for() {
  local what=$1; shift
  for _ in $(seq 1 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "$what did not become ready (logs in $out)"
}
# Any HTTP answer means the server listens (an MCP endpoint refuses a bare GET).
answers() { curl -s -o /dev/null --max-time 2 "$1"; }

py_port=$(free_port)
"$python" "$fixtures/python_upstream.py" --transport streamable-http --port "$py_port" >"$out/python-http.log" 2>&1 &
pids+=("$!")
sse_port=$(free_port)
"$python" "$fixtures/python_upstream.py" --transport sse --port "$sse_port" >"$out/python-sse.log" 2>&1 &
pids+=("$!")
ts_port=$(free_port)
"$node" "$fixtures/ts_upstream.mjs" "$ts_port" >"$out/ts-upstream.log" 2>&1 &
ts_pid=$!
pids+=("$ts_pid")
gone_port=$(free_port) # nothing listens there
wait_for "the Python upstream" answers "http://127.0.0.1:$py_port/mcp"
wait_for "the Python upstream (SSE)" answers "http://127.0.0.1:$sse_port/probe"
wait_for "the TypeScript upstream" answers "http://127.0.0.1:$ts_port/mcp"

cat >"$out/specs-a/py.json" <<JSON
{"kind": "upstream", "name": "py", "prefix": "py_", "transport": "streamable_http",
 "url": "http://127.0.0.1:$py_port/mcp",
 "tools": {"exclude": ["internal_only"], "rename": {"add": "sum"},
           "descriptions": {"sum": "Add two integers, served by the gateway."},
           "fixed": {"search": {"tenant": "acme"}}}}
JSON
# The same server again, only `sleepy` and `echo` (whose served name the gateway's own tool has), 2 s timeout.
cat >"$out/specs-a/quick.json" <<JSON
{"kind": "upstream", "name": "quick", "prefix": "quick_", "transport": "streamable_http",
 "url": "http://127.0.0.1:$py_port/mcp", "tools": {"include": ["sleep*", "echo"]}, "timeout_secs": 2, "pin": false}
JSON
cat >"$out/specs-a/pyio.json" <<JSON
{"kind": "upstream", "name": "pyio", "prefix": "pyio_", "transport": "stdio",
 "command": "$python", "args": ["$fixtures/python_upstream.py", "--transport", "stdio"]}
JSON
cat >"$out/specs-a/pysse.json" <<JSON
{"kind": "upstream", "name": "pysse", "prefix": "pysse_", "transport": "sse", "url": "http://127.0.0.1:$sse_port/sse"}
JSON
cat >"$out/specs-a/ts.json" <<JSON
{"kind": "upstream", "name": "ts", "prefix": "ts_", "transport": "streamable_http",
 "url": "http://127.0.0.1:$ts_port/mcp"}
JSON
cat >"$out/specs-a/gone.json" <<JSON
{"kind": "upstream", "name": "gone", "prefix": "gone_", "transport": "streamable_http",
 "url": "http://127.0.0.1:$gone_port/mcp"}
JSON
# A gateway tool whose name quick's `echo` would take: the gateway's own tool wins.
cat >"$out/specs-a/quick_echo.json" <<'JSON'
{"name": "quick_echo", "description": "The gateway's own tool of this name.",
 "inputSchema": {"type": "object", "properties": {}, "additionalProperties": false},
 "binding": {"kind": "builtin", "name": "ping"}}
JSON
admin_key=fed-admin-key
limited_key=fed-limited-key
b_key=fed-b-key
keys="[{id=\"fed-admin\",key=\"$admin_key\",scopes=[\"admin\"]},"
keys+="{id=\"fed-limited\",key=\"$limited_key\",scopes=[\"tools:list\",\"tools:call\"],deny=[\"py_*\"]},"
keys+="{id=\"fed-b\",key=\"$b_key\",scopes=[\"tools:list\",\"tools:call\"]}]"
a_port=$(free_port)
env GATEWAY_TOOL_SPECS="$out/specs-a" GATEWAY_DATA_DIR="$out/data-a" GATEWAY_RATE_LIMIT=off \
  GATEWAY_KEYS="$keys" \
  GATEWAY_BIND="127.0.0.1:$a_port" LOG_LEVEL=info "$bin" serve >"$out/gateway-a.log" 2>&1 &
pids+=("$!")
wait_for "gateway A" curl -fsS "http://127.0.0.1:$a_port/health"

# Gateway B reaches A with the key `fed-b`, read from its environment by the header template.
cat >"$out/specs-b/a.json" <<JSON
{"kind": "upstream", "name": "a", "prefix": "a_", "transport": "streamable_http",
 "url": "http://127.0.0.1:$a_port/mcp", "headers": {"Authorization": "Bearer {{env.FED_A_TOKEN}}"}}
JSON
b_port=$(free_port)
env GATEWAY_TOOL_SPECS="$out/specs-b" GATEWAY_DATA_DIR="$out/data-b" GATEWAY_RATE_LIMIT=off \
  GATEWAY_TEMPLATE_ENV=FED_A_TOKEN FED_A_TOKEN="$b_key" \
  GATEWAY_BIND="127.0.0.1:$b_port" LOG_LEVEL=info "$bin" serve >"$out/gateway-b.log" 2>&1 &
pids+=("$!")
wait_for "gateway B" curl -fsS "http://127.0.0.1:$b_port/health"

"$python" tests/interop/python_federation.py "http://127.0.0.1:$a_port" "http://127.0.0.1:$b_port" \
  --admin-key "$admin_key" --limited-key "$limited_key" --secret "$b_key" --ts-pid "$ts_pid" \
  --gateway-bin "$bin" --data-dir "$out/data-a"
