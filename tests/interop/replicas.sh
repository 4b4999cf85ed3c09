#!/usr/bin/env bash
# Two gateway replicas sharing one Redis behind a plain round-robin proxy, driven by the official Python SDK.
#
#   tests/interop/replicas.sh GATEWAY_BIN
#
# Starts Debian's redis-server (no persistence), two replicas of the conformance fixture profile with
# GATEWAY_REDIS_URL and a data folder each, and Debian's nginx with an `upstream` block of both (round robin, no
# affinity, a new upstream connection per request, SSE unbuffered), all on free loopback ports; then
# tests/interop/python_replicas.py runs one whole session through the proxy (list, call, progress, elicitation,
# cancel), every request free to reach either replica. Prints PASS/FAIL lines and
# `python-replicas: N passed, M failed`; exits 1 on a failure. Logs and the nginx config go to target/replicas/.
set -euo pipefail
cd "$(dirname "$0")/../.."

die() { printf 'replicas: %s\n' "$*" >&2; exit 1; }
[[ $# -eq 1 && -x $1 ]] || die "usage: $0 GATEWAY_BIN"
bin=$1
python=${PYTHON:-python3}
nginx=/usr/sbin/nginx
[[ -x $nginx ]] || die "Debian's nginx is missing (scripts/test.sh installs it)"
command -v redis-server >/dev/null || die "Debian's redis-server is missing (scripts/test.sh installs it)"

out=$PWD/target/replicas
rm -rf "$out" && mkdir -p "$out"
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
# wait_for WHAT COMMAND...: poll COMMAND every 0.1 s, at most 10 s.
wait_for() {
  local what=$1; shift
  for _ in $(seq 1 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "$what did not become ready"
}

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >"$out/redis.log" 2>&1 &
pids+=("$!")
wait_for "redis-server" redis-cli -p "$redis_port" ping

ports=()
for name in a b; do
  port=$(free_port)
  env GATEWAY_CONFIG=tests/fixtures/conformance/gateway.toml GATEWAY_DATA_DIR="$out/data-$name" \
    GATEWAY_REDIS_URL="redis://127.0.0.1:$redis_port/" GATEWAY_BIND="127.0.0.1:$port" LOG_LEVEL=info \
    "$bin" serve >"$out/gateway-$name.log" 2>&1 &
  pids+=("$!")
  wait_for "replica $name" curl -fsS "http://127.0.0.1:$port/ready"
  ports+=("$port")
done

proxy_port=$(free_port)
cat >"$out/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $out/nginx.pid;
events { worker_connections 256; }
http {
  access_log $out/nginx-access.log;
  client_body_temp_path $out/nginx-body;
  proxy_temp_path $out/nginx-proxy;
  upstream gateways { server 127.0.0.1:${ports[0]}; server 127.0.0.1:${ports[1]}; }
  server {
    listen 127.0.0.1:$proxy_port;
    location / {
      proxy_pass http://gateways;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
      proxy_buffering off;
      proxy_read_timeout 1h;
    }
  }
}
NGINX
"$nginx" -e "$out/nginx-error.log" -c "$out/nginx.conf" &
pids+=("$!")
wait_for "nginx" curl -fsS "http://127.0.0.1:$proxy_port/health"

"$python" tests/interop/python_replicas.py "http://127.0.0.1:$proxy_port" "http://127.0.0.1:${ports[0]}" "http://127.0.0.1:${ports[1]}"
