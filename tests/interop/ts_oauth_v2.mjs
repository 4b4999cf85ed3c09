// Interop check: the TypeScript SDK v2 client's OAuth support (@modelcontextprotocol/client, pinned in
// package.json) against a gateway running the built-in authorization server.
// Usage: node tests/interop/ts_oauth_v2.mjs BASE API_KEY
//   BASE     the gateway's root (its GATEWAY_PUBLIC_URL, GATEWAY_OAUTH=builtin)
//   API_KEY  one of its keys with tools:list and tools:call
// The client gets the 401, discovers the protected resource and authorization server metadata, registers itself
// (RFC 7591) and hands the authorization URL (PKCE S256, state, resource) to its provider; the browser and the
// person are played here: load the consent page, fill `api_key`, follow the form to the redirect. The client then
// exchanges the code (checking `iss`) and calls with the token, once per era: pinned to 2026-07-28 and in the
// default handshake mode. Prints PASS/FAIL lines, then "ts-oauth-v2: N passed, M failed"; exits 1 on any failure.
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from "@modelcontextprotocol/client";

import { assert, check, finish } from "./checks.mjs";

const [base, apiKey] = process.argv.slice(2);
if (!base || !apiKey) {
  console.error("usage: node ts_oauth_v2.mjs BASE_URL API_KEY");
  process.exit(2);
}
const REDIRECT = "http://127.0.0.1:9/callback"; // never contacted: the browser stops at the redirect

// The SDK's OAuthClientProvider, in memory.
class Provider {
  constructor() {
    this.saved = { client: undefined, tokens: undefined, verifier: undefined };
    this.authorizationUrl = undefined;
  }
  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata() {
    return {
      client_name: "ts-sdk-v2 interop",
      redirect_uris: [REDIRECT],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      scope: "tools:list tools:call",
    };
  }
  clientInformation() {
    return this.saved.client;
  }
  saveClientInformation(client) {
    this.saved.client = client;
  }
  tokens() {
    return this.saved.tokens;
  }
  saveTokens(tokens) {
    this.saved.tokens = tokens;
  }
  redirectToAuthorization(url) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier) {
    this.saved.verifier = verifier;
  }
  codeVerifier() {
    return this.saved.verifier;
  }
  // Which authorization server the flow started with, so the callback leg is checked against it (SEP-2352).
  saveDiscoveryState(state) {
    this.saved.discovery = state;
  }
  discoveryState() {
    return this.saved.discovery;
  }
}

// The browser and the person in it: the consent page's form, signed with the API key; the redirect's parameters.
async function signIn(authorizationUrl) {
  const page = await fetch(authorizationUrl, { redirect: "manual" });
  const html = await page.text();
  assert(page.status === 200, `the consent page answered ${page.status}: ${html.slice(0, 200)}`);
  const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
  assert(action, "the consent page has no form");
  const fields = new URLSearchParams();
  for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    fields.set(name, value.replaceAll("&amp;", "&").replaceAll("&quot;", '"').replaceAll("&lt;", "<").replaceAll("&gt;", ">"));
  }
  assert(/name="api_key"/.test(html), "the consent page has no api_key field");
  fields.set("api_key", apiKey);
  const answer = await fetch(new URL(action, authorizationUrl), { method: "POST", body: fields, redirect: "manual" });
  assert(answer.status === 302, `signing in answered ${answer.status}`);
  const location = new URL(answer.headers.get("location"));
  assert(location.href.startsWith(REDIRECT), `redirected to ${location.href}`);
  return location.searchParams;
}

async function run(label, versionNegotiation) {
  const provider = new Provider();
  const options = { authProvider: provider };
  const newClient = () =>
    new Client({ name: "ts-oauth-v2", version: "1.0.0" }, versionNegotiation ? { versionNegotiation } : {});
  let transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), options);
  await check(`${label}: the 401 starts the flow`, async () => {
    let refused = false;
    try {
      await newClient().connect(transport);
    } catch (err) {
      refused = err instanceof UnauthorizedError;
      if (!refused) throw err;
    }
    assert(refused, "connected without signing in");
    assert(provider.authorizationUrl, "no authorization URL was handed to the provider");
    assert(provider.saved.client?.client_id, "the client did not register");
    const url = new URL(provider.authorizationUrl);
    assert(url.searchParams.get("code_challenge_method") === "S256", "not PKCE S256");
    assert(url.searchParams.get("resource") === `${base}/mcp`, `resource ${url.searchParams.get("resource")}`);
  });
  await check(`${label}: sign in, exchange the code, call with the token`, async () => {
    const params = await signIn(provider.authorizationUrl);
    await transport.finishAuth(params);
    assert(provider.saved.tokens?.access_token && provider.saved.tokens?.refresh_token, "no tokens saved");
    transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), options);
    const client = newClient();
    await client.connect(transport);
    const names = (await client.listTools()).tools.map((t) => t.name);
    assert(names.includes("ping"), `tools: ${names}`);
    const result = await client.callTool({ name: "ping", arguments: {} });
    assert(!result.isError, `ping failed: ${JSON.stringify(result)}`);
    await client.close();
  });
}

await run("2026-07-28", { pin: "2026-07-28" });
await run("handshake", undefined);
finish("ts-oauth-v2");
