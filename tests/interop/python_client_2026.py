#!/usr/bin/env python3
"""Interop check: the official MCP Python SDK (mcp==2.3.0) against a running mcp-gateway, per protocol era.

Usage: python tests/interop/python_client_2026.py BASE --fixture FIXTURE_BASE [--timeout SECONDS]

BASE is the shipped gateway's root, FIXTURE_BASE the root of one serving the conformance fixture profile
(tests/fixtures/conformance/gateway.toml), both without /mcp. One suite per `Client(mode=...)`:
  2026    mode="2026-07-28": adopts 2026-07-28 without a probe; every request stands alone (_meta, no session)
  auto    mode="auto" (the SDK's default): the server/discover probe must choose 2026-07-28 on this gateway
  legacy  mode="legacy": the initialize handshake still works beside it
Each suite asserts the negotiated version, lists the tools, calls `ping` (and with an unknown argument, which
must be an error result) on BASE, then on FIXTURE_BASE calls
test_tool_with_progress (progress notifications, which 2026 sends on the call's own SSE stream) and
test_input_required_result_elicitation through the SDK's elicitation callback: a 2026 call answers
`input_required` and the SDK retries with the answer; the handshake era sends `elicitation/create` to the client.
The 2026 suites also check that first `input_required` result on the wire shape the SDK sees.
Prints "PASS name" / "FAIL name: reason" per check, then "python-sdk-2026: N passed, M failed";
exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import mcp.types as types
from mcp import Client
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from python_client import SERVER_VERSIONS, check, describe, ensure, record, results, texts

MODERN = "2026-07-28"
NAME = "Alice"


class Elicitations:
    """The SDK's elicitation callback: answers every form with a name, and remembers what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, _context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": NAME})


async def suite(prefix: str, mode: str, base: str, fixture: str, t: float) -> None:
    asked = Elicitations()
    Check = tuple[str, Callable[[Client], Awaitable[None]]]

    def era_ok(version: str) -> bool:
        return version == MODERN if mode != "legacy" else version in SERVER_VERSIONS

    async def negotiated(client: Client) -> None:
        version = client.protocol_version
        known = "a handshake" if version in HANDSHAKE_PROTOCOL_VERSIONS else "not a handshake"
        ensure(era_ok(version), f"negotiated {version!r} ({known} version)")

    async def list_tools(client: Client) -> None:
        names = [tool.name for tool in (await client.list_tools()).tools]
        missing = {"ping", "list_tools"} - set(names)
        ensure(not missing, f"missing tools {sorted(missing)}; got {names}")

    async def call_ping(client: Client) -> None:
        result = await client.call_tool("ping")
        ensure(not result.is_error, f"is_error set: {texts(result)}")
        structured = result.structured_content if isinstance(result.structured_content, dict) else {}
        ensure(structured.get("pong") is True, f"no pong in structured_content={result.structured_content!r}")

    async def invalid_args(client: Client) -> None:
        result = await client.call_tool("ping", {"unexpected": 1})
        ensure(result.is_error, f"expected is_error for ping({{'unexpected': 1}}), got {texts(result)}")
        ensure(any("unexpected" in s for s in texts(result)), f"the message does not name the argument: {texts(result)}")

    async def progress(client: Client) -> None:
        seen: list[float] = []

        async def on_progress(value: float, total: float | None, _message: str | None) -> None:
            ensure(total == 100, f"total {total!r}, expected 100")
            seen.append(value)

        result = await client.call_tool("test_tool_with_progress", progress_callback=on_progress)
        ensure(not result.is_error, f"is_error set: {texts(result)}")
        ensure(texts(result) == ["Progress test completed"], f"text {texts(result)!r}")
        ensure(len(seen) >= 3 and seen == sorted(seen), f"expected >= 3 non-decreasing progress values, got {seen}")

    async def input_required_shape(client: Client) -> None:
        # The first round as the wire has it (the SDK would answer it on its own): one elicitation/create.
        first = await client.session.call_tool(
            "test_input_required_result_elicitation", allow_input_required=True, allow_claimed=False
        )
        ensure(isinstance(first, types.InputRequiredResult), f"expected input_required, got {first!r}"[:300])
        requests = first.input_requests or {}
        methods = {key: getattr(request, "method", None) for key, request in requests.items()}
        ensure(methods == {"user_name": "elicitation/create"}, f"inputRequests {methods}")

    async def elicitation(client: Client) -> None:
        result = await client.call_tool("test_input_required_result_elicitation")
        ensure(not result.is_error, f"is_error set: {texts(result)}")
        ensure(asked.asked == ["What is your name?"], f"the callback was asked {asked.asked}")
        ensure(any(f"Hello, {NAME}!" in s for s in texts(result)), f"text {texts(result)!r}")

    async def on(url: str, checks: list[Check]) -> None:
        pending = [name for name, _ in checks]
        try:
            with anyio.fail_after(t * (len(checks) + 1)):  # bounds the whole connection, teardown included
                async with Client(url, mode=mode, read_timeout_seconds=t, elicitation_callback=asked) as client:
                    for name, body in checks:
                        pending.remove(name)
                        await check(f"{prefix}.{name}", t, lambda body=body: body(client))
        except Exception as exc:  # noqa: BLE001 - connect/teardown failure
            reason = "timed out" if isinstance(exc, TimeoutError) else describe(exc)
            for name in pending:
                record(f"{prefix}.{name}", False, reason if name == pending[0] else "not run: no connection")
            if not pending:
                record(f"{prefix}.close", False, reason)

    shipped: list[Check] = [
        ("negotiated", negotiated),
        ("list_tools", list_tools),
        ("call_ping", call_ping),
        ("invalid_args", invalid_args),
    ]
    await on(f"{base}/mcp", shipped)
    fixture_checks: list[Check] = [("progress", progress)]
    if mode != "legacy":
        fixture_checks.append(("input_required_shape", input_required_shape))
    fixture_checks.append(("elicitation", elicitation))
    await on(f"{fixture}/mcp", fixture_checks)


async def main(args: argparse.Namespace) -> None:
    base, fixture = args.base.rstrip("/"), args.fixture.rstrip("/")
    for prefix, mode in (("2026", MODERN), ("auto", "auto"), ("legacy", "legacy")):
        await suite(prefix, mode, base, fixture, args.timeout)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", help="the shipped gateway's base URL without /mcp, e.g. http://127.0.0.1:8080")
    parser.add_argument("--fixture", required=True, help="base URL of a gateway serving the conformance fixtures")
    parser.add_argument("--timeout", default=20.0, type=float, help="seconds per check")
    anyio.run(main, parser.parse_args())
    passed = sum(ok for _, ok in results)
    print(f"python-sdk-2026: {passed} passed, {len(results) - passed} failed", flush=True)
    sys.exit(1 if passed < len(results) else 0)
