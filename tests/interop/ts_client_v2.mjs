// Interop check with the TypeScript SDK v2 client (@modelcontextprotocol/client, pinned in package.json), per era.
// Usage: node tests/interop/ts_client_v2.mjs BASE FIXTURE_BASE
//   BASE          the shipped gateway's root (without /mcp)
//   FIXTURE_BASE  the root of a gateway serving tests/fixtures/conformance/gateway.toml
// One run per versionNegotiation: { pin: "2026-07-28" } (server/discover must offer it), { mode: "auto" } (the
// probe must choose 2026-07-28 on this gateway), and the client's default, the legacy initialize handshake. Each
// asserts the negotiated version and era, lists the tools and calls ping on BASE, then on FIXTURE_BASE calls
// test_tool_with_progress (progress notifications) and test_input_required_result_elicitation through the
// client's elicitation/create handler: in 2026 the call answers input_required and the client retries with the
// answer; in the handshake era the gateway sends elicitation/create to the client.
// Prints PASS/FAIL lines, then "ts-sdk-v2: N passed, M failed"; exits 1 on any failure.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";

import { assert, check, finish } from "./checks.mjs";

const [base, fixture] = process.argv.slice(2);
if (!base || !fixture) {
  console.error("usage: node ts_client_v2.mjs BASE_URL FIXTURE_BASE_URL");
  process.exit(2);
}

const MODERN = "2026-07-28";
const HANDSHAKE = ["2025-03-26", "2025-06-18", "2025-11-25"];
const texts = (result) => (result.content ?? []).filter((b) => b.type === "text").map((b) => b.text);

// A client whose elicitation/create handler answers every form with a name and records what it was asked.
function newClient(versionNegotiation) {
  const client = new Client(
    { name: "mcp-gateway-interop-v2", version: "1.0.0" },
    { capabilities: { elicitation: {} }, ...(versionNegotiation && { versionNegotiation }) },
  );
  const asked = [];
  client.setRequestHandler("elicitation/create", async (request) => {
    asked.push(request.params.message);
    return { action: "accept", content: { name: "Alice" } };
  });
  return { client, asked };
}

// Connects to the gateway at `url` (named `target`), runs `checks` ([name, fn(client, asked)]) and closes; a failed
// connect fails them all.
async function session(label, versionNegotiation, target, url, checks) {
  const { client, asked } = newClient(versionNegotiation);
  let connected = false;
  await check(`${label}: connect ${target}`, async () => {
    await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
    connected = true;
  });
  for (const [name, fn] of checks) {
    await check(`${label}: ${name}`, async () => {
      assert(connected, "not run: no connection");
      await fn(client, asked);
    });
  }
  await client.close();
}

async function exercise(label, versionNegotiation, era) {
  const versions = era === "modern" ? [MODERN] : HANDSHAKE;
  await session(label, versionNegotiation, "shipped", base, [
    ["negotiated", async (client) => {
      const version = client.getNegotiatedProtocolVersion();
      assert(versions.includes(version) && client.getProtocolEra() === era,
        `negotiated ${version} (${client.getProtocolEra()}), expected ${era} ${versions.join("|")}`);
    }],
    ["list tools", async (client) => {
      const names = (await client.listTools()).tools.map((t) => t.name);
      assert(names.includes("ping") && names.includes("list_tools"), `tools were ${names.join(", ")}`);
    }],
    ["call ping", async (client) => {
      const result = await client.callTool({ name: "ping", arguments: {} });
      assert(!result.isError, `ping returned isError: ${texts(result)}`);
      assert(result.structuredContent?.pong === true, `structuredContent was ${JSON.stringify(result.structuredContent)}`);
    }],
  ]);
  await session(label, versionNegotiation, "fixture", fixture, [
    ["progress", async (client) => {
      const seen = [];
      const result = await client.callTool(
        { name: "test_tool_with_progress", arguments: {} },
        { onprogress: (p) => seen.push(p.progress) },
      );
      assert(!result.isError && texts(result)[0] === "Progress test completed", `result ${JSON.stringify(result)}`);
      const sorted = [...seen].sort((a, b) => a - b);
      assert(seen.length >= 3 && seen.every((v, i) => v === sorted[i]), `progress values ${JSON.stringify(seen)}`);
    }],
    ["elicitation round trip", async (client, asked) => {
      const result = await client.callTool({ name: "test_input_required_result_elicitation", arguments: {} });
      assert(!result.isError, `isError: ${texts(result)}`);
      assert(JSON.stringify(asked) === JSON.stringify(["What is your name?"]), `the handler was asked ${JSON.stringify(asked)}`);
      assert(texts(result).some((t) => t.includes("Hello, Alice!")), `text ${JSON.stringify(texts(result))}`);
    }],
  ]);
}

await exercise("2026 pinned", { mode: { pin: MODERN } }, "modern");
await exercise("auto", { mode: "auto" }, "modern");
await exercise("default (legacy)", undefined, "legacy");

finish("ts-sdk-v2");
