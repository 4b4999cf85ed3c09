# shellcheck shell=bash
# Helpers shared by the benchmark scripts (bench/run.sh, bench/upstream.sh): settings, tools, server start-up with
# readiness polling, CPU accounting, the wait for a quiet machine, wrk runs and their BENCH lines, formatting.
# Source it from a script that has run `set -euo pipefail` and changed to the repository root; it runs nothing.
#
# Common environment (all optional; each script documents its own as well):
#   BENCH_DURATION     measured run, wrk syntax: 10s, 30s, 1m                                  (default 10s)
#   BENCH_WARMUP       warm-up run before each measured one                                     (default: BENCH_DURATION)
#   BENCH_QUIET_WAIT   seconds to wait for a >= 90% idle machine before each measured run       (default 120)
#   BENCH_ATTEMPTS     measured runs at most: a run during which other processes took > 10% of the CPU is repeated;
#                      the least disturbed one is reported                                      (default 3)
#   BENCH_CONNECTIONS  concurrent connections of the throughput runs                            (default 32)
#   BENCH_THREADS      wrk threads of the throughput runs                                       (default 2)
#   BENCH_ROUNDS       repeated measurements behind a verdict, whose median it takes (run.sh, upstream.sh)  (default 3)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: FAILED: %s\n' "$*" >&2; exit 1; }

# "10s" / "1m" / "10" -> seconds, to bound wrk with timeout(1).
to_seconds() {
    local v="$1"
    case "$v" in
        *[0-9]s) echo "${v%s}" ;;
        *[0-9]m) echo $(( ${v%m} * 60 )) ;;
        *[0-9]h) echo $(( ${v%h} * 3600 )) ;;
        *[0-9]) echo "$v" ;;
        *) die "cannot parse duration '$v' (use e.g. 10s, 30s, 1m)" ;;
    esac
}

# Reads the common settings into DURATION, WARMUP, DURATION_S, WARMUP_S, ATTEMPTS, QUIET_WAIT_S, ROUNDS,
# CONNECTIONS, THREADS, and SETTINGS (the same settings as `NAME=value` words, for the report's exact command).
bench_settings() {
    CONNECTIONS="${BENCH_CONNECTIONS:-32}"
    THREADS="${BENCH_THREADS:-2}"
    DURATION="${BENCH_DURATION:-10s}"
    WARMUP="${BENCH_WARMUP:-$DURATION}"
    ATTEMPTS="${BENCH_ATTEMPTS:-3}"
    QUIET_WAIT_S="${BENCH_QUIET_WAIT:-120}"
    ROUNDS="${BENCH_ROUNDS:-3}"
    DURATION_S="$(to_seconds "$DURATION")"
    WARMUP_S="$(to_seconds "$WARMUP")"
    [[ "$DURATION_S" =~ ^[0-9]+$ && "$DURATION_S" -gt 0 ]] || die "BENCH_DURATION must be a positive whole number of s/m/h"
    [[ "$WARMUP_S" =~ ^[0-9]+$ ]] || die "BENCH_WARMUP must be a whole number of s/m/h"
    [[ "$ATTEMPTS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ATTEMPTS must be a positive whole number"
    [[ "$QUIET_WAIT_S" =~ ^[0-9]+$ ]] || die "BENCH_QUIET_WAIT must be a whole number of seconds"
    [[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive whole number"
    [[ "$CONNECTIONS" =~ ^[1-9][0-9]*$ && "$THREADS" =~ ^[1-9][0-9]*$ ]] \
        || die "BENCH_CONNECTIONS and BENCH_THREADS must be positive whole numbers"
    SETTINGS="BENCH_DURATION=$DURATION BENCH_WARMUP=$WARMUP BENCH_CONNECTIONS=$CONNECTIONS BENCH_THREADS=$THREADS"
    SETTINGS+=" BENCH_ATTEMPTS=$ATTEMPTS BENCH_QUIET_WAIT=$QUIET_WAIT_S"
}

# median NUMBER...: the middle one (the mean of the middle two for an even count), as given.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Checks that each named command exists.
require_commands() {
    local command
    for command in "$@"; do
        command -v "$command" >/dev/null || die "$command is required"
    done
}

# Installs wrk with apt-get when it is missing (as root, or with sudo).
ensure_wrk() {
    command -v wrk >/dev/null && return 0
    log "installing wrk with apt-get"
    local sudo=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null || die "wrk is missing and we are not root (install wrk by hand)"
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq wrk >/dev/null
    command -v wrk >/dev/null || die "apt-get install wrk did not provide wrk"
}

# ---------------------------------------------------------------------------------------------------------------
# Work directory and processes
# ---------------------------------------------------------------------------------------------------------------
# bench_init: creates $WORK and installs the traps that stop every started server and remove $WORK on exit.
BENCH_PIDS=()
bench_init() {
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/mcp-gateway-bench.XXXXXX")"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

stop() {
    local pid="$1"
    [[ -n "$pid" ]] || return 0
    kill "$pid" 2>/dev/null || return 0
    # Bounded wait for a graceful exit, then SIGKILL.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

bench_cleanup() {
    local status=$? pid
    trap - EXIT INT TERM
    for pid in "${BENCH_PIDS[@]}"; do stop "$pid"; done
    rm -rf "$WORK"
    exit "$status"
}

# A port nobody listens on right now (the kernel picks it; the race with the server's bind is checked later).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# curl_post URL BODY HEADER_LINES OUT: one POST of BODY with the headers (lines "Name: value"); writes the body
# to OUT and prints "<http code> <content type>" ("000 -" when nothing answered).
curl_post() {
    local url="$1" body="$2" header_lines="$3" out="$4" line
    local args=()
    while IFS= read -r line; do [[ -n "$line" ]] && args+=(-H "$line"); done <<<"$header_lines"
    curl -sS --max-time 5 -o "$out" -w '%{http_code} %{content_type}' "${args[@]}" --data-binary "$body" "$url" \
        2>/dev/null || echo "000 -"
}

# wait_ready NAME PID PORT LOGFILE PROBE: polls (bounded) until `PROBE PORT` prints a status starting with 200.
# Returns 1 when the process exited because its port was taken meanwhile (the caller retries on another port);
# dies on any other failure.
READY_TIMEOUT_S=60
wait_ready() {
    local name="$1" pid="$2" port="$3" logfile="$4" probe="$5"
    local deadline=$(( SECONDS + READY_TIMEOUT_S )) status="none"
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            grep -qi 'address already in use' "$logfile" 2>/dev/null && return 1
            cat "$logfile" >&2 || true
            die "$name (pid $pid) exited before it was ready on port $port"
        fi
        status="$("$probe" "$port")"
        [[ "$status" == 200* ]] && break
        if (( SECONDS >= deadline )); then
            cat "$logfile" >&2 || true
            die "$name not ready on port $port after ${READY_TIMEOUT_S}s (last answer: HTTP $status)"
        fi
        sleep 0.1
    done
    # Whoever answered must be our process: a lost bind would have ended it by now.
    if ! kill -0 "$pid" 2>/dev/null; then
        grep -qi 'address already in use' "$logfile" 2>/dev/null && return 1
        cat "$logfile" >&2 || true
        die "$name (pid $pid) is not running; port $port was answered by another process"
    fi
}

# start_server NAME LOGFILE LAUNCH PROBE: picks a free port, runs `LAUNCH PORT LOGFILE` (which must start the
# server in the background, its output in LOGFILE), and waits until PROBE gets a 200; on a lost race for the port
# it tries again on another. Sets SERVER_PID and SERVER_PORT; the server is stopped on exit.
start_server() {
    local name="$1" logfile="$2" launch="$3" probe="$4" attempt port pid
    for attempt in 1 2 3; do
        port="$(free_port)"
        log "starting $name on 127.0.0.1:$port"
        "$launch" "$port" "$logfile"
        pid=$!
        BENCH_PIDS+=("$pid")
        if wait_ready "$name" "$pid" "$port" "$logfile" "$probe"; then
            SERVER_PID=$pid SERVER_PORT=$port
            return 0
        fi
        wait "$pid" 2>/dev/null || true
        unset 'BENCH_PIDS[-1]'
        log "$name lost the race for port $port (attempt $attempt)"
    done
    die "could not start $name on a free port"
}

# kB of VmHWM (peak resident set) / VmRSS (resident set now) of a live process.
peak_rss_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# ---------------------------------------------------------------------------------------------------------------
# CPU accounting and the quiet wait
# ---------------------------------------------------------------------------------------------------------------
# In clock ticks, so a report can say how much of the machine other processes took. machine_ticks prints: process
# time (user+nice+system), all busy time, total time; the rest of busy time is interrupt/softirq work (loopback TCP
# is mostly processed there, charged to no process) and hypervisor steal.
CLK_TCK="$(getconf CLK_TCK)"
machine_ticks() {
    awk '/^cpu / { proc = $2 + $3 + $4; busy = proc + $7 + $8 + $9; print proc, busy, busy + $5 + $6 }' /proc/stat
}
# process_ticks "PID [PID...]": user+system time of the processes, summed.
process_ticks() {
    local pid total=0 ticks
    for pid in $1; do
        ticks="$(sed -E 's/^.*\) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')"
        total=$(( total + ticks ))
    done
    echo "$total"
}
# user+system time of this shell's terminated children (wrk, via timeout), from the `times` builtin. It must run
# in this shell (not in a $(...) subshell, which would report its own children), hence the file.
children_ticks() {
    times >"$WORK/times"
    tail -n1 "$WORK/times" | awk -v hz="$CLK_TCK" '{
        t = 0
        for (i = 1; i <= 2; i++) { split($i, ms, "m"); sub(/s$/, "", ms[2]); t += ms[1] * 60 + ms[2] }
        printf "%d\n", t * hz }'
}

# Waits (bounded by BENCH_QUIET_WAIT seconds) until the machine is >= 90% idle over one second: other jobs
# (compilers, test suites) on a shared box distort a CPU-bound benchmark. Proceeds with a warning after that.
wait_quiet() {
    local deadline=$(( SECONDS + QUIET_WAIT_S )) b0 t0 b1 t1 idle
    while :; do
        read -r _ b0 t0 < <(machine_ticks)
        sleep 1
        read -r _ b1 t1 < <(machine_ticks)
        idle=$(( t1 > t0 ? 100 - 100 * (b1 - b0) / (t1 - t0) : 100 ))
        (( idle >= 90 )) && return 0
        if (( SECONDS >= deadline )); then
            log "WARNING: the machine is only ${idle}% idle after waiting ${QUIET_WAIT_S}s; measuring anyway"
            return 0
        fi
        log "machine ${idle}% idle; waiting for other jobs to finish (up to ${QUIET_WAIT_S}s)"
    done
}

# ---------------------------------------------------------------------------------------------------------------
# wrk runs
# ---------------------------------------------------------------------------------------------------------------
# The Lua script every run uses: it sends BENCH_BODY with BENCH_HEADERS and prints the BENCH line parsed below.
WRK_LUA=bench/json_post.lua

# The headers of a stateless MCP JSON POST (no session). A handshake-era version: the gateway and the Python SDK
# serve it statelessly (the Python SDK routes an absent header to 2025-03-26 and a 2026+ one to a different
# envelope, so name the version explicitly).
MCP_HEADERS='Content-Type: application/json
Accept: application/json, text/event-stream
MCP-Protocol-Version: 2025-11-25'

# wrk_env BODY HEADER_LINES: exports the request for bench/json_post.lua.
wrk_env() {
    export BENCH_BODY="$1" BENCH_HEADERS="$2"
}

# wrk_run NAME DURATION SECONDS URL OUT: one bounded wrk run with WRK_ARGS and the Lua script, output in OUT. wrk
# reports an error in its script and goes on sending whatever request it had: that is a failure here.
wrk_run() {
    local name="$1" duration="$2" seconds="$3" url="$4" out="$5"
    timeout $(( seconds + 30 )) wrk "${WRK_ARGS[@]}" -s "$WRK_LUA" -d "$duration" "$url" >"$out" 2>&1 \
        || die "$name: wrk failed: $(cat "$out")"
    if grep -q "^$WRK_LUA: " "$out"; then die "$name: the wrk script failed: $(cat "$out")"; fi
}

# measure_once NAME URL "PID..." OUT: one measured wrk run of BENCH_DURATION with WRK_ARGS into OUT; sets the
# results R_RPS R_P50 R_P99 R_REQUESTS R_SOCKET_ERRORS R_NON2XX and the CPU shares (percent of all cores)
# R_CPU_SERVER (the PIDs together) R_CPU_WRK R_CPU_KERNEL R_CPU_OTHER with the summary R_CPU.
measure_once() {
    local name="$1" url="$2" pids="$3" out="$4" line
    local mp0 mb0 mt0 mp1 mb1 mt1 s0 s1 c0 c1
    children_ticks >"$WORK/c0"
    read -r mp0 mb0 mt0 < <(machine_ticks); s0="$(process_ticks "$pids")"
    wrk_run "$name" "$DURATION" "$DURATION_S" "$url" "$out"
    read -r mp1 mb1 mt1 < <(machine_ticks); s1="$(process_ticks "$pids")"
    children_ticks >"$WORK/c1"
    c0="$(<"$WORK/c0")" c1="$(<"$WORK/c1")"
    cat "$out" >&2
    line="$(grep '^BENCH ' "$out")" || die "$name: no BENCH line in wrk output:"$'\n'"$(cat "$out")"
    R_REQUESTS="$(sed -E 's/.* requests=([0-9]+).*/\1/' <<<"$line")"
    R_RPS="$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<<"$line")"
    R_P50="$(sed -E 's/.* p50_us=([0-9]+).*/\1/' <<<"$line")"
    R_P99="$(sed -E 's/.* p99_us=([0-9]+).*/\1/' <<<"$line")"
    R_SOCKET_ERRORS="$(awk '{ n = 0; for (i = 1; i <= NF; i++) if ($i ~ /^err_(connect|read|write|timeout)=/) { split($i, kv, "="); n += kv[2] } print n }' <<<"$line")"
    # wrk counts every response with status > 399 here (it prints the same number as "Non-2xx or 3xx responses").
    R_NON2XX="$(sed -E 's/.* err_status=([0-9]+).*/\1/' <<<"$line")"
    read -r R_CPU_SERVER R_CPU_WRK R_CPU_KERNEL R_CPU_OTHER < <(awk -v mp=$(( mp1 - mp0 )) -v mb=$(( mb1 - mb0 )) \
        -v mt=$(( mt1 - mt0 )) -v s=$(( s1 - s0 )) -v c=$(( c1 - c0 )) 'BEGIN {
            if (mt <= 0) { print 0, 0, 0, 0; exit }
            o = mp - s - c; if (o < 0) o = 0
            printf "%.0f %.0f %.0f %.0f\n", 100 * s / mt, 100 * c / mt, 100 * (mb - mp) / mt, 100 * o / mt }')
    R_CPU="server ${R_CPU_SERVER}%, wrk ${R_CPU_WRK}%, softirq/irq/steal ${R_CPU_KERNEL}%, other processes ${R_CPU_OTHER}%"
    log "$name: CPU during the measured run (share of all cores): $R_CPU"
}

# run_wrk NAME URL "PID..." TAG: with WRK_ARGS (threads, connections, --latency) and the request of wrk_env: a
# warm-up, then measured runs until one is undisturbed by other processes (at most BENCH_ATTEMPTS; the least
# disturbed one is kept, whatever its throughput). The PIDs are the servers whose CPU time counts as "server".
# Leaves that run's R_* set, and R_ATTEMPTS.
run_wrk() {
    local name="$1" url="$2" pids="$3" tag="$4" attempt best="" best_other=101 v
    wait_quiet
    if (( WARMUP_S > 0 )); then
        log "$name: warm-up ${WARMUP} (wrk ${WRK_ARGS[*]})"
        wrk_run "$name" "$WARMUP" "$WARMUP_S" "$url" "$WORK/wrk.$tag.warmup.txt"
    fi
    for (( attempt = 1; attempt <= ATTEMPTS; attempt++ )); do
        (( attempt == 1 )) || wait_quiet
        log "$name: measured run ${DURATION} (wrk ${WRK_ARGS[*]}; attempt $attempt of at most $ATTEMPTS)"
        measure_once "$name" "$url" "$pids" "$WORK/wrk.$tag.$attempt.txt"
        if (( R_CPU_OTHER < best_other )); then
            best_other=$R_CPU_OTHER
            best="$(declare -p R_RPS R_P50 R_P99 R_REQUESTS R_SOCKET_ERRORS R_NON2XX R_CPU_SERVER R_CPU_WRK \
                R_CPU_KERNEL R_CPU_OTHER R_CPU | sed 's/^declare -- //')"
        fi
        (( R_CPU_OTHER <= 10 )) && break
        log "other processes used ${R_CPU_OTHER}% of the machine during this run; it does not count as clean"
    done
    while IFS= read -r v; do eval "$v"; done <<<"$best"
    R_ATTEMPTS=$(( attempt > ATTEMPTS ? ATTEMPTS : attempt ))
    if (( R_CPU_OTHER > 10 )); then
        log "WARNING: every $name run was disturbed; kept the least disturbed (other processes ${R_CPU_OTHER}%)"
    fi
}

# note_run_problems NAME: after run_wrk, adds to BENCH_NOTES what went wrong in the kept run (failed requests set
# BENCH_FAILED=1; a disturbed run is only noted).
BENCH_NOTES=""
BENCH_FAILED=0
note_run_problems() {
    local name="$1"
    if [[ "$R_SOCKET_ERRORS" != 0 || "$R_NON2XX" != 0 ]]; then
        BENCH_NOTES+="**errors:** $name had $R_SOCKET_ERRORS socket errors and $R_NON2XX responses with status >= 400."$'\n'
        BENCH_FAILED=1
    fi
    if (( R_CPU_OTHER > 10 )); then
        BENCH_NOTES+="**disturbed:** other processes used ${R_CPU_OTHER}% of the machine during the $name run; its numbers are off."$'\n'
    fi
}

# ---------------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------------
fmt_latency() { awk -v us="$1" 'BEGIN { if (us > -1000 && us < 1000) printf "%d µs", us; else printf "%.2f ms", us / 1000 }'; }
fmt_mib() { awk -v kb="$1" 'BEGIN { printf "%.1f MiB", kb / 1024 }'; }

# fmt_added_us A B: A - B in µs, signed ("+13 µs").
fmt_added_us() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+d µs", a - b }'; }
# fmt_ratio A B: A / B with two decimals.
fmt_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# tag_row LABEL TAG: a table row of what `measure` recorded under TAG (req/s, p50, p99, p50 at c=1).
tag_row() {
    local rps="${2}_RPS" p50="${2}_P50" p99="${2}_P99" c1="${2}_P50_C1"
    printf '| %s | %.0f | %s | %s | %s |\n' "$1" "${!rps}" "$(fmt_latency "${!p50}")" "$(fmt_latency "${!p99}")" \
        "$(fmt_latency "${!c1}")"
}
# write_report TITLE FILE TABLE: the report with its context (the load before the run in LOAD_BEFORE, the command in
# COMMAND), the revision, the table and any notes.
write_report() {
    {
        printf '# %s\n\n' "$1"
        report_context "$LOAD_BEFORE" "$COMMAND"
        printf -- '- revision: %s\n\n%s\n' "$(git_revision)" "$3"
        if [[ -n "$BENCH_NOTES" ]]; then printf '\n%s' "$BENCH_NOTES"; fi
    } >"$2"
}

# One line describing the machine: CPUs, memory, kernel.
machine_summary() {
    local cpu memory
    cpu="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    memory="$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
    printf '%s CPUs (%s), %s RAM, Linux %s' "$(nproc)" "$cpu" "$memory" "$(uname -r)"
}

# The short git revision, marked when tracked files have uncommitted changes.
git_revision() {
    local rev
    rev="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then rev="$rev (+ uncommitted changes)"; fi
    printf '%s' "$rev"
}

# The names of the GATEWAY_* variables the gateway inherits from the caller's environment (values not shown: keys may
# be among them), or "none": a report that says "as shipped" must say what was not.
inherited_gateway_settings() {
    local names
    names="$(compgen -e | grep '^GATEWAY_' | paste -sd, - || true)"
    printf '%s' "${names:-none}"
}

# The audit log setting the gateway runs with: as shipped (on), or what the caller's GATEWAY_AUDIT says.
audit_setting() {
    if [[ -n "${GATEWAY_AUDIT:-}" ]]; then printf 'GATEWAY_AUDIT=%s (from the caller)' "$GATEWAY_AUDIT"
    else printf 'audit log on (as shipped)'; fi
}

wrk_version() { (wrk -v 2>&1 || true) | head -n1; }

# report_context LOAD_BEFORE COMMAND: the report's first list items (date, machine and load, exact command).
report_context() {
    printf -- '- date: %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf -- '- machine: %s; load average before the run: %s\n' "$(machine_summary)" "$1"
    printf -- '- command: `%s`\n' "$2"
}

# bench_finish TABLE REPORT_FILE TARGETS_LINE: prints the table, the notes and the targets, says where the report
# went, and fails when requests failed during the runs.
bench_finish() {
    printf '\n%s\n\n' "$1"
    if [[ -n "$BENCH_NOTES" ]]; then printf '%s' "$BENCH_NOTES"; fi
    printf '%s\nwritten to %s\n' "$3" "$2"
    if (( BENCH_FAILED )); then die "requests failed during the run (see above)"; fi
}
