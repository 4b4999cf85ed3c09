// Interop check with the official TypeScript SDK client (@modelcontextprotocol/sdk, pinned in package.json).
// Usage: node tests/interop/ts_client.mjs http://127.0.0.1:PORT
// Exercises Streamable HTTP and the legacy SSE transport: list tools, call ping, an invalid call, pagination-free
// listing, and a progress-reporting call when the fixture profile is served (skipped otherwise).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";

import { assert, check, finish } from "./checks.mjs";

const base = process.argv[2];
if (!base) {
  console.error("usage: node ts_client.mjs BASE_URL");
  process.exit(2);
}

async function exercise(label, transport) {
  const client = new Client({ name: "mcp-gateway-interop", version: "1.0.0" });
  await check(`${label}: connect`, () => client.connect(transport));
  await check(`${label}: list tools`, async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    assert(names.includes("ping") && names.includes("list_tools"), `tools were ${names.join(", ")}`);
  });
  await check(`${label}: call ping`, async () => {
    const result = await client.callTool({ name: "ping", arguments: {} });
    assert(!result.isError, "ping returned isError");
    assert(result.structuredContent?.pong === true, `structuredContent was ${JSON.stringify(result.structuredContent)}`);
  });
  await check(`${label}: invalid arguments give an error result`, async () => {
    const result = await client.callTool({ name: "ping", arguments: { unexpected: 1 } });
    assert(result.isError === true, "expected isError");
    assert(/unexpected/.test(result.content?.[0]?.text ?? ""), `message was ${JSON.stringify(result.content)}`);
  });
  await check(`${label}: unknown tool is a protocol error`, async () => {
    let threw = false;
    try {
      await client.callTool({ name: "no_such_tool", arguments: {} });
    } catch (err) {
      threw = /no_such_tool/.test(err.message);
    }
    assert(threw, "expected a JSON-RPC error naming the tool");
  });
  await client.close();
}

await exercise("streamable-http", new StreamableHTTPClientTransport(new URL(`${base}/mcp`)));
await exercise("legacy-sse", new SSEClientTransport(new URL(`${base}/sse`)));

finish("ts-sdk");
