#!/usr/bin/env python3
"""Interop check: the official MCP Python SDK (mcp==2.3.0) against a running mcp-gateway.

Usage: python tests/interop/python_client.py BASE [--invalid-tool NAME] [--invalid-args JSON]
           [--timeout SECONDS] [--media]

BASE is the server root without /mcp, e.g. http://127.0.0.1:8080. The handshake era, each suite on its own
connection (tests/interop/python_client_2026.py checks mode="2026-07-28" and mode="auto", which picks 2026-07-28):
  legacy  Streamable HTTP {BASE}/mcp, Client(mode="legacy"): initialize handshake only
  sse     legacy HTTP+SSE {BASE}/sse (+ the POST endpoint it announces), ClientSession
  media   (with --media) Streamable HTTP: higgsfield_image with wait_for_completion and a progress callback
          must report progress while the job runs, then return the stored image (needs a Higgsfield: the
          test script starts examples/fake_higgsfield.rs)
Prints "PASS name" / "FAIL name: reason" per check, then "python-sdk: N passed, M failed";
exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp import Client, ClientSession
from mcp.client.sse import sse_client
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

SERVER_VERSIONS = ("2025-03-26", "2025-06-18", "2025-11-25")  # what the gateway negotiates
results: list[tuple[str, bool]] = []


def record(name: str, ok: bool, reason: str = "") -> None:
    results.append((name, ok))
    print(f"PASS {name}" if ok else f"FAIL {name}: {reason}", flush=True)


def describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:  # unwrap anyio task-group wrapping
        exc = exc.exceptions[0]
    code = getattr(exc, "code", None)  # MCPError carries the JSON-RPC error code
    text = str(exc) or "(no message)"
    return f"{type(exc).__name__}{f' {code}' if code is not None else ''}: {text}"[:300]


def ensure(ok: bool, message: str) -> None:
    if not ok:  # not `assert`: must also hold under python -O
        raise AssertionError(message)


def texts(result: Any) -> list[str]:
    return [block.text for block in result.content if getattr(block, "type", None) == "text"]


async def check(name: str, timeout: float, body: Callable[[], Awaitable[None]]) -> None:
    try:
        with anyio.fail_after(timeout):
            await body()
    except Exception as exc:  # noqa: BLE001 - every failure becomes a FAIL line
        record(name, False, "timed out" if isinstance(exc, TimeoutError) else describe(exc))
    else:
        record(name, True)


@asynccontextmanager
async def open_streamable(url: str, mode: str, timeout: float) -> AsyncIterator[tuple[Any, str]]:
    async with Client(url, mode=mode, read_timeout_seconds=timeout) as client:
        yield client, client.protocol_version


@asynccontextmanager
async def open_sse(url: str, timeout: float) -> AsyncIterator[tuple[Any, str]]:
    async with sse_client(url, timeout=timeout, sse_read_timeout=timeout * 5) as (read, write):
        session = ClientSession(read, write, read_timeout_seconds=timeout)
        async with session:
            init = await session.initialize()
            yield session, init.protocol_version


async def suite(prefix: str, opener: Any, args: argparse.Namespace, invalid: bool) -> None:
    pending = ["initialize", "list_tools", "call_ping"] + (["invalid_args"] if invalid else [])
    t = args.timeout

    async def list_tools(sess: Any) -> None:
        names = {tool.name for tool in (await sess.list_tools()).tools}
        missing = {"ping", "list_tools"} - names
        ensure(not missing, f"missing tools {sorted(missing)}; got {sorted(names)}")

    async def call_ping(sess: Any) -> None:
        result = await sess.call_tool("ping")  # no "arguments" key, as SDK callers usually send
        ensure(not result.is_error, f"is_error set: {texts(result)}")
        structured = result.structured_content if isinstance(result.structured_content, dict) else {}
        pong = structured.get("pong") is True or any("pong" in s for s in texts(result))
        ensure(pong, f"no pong in structured_content={result.structured_content!r} text={texts(result)!r}")

    async def invalid_args(sess: Any) -> None:
        result = await sess.call_tool(args.invalid_tool, args.invalid_args)
        call = f"{args.invalid_tool}({json.dumps(args.invalid_args)})"
        ensure(result.is_error, f"expected is_error for {call}, got {texts(result)}")
        ensure(any(s.strip() for s in texts(result)), "is_error result has no message text")

    try:
        with anyio.fail_after(t * (len(pending) + 1)):  # bounds the whole connection, teardown included
            async with opener() as (sess, version):
                pending.pop(0)
                if version in SERVER_VERSIONS:
                    record(f"{prefix}.initialize", True)
                else:
                    known = "a handshake" if version in HANDSHAKE_PROTOCOL_VERSIONS else "not a handshake"
                    record(f"{prefix}.initialize", False, f"negotiated {version!r} ({known} version)")
                for name, body in (("list_tools", list_tools), ("call_ping", call_ping), ("invalid_args", invalid_args)):
                    if name in pending:
                        pending.remove(name)
                        await check(f"{prefix}.{name}", t, lambda body=body: body(sess))
    except Exception as exc:  # noqa: BLE001 - connect/handshake/teardown failure
        reason = "timed out" if isinstance(exc, TimeoutError) else describe(exc)
        for name in pending:
            record(f"{prefix}.{name}", False, reason if name == pending[0] else "not run: no connection")
        if not pending:
            record(f"{prefix}.close", False, reason)


async def media_suite(base: str, t: float) -> None:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async def waited_job() -> None:
        async with open_streamable(f"{base}/mcp", "legacy", t) as (client, _version):
            arguments = {"prompt": "interop", "wait_for_completion": True, "project_name": "interop"}
            result = await client.call_tool("higgsfield_image", arguments, progress_callback=on_progress)
            ensure(not result.is_error, f"is_error set: {texts(result)}")
            structured = result.structured_content if isinstance(result.structured_content, dict) else {}
            ensure(structured.get("status") == "completed", f"status {structured.get('status')!r}")
            ensure(len(progress) >= 2, f"expected progress during the job, got {progress}")
            values = [value for value, _, _ in progress]
            ensure(values == sorted(set(values)), f"progress must increase: {values}")
            links = [b for b in result.content if getattr(b, "type", None) == "resource_link"]
            ensure(links and "/assets/interop/image/" in str(links[0].uri), f"no asset link in {result.content}")

    await check("media.progress_during_a_job", t * 3, waited_job)


async def main(args: argparse.Namespace) -> None:
    base, t = args.base.rstrip("/"), args.timeout
    await suite("legacy", lambda: open_streamable(f"{base}/mcp", "legacy", t), args, invalid=True)
    await suite("sse", lambda: open_sse(f"{base}/sse", t), args, invalid=False)
    if args.media:
        await media_suite(base, t)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", help="server base URL without /mcp, e.g. http://127.0.0.1:8080")
    parser.add_argument("--invalid-tool", default="ping", help="tool to call with invalid arguments")
    parser.add_argument("--invalid-args", default='{"unexpected": 1}', type=json.loads, help="JSON object")
    parser.add_argument("--timeout", default=20.0, type=float, help="seconds per check")
    parser.add_argument("--media", action="store_true", help="also check progress during a Higgsfield job")
    ns = parser.parse_args()
    if not isinstance(ns.invalid_args, dict):
        parser.error("--invalid-args must be a JSON object")
    anyio.run(main, ns)
    passed = sum(ok for _, ok in results)
    print(f"python-sdk: {passed} passed, {len(results) - passed} failed", flush=True)
    sys.exit(1 if passed < len(results) else 0)
