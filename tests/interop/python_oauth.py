#!/usr/bin/env python3
"""Interop check: the official MCP Python SDK's OAuth client (mcp==2.3.0, mcp.client.auth) against a gateway
running the built-in authorization server.

Usage: python tests/interop/python_oauth.py BASE API_KEY [--log GATEWAY_LOG] [--timeout SECONDS]

BASE is the gateway's root (its GATEWAY_PUBLIC_URL, GATEWAY_OAUTH=builtin), API_KEY one of its keys with
tools:list and tools:call. The SDK discovers everything from the 401 (protected resource metadata, then RFC 8414
metadata), registers itself (RFC 7591), sends the browser to the authorization endpoint with PKCE S256, state and
the resource, checks `iss` in the response (RFC 9207) and exchanges the code. The browser is played here: it loads
the consent page, fills the `api_key` field and follows the form to the redirect. Checks:
  oauth-connect     the SDK connects through the whole flow and lists the tools
  oauth-call        it calls `ping` with the token
  oauth-refresh     the SDK refreshes (the stored access token made stale) and keeps working
  oauth-no-token    without the provider the MCP endpoint answers 401 with a resource_metadata challenge
  oauth-log-clean   (with --log) no code, access token, refresh token or API key appears in the gateway's log
Prints "PASS name" / "FAIL name: reason" per check, then "python-oauth: N passed, M failed";
exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import sys
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from python_client import check, ensure, results

REDIRECT = "http://127.0.0.1:9/callback"  # never contacted: the browser stops at the redirect


class Memory:
    """The SDK's TokenStorage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Form(HTMLParser):
    """The consent form's fields."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.action = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action") or ""
        if tag == "input" and a.get("name"):
            self.fields[a["name"] or ""] = a.get("value") or ""


class Person:
    """The browser and the person in it: signs in with the API key."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.result: AuthorizationCodeResult | None = None
        self.codes: list[str] = []

    async def redirect(self, url: str) -> None:
        async with httpx2.AsyncClient(follow_redirects=False) as browser:
            page = await browser.get(url)
            ensure(page.status_code == 200, f"the consent page answered {page.status_code}: {page.text[:200]}")
            form = Form()
            form.feed(page.text)
            ensure("api_key" in form.fields, "the consent page has no api_key field")
            form.fields["api_key"] = self.api_key
            target = f"{url.split('/oauth/')[0]}{form.action}"
            answer = await browser.post(target, data=form.fields)
            ensure(answer.status_code == 302, f"signing in answered {answer.status_code}: {answer.text[:200]}")
            location = answer.headers["location"]
            ensure(location.startswith(REDIRECT), f"redirected to {location}")
            query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
            self.result = AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))
            self.codes.append(query["code"])

    async def callback(self) -> AuthorizationCodeResult:
        ensure(self.result is not None, "no authorization response")
        assert self.result is not None
        return self.result


async def main(args: argparse.Namespace) -> None:
    base, t = args.base.rstrip("/"), args.timeout
    storage = Memory()
    seen: list[str] = []  # every access and refresh token the SDK held
    person = Person(args.api_key)
    metadata = OAuthClientMetadata(
        client_name="python-sdk interop",
        redirect_uris=[REDIRECT],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
        scope="tools:list tools:call",
    )
    provider = OAuthClientProvider(
        server_url=f"{base}/mcp",
        client_metadata=metadata,
        storage=storage,
        redirect_handler=person.redirect,
        callback_handler=person.callback,
    )

    def client() -> Client:
        http = httpx2.AsyncClient(auth=provider, timeout=t)
        return Client(streamable_http_client(f"{base}/mcp", http_client=http), mode="legacy", read_timeout_seconds=t)

    async def connect() -> None:
        async with client() as c:
            names = [tool.name for tool in (await c.list_tools()).tools]
            ensure("ping" in names, f"tools: {names}")
        ensure(storage.tokens is not None and bool(storage.tokens.refresh_token), "no refresh token stored")

    async def call() -> None:
        async with client() as c:
            result = await c.call_tool("ping", {})
            ensure(not result.is_error, f"ping failed: {result}")

    async def refresh() -> None:
        ensure(storage.tokens is not None, "no tokens")
        assert storage.tokens is not None
        before = storage.tokens.refresh_token
        seen.extend([storage.tokens.access_token, before or ""])
        # Make the stored access token unusable: the SDK must refresh (it does on expiry, or on the 401).
        storage.tokens = storage.tokens.model_copy(update={"access_token": "stale", "expires_in": 0})
        provider.context.current_tokens = storage.tokens
        provider.context.update_token_expiry(storage.tokens)
        async with client() as c:
            await c.list_tools()
        ensure(storage.tokens.refresh_token != before, "the refresh token was not rotated")
        seen.extend([storage.tokens.access_token, storage.tokens.refresh_token or ""])

    async def log_clean() -> None:
        with open(args.log, encoding="utf-8", errors="replace") as log:
            text = log.read()
        secrets = [s for s in [*seen, *person.codes, args.api_key] if s and s != "stale"]
        ensure(len(secrets) >= 5, f"only {len(secrets)} secrets were seen")
        leaked = [s[:8] + "..." for s in secrets if s in text]
        ensure(not leaked, f"the gateway's log holds {leaked}")

    async def no_token() -> None:
        async with httpx2.AsyncClient() as plain:
            answer = await plain.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
            ensure(answer.status_code == 401, f"answered {answer.status_code}")
            ensure("resource_metadata=" in answer.headers.get("www-authenticate", ""), "no resource_metadata")

    await check("oauth-connect", t, connect)
    await check("oauth-call", t, call)
    await check("oauth-refresh", t, refresh)
    await check("oauth-no-token", t, no_token)
    if args.log:
        await check("oauth-log-clean", t, log_clean)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", help="the gateway's public URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("api_key", help="an API key of the gateway with tools:list and tools:call")
    parser.add_argument("--log", help="the gateway's log file, checked for secrets at the end")
    parser.add_argument("--timeout", default=20.0, type=float, help="seconds per check")
    ns = parser.parse_args()
    anyio.run(main, ns)
    passed = sum(ok for _, ok in results)
    print(f"python-oauth: {passed} passed, {len(results) - passed} failed", flush=True)
    sys.exit(1 if passed < len(results) else 0)
