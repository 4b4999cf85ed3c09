// The PASS/FAIL convention of the Node interop clients (ts_client.mjs, ts_client_v2.mjs, inspector_cli.mjs): one
// line per check, then the `LABEL: N passed, M failed` line scripts/test.sh tallies.
let passed = 0;
let failed = 0;

/** Runs `fn`, bounded by `timeoutMs`, and prints `PASS name` or `FAIL name: reason`. */
export async function check(name, fn, timeoutMs = 20000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    await Promise.race([fn(), timeout]);
    passed += 1;
    console.log(`PASS ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`FAIL ${name}: ${String(err?.message ?? err).slice(0, 300)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Throws `message` unless `condition` holds. */
export function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Prints the summary line and exits: 1 if any check failed. */
export function finish(label) {
  console.log(`${label}: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
