// Interop check with the MCP Inspector's CLI mode (@modelcontextprotocol/inspector, pinned in package.json).
// Usage: node tests/interop/inspector_cli.mjs BASE SCRATCH_DIR
//   BASE         the gateway's root (without /mcp)
//   SCRATCH_DIR  the Inspector's HOME (it keeps a catalog and storage there), created if missing
// Runs `inspector --cli BASE/mcp --protocol-era ERA --method tools/list` and `... --method tools/call --tool-name
// ping` (with --format json) for the eras legacy (initialize), modern (2026-07-28 via server/discover, no fallback)
// and auto, and asserts on what it prints: ping and list_tools are listed, ping answers pong; a 2026 result carries
// the gateway's identity in _meta (io.modelcontextprotocol/serverInfo), a handshake-era result does not.
// Prints PASS/FAIL lines, then "inspector-cli: N passed, M failed"; exits 1 on any failure.
import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";

import { assert, check, finish } from "./checks.mjs";

const [base, scratch] = process.argv.slice(2);
if (!base || !scratch) {
  console.error("usage: node inspector_cli.mjs BASE_URL SCRATCH_DIR");
  process.exit(2);
}
const home = resolve(scratch);
mkdirSync(home, { recursive: true });

const require = createRequire(import.meta.url);
const pkgPath = require.resolve("@modelcontextprotocol/inspector/package.json");
const launcher = join(dirname(pkgPath), require(pkgPath).bin.inspector);

// Runs the Inspector CLI with `args` and returns its JSON result (stdout), or throws with its stderr.
function inspector(args) {
  return new Promise((resolvePromise, reject) => {
    const argv = [launcher, "--cli", `${base}/mcp`, "--format", "json", "--connect-timeout", "10000", ...args];
    execFile(process.execPath, argv, { env: { ...process.env, HOME: home }, timeout: 30000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`exit ${err.code ?? err.signal}: ${(stderr || stdout).trim().slice(0, 300)}`));
      try {
        resolvePromise(JSON.parse(stdout));
      } catch {
        reject(new Error(`not JSON: ${stdout.slice(0, 300)}`));
      }
    });
  });
}

const SERVER_INFO = "io.modelcontextprotocol/serverInfo";
const checks = [];
for (const [era, modern] of [["legacy", false], ["modern", true], ["auto", true]]) {
  checks.push([`${era}: tools/list`, async () => {
    const out = await inspector(["--protocol-era", era, "--method", "tools/list"]);
    const names = (out.result?.tools ?? []).map((t) => t.name);
    assert(names.includes("ping") && names.includes("list_tools"), `tools were ${names.join(", ") || JSON.stringify(out)}`);
  }]);
  checks.push([`${era}: tools/call ping`, async () => {
    const out = await inspector(["--protocol-era", era, "--method", "tools/call", "--tool-name", "ping"]);
    const result = out.result ?? {};
    assert(result.isError === false && result.structuredContent?.pong === true, `result ${JSON.stringify(out).slice(0, 300)}`);
    const identity = result._meta?.[SERVER_INFO]?.name;
    assert(modern ? identity === "mcp-gateway" : identity === undefined,
      `_meta.${SERVER_INFO} is ${JSON.stringify(identity)}: the ${modern ? "2026-07-28" : "handshake"} era expected`);
  }]);
}
// Each check is its own Inspector process: run them at once, report in order.
const outcomes = await Promise.allSettled(checks.map(([, fn]) => fn()));
for (const [i, [name]] of checks.entries()) {
  await check(name, async () => {
    if (outcomes[i].status === "rejected") throw outcomes[i].reason;
  });
}

finish("inspector-cli");
