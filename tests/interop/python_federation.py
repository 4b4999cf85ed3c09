#!/usr/bin/env python3
"""Interop check of federation: the official MCP Python SDK (mcp==2.3.0) against a gateway serving real upstream
MCP servers, and against a second gateway whose upstream is the first. Started by tests/interop/federation.sh.

Usage: python tests/interop/python_federation.py A_BASE B_BASE --admin-key K --limited-key L --secret S
           --ts-pid PID --gateway-bin BIN --data-dir DIR [--timeout SECONDS]

Gateway A (keys: K holds `admin`; L may call everything but `py_*`) serves six upstreams: `py` (the Python SDK
server over Streamable HTTP: `internal_only` excluded, `add` renamed `sum` with its own description, `search`'s
`tenant` fixed to "acme"), `quick` (the same server, `sleep*` and `echo` included only, timeout 2 s; its `echo`
meets the gateway's own tool `quick_echo`), `pyio` (the same server as a stdio child), `pysse` (the same over the
legacy HTTP+SSE transport), `ts` (the TypeScript SDK v1 server, process PID) and `gone` (nobody listens). Gateway B
(keyless) serves A as upstream `a` (prefix `a_`), reaching it with the key S. Checks, as a user sees them:
  admin.*   /admin/upstreams states, eras, served counts, the name collision, the failed upstream; /ready
  a-legacy.*, a-2026.*  one Client(mode="legacy") and one Client(mode="2026-07-28") on A: prefixed names, the
            exclude / rename / description rules, the fixed argument (absent from the schema, set on the call),
            add over HTTP, stdio, SSE and TypeScript, progress and log lines relayed, elicitation and sampling answered
            by this client's callbacks, an upstream prompt, a cancelled call cancelled upstream, a timeout as the
            typed error (and cancelled upstream)
  rest.*    REST POST /mcp/tools/call of an upstream tool; a key denied `py_*` sees and calls none of them
  b-legacy.*, b-2026.*  the same calls through B and A (two gateways, one upstream)
  b.*       B serves A's tools; B's view of A in /admin/upstreams, and /admin/config without the key's value
  pins.*    py's `flip` changes `echo`: clients hear tools/list_changed, `py_echo` is held (not listed, not
            callable, listed under `held` with both definitions, and by `mcp-gateway upstream list`), then
            POST /admin/upstreams/py/approve serves it again with the new description
  down.*    the TypeScript upstream stops: its tools answer upstream_unavailable (retryable), the others still work
Prints "PASS name" / "FAIL name: reason" per check ("XFAIL name: reason [known: why]" for a check in
KNOWN_FAILURES, the features the gateway lacks yet), then "federation: N passed, M failed"; exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2 as httpx
import mcp.types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from python_client import describe, ensure, texts

# Checks that fail because the gateway lacks the feature yet, with what is missing (pattern -> reason). Such a
# failure prints XFAIL and does not fail the run; such a check passing prints XPASS and fails it, so the entry is
# removed here as soon as the feature lands. Nothing else belongs here: a wrong answer is a FAIL.
KNOWN_FAILURES: dict[str, str] = {}

MODERN = "2026-07-28"
NAME = "Ada"
SUMMARY = "One line, from the client's model."
SUM_DESCRIPTION = "Add two integers, served by the gateway."
ECHO_BEFORE = "Echo the text back."
ECHO_AFTER = "Echo the text back (version 2)."
PY_SERVED = {"sum", "echo", "search", "count", "ask_name", "summarize", "sleepy", "cancelled", "flip"}
PYIO_SERVED = {"add", "echo", "search", "count", "ask_name", "summarize", "sleepy", "cancelled", "internal_only",
               "flip"}
PYSSE_SERVED = PYIO_SERVED
TS_SERVED = {"add", "count"}
READY = {"py": "ready", "quick": "ready", "pyio": "ready", "pysse": "ready", "ts": "ready"}


results: list[tuple[str, bool]] = []
known: list[str] = []


def record(name: str, ok: bool, reason: str = "") -> None:
    why = next((why for pattern, why in KNOWN_FAILURES.items() if fnmatch.fnmatchcase(name, pattern)), None)
    if why is None:
        results.append((name, ok))
        print(f"PASS {name}" if ok else f"FAIL {name}: {reason}", flush=True)
    elif ok:
        results.append((name, False))
        print(f"FAIL {name}: XPASS, listed as a known failure ({why}): remove it from KNOWN_FAILURES", flush=True)
    else:
        known.append(name)
        print(f"XFAIL {name}: {reason} [known: {why}]", flush=True)


async def check(name: str, timeout: float, body: Callable[[], Awaitable[None]]) -> None:
    try:
        with anyio.fail_after(timeout):
            await body()
    except Exception as exc:  # noqa: BLE001 - every failure becomes a FAIL line
        record(name, False, "timed out" if isinstance(exc, TimeoutError) else describe(exc))
    else:
        record(name, True)


class Peer:
    """This client's side of the relayed requests and notifications: what it was asked, logged and told."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.sampled: list[str] = []
        self.logs: list[str] = []
        self.notified: list[str] = []

    async def elicit(self, _context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": NAME})

    async def sample(self, _context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.sampled.extend(getattr(m.content, "text", "") for m in params.messages)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=SUMMARY), model="interop-model"
        )

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(str(params.data))

    async def message(self, message: Any) -> None:
        method = getattr(message, "method", None) or getattr(getattr(message, "root", None), "method", None)
        if isinstance(method, str):
            self.notified.append(method)


def gateway_error(result: Any) -> dict[str, Any]:
    """The typed error the gateway puts in an error result's `_meta`, or {}."""
    meta = result.meta if isinstance(getattr(result, "meta", None), dict) else {}
    error = meta.get("mcp-gateway/error")
    return error if isinstance(error, dict) else {}


def structured(result: Any) -> Any:
    return result.structured_content


async def poll(what: str, probe: Callable[[], Awaitable[tuple[bool, Any]]], timeout: float) -> Any:
    """Run `probe` every 0.1 s until it answers (True, value); fail after `timeout` s naming the last value."""
    last: Any = None
    with anyio.move_on_after(timeout):
        while True:
            ok, last = await probe()
            if ok:
                return last
            await anyio.sleep(0.1)
    raise AssertionError(f"{what} not within {timeout:g} s; last: {last!r}"[:400])


@asynccontextmanager
async def connect(base: str, mode: str, key: str | None, peer: Peer, t: float) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(t, read=t * 5)) as http:
        client = Client(
            streamable_http_client(f"{base}/mcp", http_client=http),
            mode=mode,
            read_timeout_seconds=t,
            elicitation_callback=peer.elicit,
            sampling_callback=peer.sample,
            logging_callback=peer.log,
            log_level="info" if mode != "legacy" else None,
            message_handler=peer.message,
        )
        async with client:
            yield client


async def session_suite(label: str, base: str, mode: str, key: str | None, via: str, t: float) -> None:
    """One connection on BASE in MODE; every tool name is prefixed with VIA (the outer gateway's prefix)."""
    peer = Peer()
    py, quick, pyio, pysse, ts = (f"{via}{name}_" for name in ("py", "quick", "pyio", "pysse", "ts"))

    async def negotiated(client: Client) -> None:
        version = client.protocol_version
        ok = version == MODERN if mode != "legacy" else version in HANDSHAKE_PROTOCOL_VERSIONS
        ensure(ok, f"negotiated {version!r}")

    async def tools(client: Client) -> dict[str, types.Tool]:
        return {tool.name: tool for tool in (await client.list_tools()).tools}

    def listed(prefix: str, served: set[str]) -> Callable[[Client], Awaitable[None]]:
        async def body(client: Client) -> None:
            names = {name for name in await tools(client) if name.startswith(prefix)}
            expected = {prefix + name for name in served}
            ensure(names == expected, f"missing {sorted(expected - names)}, unexpected {sorted(names - expected)}")

        return body

    async def unreachable(client: Client) -> None:
        names = [name for name in await tools(client) if name.startswith(f"{via}gone_")]
        ensure(not names, f"tools of the unreachable upstream listed: {names}")

    async def rules(client: Client) -> None:
        listing = await tools(client)
        ensure(listing[py + "sum"].description == SUM_DESCRIPTION, f"py_sum: {listing[py + 'sum'].description!r}")
        ensure(
            set(listing[py + "sum"].input_schema.get("properties", {})) == {"a", "b"},
            f"py_sum schema {listing[py + 'sum'].input_schema}",
        )
        ensure(listing[py + "echo"].description == ECHO_BEFORE, f"py_echo: {listing[py + 'echo'].description!r}")
        own = listing[quick + "echo"].description
        ensure(own == "The gateway's own tool of this name.", f"quick_echo is not the gateway's own tool: {own!r}")

    async def fixed_schema(client: Client) -> None:
        schema = (await tools(client))[py + "search"].input_schema
        ensure(set(schema.get("properties", {})) == {"query"}, f"properties {sorted(schema.get('properties', {}))}")
        ensure("tenant" not in schema.get("required", []), f"required {schema.get('required')}")

    async def fixed_call(client: Client) -> None:
        result = await client.call_tool(py + "search", {"query": "invoices"})
        ensure(not result.is_error, f"is_error set: {texts(result)}")
        ensure(structured(result) == {"query": "invoices", "tenant": "acme"}, f"structured {structured(result)!r}")

    async def fixed_not_overridable(client: Client) -> None:
        result = await client.call_tool(py + "search", {"query": "invoices", "tenant": "evil"})
        reached = structured(result) if not result.is_error else None
        ensure(result.is_error or (reached or {}).get("tenant") == "acme", f"the caller set the tenant: {reached!r}")

    def adds(name: str, a: int, b: int) -> Callable[[Client], Awaitable[None]]:
        async def body(client: Client) -> None:
            result = await client.call_tool(name, {"a": a, "b": b})
            ensure(not result.is_error, f"is_error set: {texts(result)}")
            ensure(structured(result) == {"result": a + b}, f"structured {structured(result)!r}")
            ensure(texts(result) == [str(a + b)], f"text {texts(result)!r}")

        return body

    def progress_of(name: str, n: int) -> Callable[[Client], Awaitable[None]]:
        async def body(client: Client) -> None:
            seen: list[tuple[float, float | None]] = []

            async def on_progress(value: float, total: float | None, _message: str | None) -> None:
                seen.append((value, total))

            result = await client.call_tool(name, {"n": n}, progress_callback=on_progress)
            ensure(not result.is_error, f"is_error set: {texts(result)}")
            ensure(texts(result) == [f"counted to {n}"], f"text {texts(result)!r}")
            ensure(seen == [(float(i), float(n)) for i in range(1, n + 1)], f"progress {seen}")

        return body

    async def logs(client: Client) -> None:
        peer.logs.clear()
        result = await client.call_tool(py + "count", {"n": 2})
        ensure(not result.is_error, f"is_error set: {texts(result)}")
        # Log notifications ride the call's stream before its result; allow the client a moment to dispatch them.
        await poll("log lines", lambda: ok_value(peer.logs == ["count step 1", "count step 2"], peer.logs), 2)

    async def elicitation(client: Client) -> None:
        result = await client.call_tool(py + "ask_name")
        ensure(not result.is_error, f"is_error set: {texts(result)}")
        ensure(texts(result) == [f"hello {NAME}"], f"text {texts(result)!r}")
        ensure(peer.asked == ["What is your name?"], f"the elicitation callback was asked {peer.asked}")

    async def sampling(client: Client) -> None:
        result = await client.call_tool(py + "summarize", {"text": "federation relays sampling"})
        ensure(not result.is_error, f"is_error set: {texts(result)}")
        ensure(texts(result) == [SUMMARY], f"text {texts(result)!r}")
        ensure(any("federation relays sampling" in s for s in peer.sampled), f"the model was given {peer.sampled}")

    async def cancelled_count(client: Client) -> int:
        result = await client.call_tool(py + "cancelled")
        ensure(not result.is_error and isinstance(structured(result), dict), f"cancelled(): {texts(result)}")
        return int(structured(result)["cancelled"])

    async def cancel(client: Client) -> None:
        before = await cancelled_count(client)
        with anyio.move_on_after(1.5):
            await client.call_tool(py + "sleepy", {"secs": 30})
            raise AssertionError("sleepy(30) returned although the client gave up after 1.5 s")

        async def probe() -> tuple[bool, int]:
            now = await cancelled_count(client)
            return now > before, now

        await poll("the upstream's count of cancelled calls to rise", probe, t / 2)

    timed_out: dict[str, int] = {}

    async def timeout(client: Client) -> None:
        timed_out["before"] = await cancelled_count(client)
        started = time.monotonic()
        result = await client.call_tool(quick + "sleepy", {"secs": 20})
        elapsed = time.monotonic() - started
        error = gateway_error(result)
        ensure(result.is_error, f"no error after {elapsed:.1f} s: {texts(result)}")
        seen = f"typed error {error}, text {texts(result)}, _meta {result.meta}"
        ensure(error.get("code") == "timeout" and error.get("retryable") is True, seen)
        ensure(elapsed < 10, f"answered after {elapsed:.1f} s; the upstream's timeout is 2 s")

    async def timeout_cancels(client: Client) -> None:
        ensure("before" in timed_out, "not run: the timeout check did not start")

        async def probe() -> tuple[bool, int]:
            now = await cancelled_count(client)
            return now > timed_out["before"], now

        await poll("the upstream's count of cancelled calls to rise after the timeout", probe, t / 2)

    async def prompt(client: Client) -> None:
        names = {p.name for p in (await client.list_prompts()).prompts}
        ensure(py + "greeting" in names and "greeting" not in names, f"prompts {sorted(names)}")
        got = await client.get_prompt(py + "greeting", {"name": NAME})
        said = [getattr(m.content, "text", None) for m in got.messages]
        ensure(said == [f"Please greet {NAME}."], f"messages {said}")

    checks: list[tuple[str, Callable[[Client], Awaitable[None]]]] = [
        ("negotiated", negotiated),
        ("list_http", listed(py, PY_SERVED)),
        ("list_include", listed(quick, {"sleepy", "echo"})),
        ("list_stdio", listed(pyio, PYIO_SERVED)),
        ("list_sse", listed(pysse, PYSSE_SERVED)),
        ("list_ts", listed(ts, TS_SERVED)),
        ("list_unreachable", unreachable),
        ("exclude_rename_description", rules),
        ("fixed_schema", fixed_schema),
        ("fixed_call", fixed_call),
        ("fixed_not_overridable", fixed_not_overridable),
        ("add_http", adds(py + "sum", 2, 3)),
        ("add_stdio", adds(pyio + "add", 4, 5)),
        ("add_sse", adds(pysse + "add", 6, 7)),
        ("add_ts", adds(ts + "add", 20, 22)),
        ("progress", progress_of(py + "count", 3)),
        ("progress_stdio", progress_of(pyio + "count", 2)),
        ("progress_sse", progress_of(pysse + "count", 2)),
        ("progress_ts", progress_of(ts + "count", 4)),
        ("logs", logs),
        ("elicitation", elicitation),
        ("sampling", sampling),
        ("prompt", prompt),
        ("cancel", cancel),
        ("timeout", timeout),
        ("timeout_cancels_upstream", timeout_cancels),
    ]
    pending = [name for name, _ in checks]
    try:
        with anyio.fail_after(t * (len(checks) + 1)):
            async with connect(base, mode, key, peer, t) as client:
                for name, body in checks:
                    pending.remove(name)
                    await check(f"{label}.{name}", t, lambda body=body: body(client))
    except Exception as exc:  # noqa: BLE001 - connect/teardown failure
        reason = "timed out" if isinstance(exc, TimeoutError) else describe(exc)
        for name in pending:
            record(f"{label}.{name}", False, reason if name == pending[0] else "not run: no connection")
        if not pending:
            record(f"{label}.close", False, reason)


async def ok_value(ok: bool, value: Any) -> tuple[bool, Any]:
    return ok, value


def by_name(listing: Any) -> dict[str, dict[str, Any]]:
    upstreams = listing.get("upstreams") if isinstance(listing, dict) else None
    ensure(isinstance(upstreams, list), f"no `upstreams` list: {listing!r}"[:300])
    return {u.get("name"): u for u in upstreams if isinstance(u, dict)}


async def admin_suite(http: httpx.AsyncClient, a: str, t: float) -> None:
    """/admin/upstreams and /ready on A, once the HTTP upstreams have settled (stdio and SSE checked apart)."""
    settled: dict[str, dict[str, Any]] = {}
    http_states = {"py": "ready", "quick": "ready", "ts": "ready", "gone": "failed"}

    async def states() -> None:
        async def probe() -> tuple[bool, Any]:
            answer = await http.get(f"{a}/admin/upstreams")
            if answer.status_code != 200:
                return False, f"{answer.status_code} {answer.text[:200]}"
            ups = by_name(answer.json())
            now = {name: ups.get(name, {}).get("state") for name in http_states}
            return now == http_states, ups

        settled.update(await poll("py, quick, ts ready and gone failed", probe, t))
        ensure(set(settled) == {*READY, "gone"}, f"upstreams listed: {sorted(settled)}")

    async def eras() -> None:
        got = {name: settled[name].get("era") for name in ("py", "quick", "ts")}
        ensure(got["py"] == MODERN and got["quick"] == MODERN, f"eras {got}: the Python SDK answers server/discover")
        ensure(got["ts"] in HANDSHAKE_PROTOCOL_VERSIONS, f"eras {got}: the TypeScript SDK v1 needs initialize")
        transports = {settled[name].get("transport") for name in ("py", "quick", "ts", "gone")}
        ensure(transports == {"streamable_http"}, f"transports {transports}")

    async def counts() -> None:
        got = {name: settled[name].get("tools") for name in http_states}
        ensure(got == {"py": 9, "quick": 1, "ts": 2, "gone": 0}, f"served counts {got}")
        held = {name: settled[name].get("held") for name in ("py", "quick", "ts")}
        ensure(all(h == [] for h in held.values()), f"held at start {held}")

    async def collision() -> None:
        problems = settled["quick"].get("problems") or []
        ensure(any("quick_echo" in str(p) for p in problems), f"quick's problems {problems}")
        ensure(not settled["py"].get("problems"), f"py's problems {settled['py'].get('problems')}")

    async def failed() -> None:
        gone = settled["gone"]
        ensure(isinstance(gone.get("error"), str) and gone["error"], f"gone: {gone}")
        ensure(settled["py"].get("error") is None, f"py error {settled['py'].get('error')!r}")

    def settles(name: str, transport: str, era_ok: Callable[[Any], bool], tools: int) -> Callable[[], Awaitable[None]]:
        async def body() -> None:
            async def probe() -> tuple[bool, Any]:
                up = by_name((await http.get(f"{a}/admin/upstreams")).json()).get(name, {})
                return up.get("state") == "ready", up

            up = await poll(f"{name} ready", probe, t / 2)
            ensure(up.get("transport") == transport and era_ok(up.get("era")), f"{name}: {up}")
            ensure(up.get("tools") == tools and up.get("held") == [], f"{name}: {up}")

        return body

    async def ready() -> None:
        async def probe() -> tuple[bool, Any]:
            answer = await http.get(f"{a}/ready")
            body = answer.json()
            ups = body.get("upstreams") or {}
            seen = (answer.status_code, body.get("status"), ups)
            return seen[:2] == (200, "degraded") and http_states.items() <= ups.items(), seen

        # 200 and degraded: a failed upstream does not make the gateway unready.
        _, _, ups = await poll("/ready 200 degraded with py, quick, ts ready and gone failed", probe, t / 2)
        ensure(set(ups) == {*READY, "gone"}, f"/ready lists the upstreams {sorted(ups)}")

    await check("admin.states", t * 2, states)
    for name, body in (("eras", eras), ("served_counts", counts), ("collision", collision),
                       ("failed_upstream", failed), ("ready", ready),
                       ("state_stdio", settles("pyio", "stdio", lambda era: era == MODERN, len(PYIO_SERVED))),
                       # The SDK's SSE server answers server/discover too.
                       ("state_sse", settles("pysse", "sse", lambda era: era == MODERN, len(PYSSE_SERVED)))):
        if not settled and not name.startswith("state_"):
            record(f"admin.{name}", False, "not run: the upstreams never settled")
            continue
        await check(f"admin.{name}", t * 2, body)


async def rest_suite(http: httpx.AsyncClient, a: str, limited_key: str, t: float) -> None:
    async def call() -> None:
        answer = await http.post(f"{a}/mcp/tools/call", json={"tool_name": "py_sum", "params": {"a": 20, "b": 22}})
        ensure(answer.status_code == 200, f"{answer.status_code} {answer.text[:300]}")
        body = answer.json()
        ensure(body.get("success") is True and body.get("tool_name") == "py_sum", f"body {body}")
        ensure(body.get("result") in ({"result": 42}, 42, "42"), f"result {body.get('result')!r}")

    async def fixed() -> None:
        answer = await http.post(f"{a}/mcp/tools/call", json={"tool_name": "py_search", "params": {"query": "q"}})
        ensure(answer.status_code == 200, f"{answer.status_code} {answer.text[:300]}")
        ensure(answer.json().get("result") == {"query": "q", "tenant": "acme"}, f"result {answer.json()}")

    async def denied() -> None:
        limited = {"Authorization": f"Bearer {limited_key}"}
        listing = await http.get(f"{a}/mcp/tools/list", headers=limited)
        names = {tool["name"] for tool in listing.json().get("tools", [])}
        ensure("ts_add" in names, f"the limited key does not see ts_add: {sorted(names)}")
        ensure(not any(n.startswith("py_") for n in names), f"py_* listed to a key denied them: {sorted(names)}")
        answer = await http.post(
            f"{a}/mcp/tools/call", json={"tool_name": "py_sum", "params": {"a": 1, "b": 2}}, headers=limited
        )
        code = (answer.json().get("error") or {}).get("code")
        ensure(answer.status_code == 404 and code == "unknown_tool", f"{answer.status_code} {answer.text[:300]}")

    for name, body in (("call", call), ("fixed", fixed), ("denied_by_key", denied)):
        await check(f"rest.{name}", t, body)


async def chain_suite(a: str, b: str, secret: str, t: float) -> bool:
    """B's own view of its upstream A; True when B serves A's tools (the session suites through B need them)."""
    serving = False
    async with httpx.AsyncClient(timeout=t) as http:

        async def serves_a() -> None:
            nonlocal serving

            async def probe() -> tuple[bool, Any]:
                answer = await http.get(f"{b}/mcp/tools/list")
                names = {tool.get("name") for tool in answer.json().get("tools", [])}
                return {"a_py_sum", "a_ts_add"} <= names, sorted(names)

            await poll("a_py_sum and a_ts_add served by gateway B", probe, t)
            serving = True

        async def upstream() -> None:
            as_b = {"Authorization": f"Bearer {secret}"}
            offered = (await http.get(f"{a}/mcp/tools/list", headers=as_b)).json().get("total")
            answer = await http.get(f"{b}/admin/upstreams")
            ensure(answer.status_code == 200, f"{answer.status_code} {answer.text[:300]}")
            up = by_name(answer.json()).get("a") or {}
            ensure(up.get("state") == "ready", f"upstream a on B: {up}")
            ensure(up.get("era") == MODERN, f"B speaks {up.get('era')!r} to A; the gateway answers server/discover")
            ensure(up.get("tools") == offered, f"B serves {up.get('tools')} tools of A, A offers B's key {offered}")

        async def config_masked() -> None:
            answer = await http.get(f"{b}/admin/config")
            ensure(answer.status_code == 200, f"{answer.status_code} {answer.text[:200]}")
            ensure(secret not in answer.text, "the upstream's bearer key appears in /admin/config")
            ensure('"a"' in answer.text and "streamable_http" in answer.text, "upstream a is not in /admin/config")

        await check("b.serves_a", t * 2, serves_a)
        await check("b.upstream_admin", t, upstream)
        await check("b.config_masked", t, config_masked)
    return serving


async def pins_suite(http: httpx.AsyncClient, a: str, admin_key: str, args: argparse.Namespace, t: float) -> None:
    peer = Peer()
    names_now: dict[str, types.Tool] = {}

    async def listing(client: Client) -> dict[str, types.Tool]:
        names_now.clear()
        names_now.update({tool.name: tool for tool in (await client.list_tools()).tools})
        return names_now

    async def py_state() -> dict[str, Any]:
        return by_name((await http.get(f"{a}/admin/upstreams")).json()).get("py", {})

    async with connect(a, "legacy", admin_key, peer, t) as client:

        async def flip() -> None:
            ensure("py_echo" in await listing(client), "py_echo is not served before the change")
            result = await client.call_tool("py_flip")
            ensure(texts(result) == [ECHO_AFTER], f"flip answered {texts(result)!r}")

        async def list_changed() -> None:
            async def probe() -> tuple[bool, Any]:
                return "notifications/tools/list_changed" in peer.notified, peer.notified

            await poll("notifications/tools/list_changed from the gateway", probe, t / 2)

        async def held_not_listed() -> None:
            async def probe() -> tuple[bool, Any]:
                names = await listing(client)
                return "py_echo" not in names, sorted(names)

            await poll("py_echo gone from tools/list", probe, t / 2)
            ensure({"py_sum", "ts_add"} <= set(names_now), f"other tools went with it: {sorted(names_now)}")

        async def held_listed() -> None:
            held = (await py_state()).get("held") or []
            ensure(len(held) == 1, f"held {held}")
            entry = held[0]
            ensure(entry.get("tool") == "echo" and entry.get("served_as") == "py_echo", f"held {entry}")
            ensure((entry.get("pinned") or {}).get("description") == ECHO_BEFORE, f"pinned {entry.get('pinned')}")
            ensure((entry.get("offered") or {}).get("description") == ECHO_AFTER, f"offered {entry.get('offered')}")

        async def held_not_callable() -> None:
            answer = await http.post(f"{a}/mcp/tools/call", json={"tool_name": "py_echo", "params": {"text": "x"}})
            code = (answer.json().get("error") or {}).get("code")
            ensure(answer.status_code == 404 and code == "unknown_tool", f"{answer.status_code} {answer.text[:300]}")

        async def cli_list() -> None:
            env = {**os.environ, "GATEWAY_DATA_DIR": args.data_dir}
            run = await anyio.to_thread.run_sync(
                lambda: subprocess.run(
                    [args.gateway_bin, "upstream", "list"], env=env, capture_output=True, text=True, timeout=t
                )
            )
            ensure(run.returncode == 0, f"exit {run.returncode}: {run.stderr[-300:]!r}")
            ensure("py" in run.stdout and "echo" in run.stdout, f"output {run.stdout[-400:]!r}")
            lines = run.stdout.lower().splitlines()
            held_at = next((i for i, line in enumerate(lines) if "held" in line), None)
            ensure("no held changes" not in run.stdout, f"nothing held: {run.stdout[-400:]!r}")
            ensure(held_at is not None and any("echo" in line for line in lines[held_at:]),
                   f"echo's held change not listed: {run.stdout[-400:]!r}")

        approved: dict[str, float] = {}

        async def approve() -> None:
            approved["at"] = time.monotonic()
            answer = await http.post(f"{a}/admin/upstreams/py/approve", json={"tools": ["echo"]})
            ensure(answer.status_code == 200, f"{answer.status_code} {answer.text[:300]}")
            ensure(answer.json() == {"approved": ["echo"]}, f"answer {answer.json()}")

        async def served_again() -> None:
            names = await listing(client)
            if "py_echo" not in names:
                async def probe() -> tuple[bool, Any]:
                    return "py_echo" in await listing(client), None

                try:
                    await poll("py_echo served", probe, 5)
                    late = f"listed {time.monotonic() - approved.get('at', 0):.1f} s after the approval was sent"
                except AssertionError:
                    late = "not listed within 5 s either"
                raise AssertionError(f"py_echo is not served at once after the approval ({late})")
            ensure(names["py_echo"].description == ECHO_AFTER, f"description {names['py_echo'].description!r}")
            result = await client.call_tool("py_echo", {"text": "pinned again"})
            ensure(not result.is_error and texts(result) == ["pinned again"], f"echo answered {texts(result)!r}")
            ensure((await py_state()).get("held") == [], "still held after the approval")

        for name, body in (("flip", flip), ("list_changed", list_changed), ("held_not_listed", held_not_listed),
                           ("held_in_admin", held_listed), ("held_not_callable", held_not_callable),
                           ("cli_list", cli_list), ("approve", approve), ("served_again", served_again)):
            await check(f"pins.{name}", t, body)


async def down_suite(http: httpx.AsyncClient, a: str, ts_pid: int, t: float) -> None:
    async def typed_error() -> None:
        os.kill(ts_pid, signal.SIGTERM)

        async def probe() -> tuple[bool, Any]:
            answer = await http.post(f"{a}/mcp/tools/call", json={"tool_name": "ts_add", "params": {"a": 1, "b": 1}})
            error = answer.json().get("error") or {}
            return error.get("code") == "upstream_unavailable", (answer.status_code, error)

        status, error = await poll("ts_add answering upstream_unavailable", probe, t)
        ensure(status == 503, f"answered {status} {error}")
        ensure(error.get("retryable") is True, f"not retryable: {error}")
        message = error.get("message", "")
        ensure(message.count("upstream `ts`") == 1, f"the message names its upstream once: {message!r}")

    async def state() -> None:
        async def probe() -> tuple[bool, Any]:
            ups = by_name((await http.get(f"{a}/admin/upstreams")).json())
            return ups.get("ts", {}).get("state") != "ready", ups.get("ts")

        await poll("ts no longer ready in /admin/upstreams", probe, t)
        answer = await http.get(f"{a}/ready")
        ensure(answer.status_code == 200 and answer.json().get("status") == "degraded", f"/ready {answer.text[:300]}")

    async def others() -> None:
        answer = await http.post(f"{a}/mcp/tools/call", json={"tool_name": "py_sum", "params": {"a": 2, "b": 2}})
        ensure(answer.status_code == 200, f"py_sum with ts down: {answer.status_code} {answer.text[:300]}")

    for name, body in (("typed_error", typed_error), ("state", state), ("others_still_served", others)):
        await check(f"down.{name}", t * 2, body)


async def main(args: argparse.Namespace) -> None:
    t = args.timeout
    a, b = args.a.rstrip("/"), args.b.rstrip("/")
    admin = {"Authorization": f"Bearer {args.admin_key}"}
    async with httpx.AsyncClient(headers=admin, timeout=t) as http:
        await admin_suite(http, a, t)
        await session_suite("a-legacy", a, "legacy", args.admin_key, "", t)
        await session_suite("a-2026", a, MODERN, args.admin_key, "", t)
        await rest_suite(http, a, args.limited_key, t)
        if await chain_suite(a, b, args.secret, t):
            await session_suite("b-legacy", b, "legacy", None, "a_", t)
            await session_suite("b-2026", b, MODERN, None, "a_", t)
        await pins_suite(http, a, args.admin_key, args, t)
        await down_suite(http, a, args.ts_pid, t)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", help="gateway A's root URL (serving the upstreams)")
    parser.add_argument("b", help="gateway B's root URL (serving gateway A)")
    parser.add_argument("--admin-key", required=True, help="a key of A with the admin scope")
    parser.add_argument("--limited-key", required=True, help="a key of A denied py_*")
    parser.add_argument("--secret", required=True, help="the key B sends A (must not show in B's /admin/config)")
    parser.add_argument("--ts-pid", required=True, type=int, help="the TypeScript upstream's process, stopped last")
    parser.add_argument("--gateway-bin", required=True, help="the gateway binary (for `upstream list`)")
    parser.add_argument("--data-dir", required=True, help="gateway A's data folder")
    parser.add_argument("--timeout", default=20.0, type=float, help="seconds per check")
    anyio.run(main, parser.parse_args())
    passed = sum(ok for _, ok in results)
    note = f" ({len(known)} known failures: {', '.join(known)})" if known else ""
    print(f"federation: {passed} passed, {len(results) - passed} failed{note}", flush=True)
    sys.exit(1 if passed < len(results) else 0)
