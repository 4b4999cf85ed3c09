#!/usr/bin/env bash
# Run the official MCP conformance suite (@modelcontextprotocol/conformance,
# pinned in tests/interop/package.json: 0.1.16 for the handshake era, and the
# 0.2.0 line installed as the npm alias conformance-2026, which also speaks
# 2026-07-28) against an already running gateway.
#
# Usage: tests/interop/conformance.sh URL [BASELINE]
#   URL       the gateway's MCP endpoint, e.g. http://127.0.0.1:8080/mcp
#             (must be localhost/127.0.0.1/[::1]: the dns-rebinding-protection
#             scenario fails outright for any other host)
#   BASELINE  YAML file of expected failures in the suite's own format:
#                 server:
#                   - tools-call-sampling
#             Default: tests/interop/conformance-baseline.yml, used only if it
#             exists and CONFORMANCE_PACKAGE is the default one (a baseline
#             belongs to one suite version). An explicitly given BASELINE must
#             exist.
#
# Environment (optional):
#   CONFORMANCE_PACKAGE   the package folder under tests/interop/node_modules:
#                         @modelcontextprotocol/conformance (default, 0.1.16) or
#                         conformance-2026 (0.2.0-alpha.12)
#   CONFORMANCE_REQUIREMENTS  a spec revision, e.g. 2026-07-28: run exactly the
#                         scenarios the suite's frozen requirement set for it
#                         names (scored and not scored), at that revision's wire
#                         (--requirements; 0.2.0 only). Replaces CONFORMANCE_SUITE
#   CONFORMANCE_SUITE     active (default) | all | pending
#   CONFORMANCE_SCENARIO  run just this one scenario
#   CONFORMANCE_TIMEOUT   seconds for the whole run (default 900)
#   CONFORMANCE_VERBOSE   1 = also print the suite's full log
#
# Results go to target/conformance/<UTC timestamp>/ (target/conformance/latest
# points at the newest run): run.log (suite output), summary.txt, and one
# server-<scenario>-<time>/checks.json per scenario.
#
# A scenario counts as failed when any of its checks is FAILURE or WARNING, or
# when it produced no checks.json. That is the suite's own rule for
# --expected-failures (without a baseline the suite itself ignores warnings).
# With CONFORMANCE_REQUIREMENTS the scenarios the requirement set runs but does
# not score (extensions, pending) count too: list their failures in the baseline.
# Exit status: 0 when every failed scenario is listed in the baseline and no
# baseline entry passed (a passing entry is stale and must be removed);
# 1 otherwise; 2 for usage or setup errors. Installs nothing: scripts/test.sh
# runs npm in tests/interop.
set -euo pipefail
cd "$(dirname "$0")/../.."

die() { echo "conformance.sh: $*" >&2; exit 2; }

[[ $# -ge 1 && $# -le 2 && -n ${1:-} ]] || die "usage: tests/interop/conformance.sh URL [BASELINE]"
url=$1

if [[ $# -eq 2 ]]; then
  baseline=$2
  [[ -f $baseline ]] || die "baseline file not found: $baseline"
elif [[ -z ${CONFORMANCE_PACKAGE:-} && -f tests/interop/conformance-baseline.yml ]]; then
  baseline=tests/interop/conformance-baseline.yml
else
  baseline=
fi

suite=${CONFORMANCE_SUITE:-active}
scenario=${CONFORMANCE_SCENARIO:-}
run_timeout=${CONFORMANCE_TIMEOUT:-900}

node=tests/interop/node_modules/.bin/node
pkg=tests/interop/node_modules/${CONFORMANCE_PACKAGE:-@modelcontextprotocol/conformance}
requirements=${CONFORMANCE_REQUIREMENTS:-}
[[ -x $node ]] || die "$node missing; install tests/interop first (scripts/test.sh does it)"
[[ -f $pkg/package.json ]] || die "$pkg missing; install tests/interop first (scripts/test.sh does it)"
read -r version bin_rel < <("$node" -e '
  const p = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const b = typeof p.bin === "string" ? p.bin : p.bin.conformance;
  console.log(p.version, b);' "$pkg/package.json")
bin=$pkg/$bin_rel
[[ -f $bin ]] || die "conformance entry point not found: $bin"

case $url in
  http://localhost[:/]* | http://127.0.0.1[:/]* | "http://[::1]"[:/]*) ;;
  *) echo "conformance.sh: note: $url is not a localhost URL; dns-rebinding-protection will fail" >&2 ;;
esac

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=target/conformance/$stamp
[[ ! -e $out ]] || out=$out-$$
mkdir -p "$out"
ln -sfn "$(basename "$out")" target/conformance/latest

args=(server --url "$url" -o "$out")
if [[ -n $scenario ]]; then
  args+=(--scenario "$scenario")
elif [[ -n $requirements ]]; then
  args+=(--requirements "$requirements")
else
  args+=(--suite "$suite")
fi
[[ -z $baseline ]] || args+=(--expected-failures "$baseline")

if [[ -n $scenario ]]; then what=$scenario
elif [[ -n $requirements ]]; then what="requirements $requirements"
else what="$suite suite"; fi
echo "conformance $version: $what against $url${baseline:+ (baseline $baseline)}"
cli_rc=0
timeout --kill-after=10 "$run_timeout" "$node" "$bin" "${args[@]}" >"$out/run.log" 2>&1 || cli_rc=$?
[[ ${CONFORMANCE_VERBOSE:-0} != 1 ]] || cat "$out/run.log"
if [[ $cli_rc -eq 124 || $cli_rc -eq 137 ]]; then
  echo "conformance.sh: suite timed out after ${run_timeout}s; partial results follow" >&2
fi

# Per-scenario summary, computed from the checks.json files the suite wrote.
summary_rc=0
"$node" - "$out" "$baseline" "$scenario" "$cli_rc" <<'EOF' | tee "$out/summary.txt" || summary_rc=${PIPESTATUS[0]}
const fs = require('fs');
const path = require('path');
const [outDir, baselinePath, onlyScenario, cliRc] = process.argv.slice(2);

let expected = [];
if (baselinePath) {
  const YAML = require(path.resolve('tests/interop/node_modules/yaml'));
  const doc = YAML.parse(fs.readFileSync(baselinePath, 'utf8'));
  if (doc != null && (typeof doc !== 'object' || Array.isArray(doc)))
    throw new Error(`${baselinePath}: expected a mapping with a 'server' key`);
  if (doc?.server != null && !Array.isArray(doc.server))
    throw new Error(`${baselinePath}: 'server' must be a list of scenario names`);
  expected = (doc?.server ?? []).map(String);
}
const inBaseline = new Set(expected);

// Scenarios the suite started, in order ("=== Running scenario: X ===").
const log = fs.readFileSync(path.join(outDir, 'run.log'), 'utf8');
const started = [...log.matchAll(/^=== Running scenario: (\S+) ===$/gm)].map((m) => m[1]);
if (onlyScenario && !started.includes(onlyScenario)) started.push(onlyScenario);

// Result folders are named server-<scenario>-<ISO time with ':' and '.' as '-'>.
const results = new Map();
for (const d of fs.readdirSync(outDir)) {
  const m = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/.exec(d);
  if (!m) continue;
  const f = path.join(outDir, d, 'checks.json');
  results.set(m[1], fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) : null);
  if (!started.includes(m[1])) started.push(m[1]);
}

if (started.length === 0) {
  console.log('ERROR the suite ran no scenario; last lines of run.log:');
  console.log(log.split('\n').slice(-15).join('\n'));
  process.exit(1);
}

const width = Math.max(...started.map((s) => s.length));
const counts = { pass: 0, fail: 0, xfail: 0, stale: 0 };
for (const name of started) {
  const checks = results.get(name);
  const n = (st) => (checks ?? []).filter((c) => c.status === st).length;
  const bad = (checks ?? []).filter((c) => c.status === 'FAILURE' || c.status === 'WARNING');
  const failed = checks == null || bad.length > 0;
  const listed = inBaseline.has(name);
  let tag;
  if (failed && listed) { tag = 'XFAIL'; counts.xfail++; }
  else if (failed) { tag = n('FAILURE') || checks == null ? 'FAIL' : 'WARN'; counts.fail++; }
  else if (listed) { tag = 'STALE'; counts.stale++; }
  else { tag = 'PASS'; counts.pass++; }
  const detail = checks == null
    ? 'no checks.json (scenario crashed or never ran)'
    : `${n('SUCCESS')} ok, ${n('FAILURE')} failed, ${n('WARNING')} warnings`;
  console.log(`${tag.padEnd(5)} ${name.padEnd(width)}  ${detail}${tag === 'STALE' ? ' (passes but is in the baseline: remove it)' : ''}`);
  for (const c of bad) {
    const msg = String(c.errorMessage ?? c.details?.message ?? c.description).replace(/\s+/g, ' ');
    console.log(`        ${c.status} ${c.id}: ${msg.length > 300 ? msg.slice(0, 300) + '...' : msg}`);
  }
}
for (const name of expected) if (!started.includes(name)) console.log(`note  baseline entry '${name}' was not run`);

const ok = counts.fail === 0 && counts.stale === 0;
console.log(`conformance: ${started.length} scenarios: ${counts.pass} passed, ${counts.fail} failed, ` +
  `${counts.xfail} expected failures, ${counts.stale} stale baseline entries; suite exit ${cliRc}; ` +
  `results in ${outDir}`);
process.exit(ok ? 0 : 1);
EOF

if [[ $summary_rc -ne 0 ]]; then
  exit 1
fi
if [[ $cli_rc -ne 0 ]]; then
  # Should not happen when the summary passed; trust the stricter verdict.
  echo "conformance.sh: the suite itself exited $cli_rc; see $out/run.log" >&2
  exit 1
fi
exit 0
