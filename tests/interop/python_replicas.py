#!/usr/bin/env python3
"""Interop check: the official MCP Python SDK (mcp==2.3.0) running whole handshake-era sessions against two
gateway replicas behind a plain round-robin proxy (no affinity) that share one Redis.

Usage: python tests/interop/python_replicas.py PROXY REPLICA_A REPLICA_B [--timeout SECONDS]

PROXY is the proxy's root (e.g. http://127.0.0.1:8080); REPLICA_A and REPLICA_B the replicas' own roots, read
for their metrics only. Both replicas serve the conformance fixture profile. Every request of a session may reach
either replica: initialize, tools/list, tools/call with progress, an elicitation answered by the SDK's callback,
and a call the client abandons (the SDK sends notifications/cancelled), which must end cancelled on the replica
running it. Prints "PASS name" / "FAIL name: reason" per check, then "python-replicas: N passed, M failed";
exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import anyio
import httpx2 as httpx
import mcp.types as types
from mcp import Client
from python_client import SERVER_VERSIONS, check, describe, ensure, record, results, texts


async def cancelled_calls(replicas: list[str]) -> int:
    """`slow_compute` calls that ended cancelled, summed over the replicas' /metrics."""
    total = 0
    async with httpx.AsyncClient(timeout=5) as http:
        for base in replicas:
            for line in (await http.get(f"{base}/metrics")).text.splitlines():
                if line.startswith('gateway_tool_calls_total{tool="slow_compute",outcome="cancelled"}'):
                    total += int(float(line.split()[-1]))
    return total


async def main(args: argparse.Namespace) -> None:
    t = args.timeout
    replicas = [args.replica_a.rstrip("/"), args.replica_b.rstrip("/")]
    asked: list[str] = []

    async def on_elicit(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"username": "ada", "email": "ada@example.com"})

    async def list_tools(client: Client) -> None:
        for _ in range(4):  # several requests, so both replicas answer some
            names = {tool.name for tool in (await client.list_tools()).tools}
            ensure({"test_simple_text", "slow_compute", "test_elicitation"} <= names, f"tools {sorted(names)}")

    async def call_tool(client: Client) -> None:
        for _ in range(4):
            result = await client.call_tool("test_simple_text")
            ensure(not result.is_error and texts(result), f"is_error set or no text: {texts(result)}")

    async def progress(client: Client) -> None:
        seen: list[float] = []

        async def on_progress(value: float, _total: float | None, _message: str | None) -> None:
            seen.append(value)

        result = await client.call_tool("test_tool_with_progress", progress_callback=on_progress)
        ensure(not result.is_error, f"is_error set: {texts(result)}")
        ensure(len(seen) >= 3 and seen == sorted(seen), f"expected >= 3 non-decreasing progress values, got {seen}")

    async def elicitation(client: Client) -> None:
        for round_ in range(3):  # the answer POST goes to either replica; a few rounds cross over
            result = await client.call_tool("test_elicitation", {"message": f"Who are you? ({round_})"})
            ensure(not result.is_error, f"is_error set: {texts(result)}")
            structured = result.structured_content if isinstance(result.structured_content, dict) else {}
            ensure(structured.get("action") == "accept", f"structured {structured}")
        ensure(len(asked) == 3, f"the callback was asked {asked}")

    async def cancel(client: Client) -> None:
        before = await cancelled_calls(replicas)
        with anyio.move_on_after(1.5):
            await client.call_tool("slow_compute", {"seconds": 60})
            raise AssertionError("slow_compute finished although the client gave up after 1.5 s")
        with anyio.fail_after(t):
            while await cancelled_calls(replicas) <= before:
                await anyio.sleep(0.1)
        result = await client.call_tool("test_simple_text")  # the session still works after the cancellation
        ensure(not result.is_error, f"is_error set: {texts(result)}")

    checks = [("list_tools", list_tools), ("call_tool", call_tool), ("progress", progress),
              ("elicitation", elicitation), ("cancel", cancel)]
    pending = ["initialize"] + [name for name, _ in checks]
    url = f"{args.proxy.rstrip('/')}/mcp"
    try:
        with anyio.fail_after(t * (len(checks) + 2)):
            async with Client(url, mode="legacy", read_timeout_seconds=t, elicitation_callback=on_elicit) as client:
                pending.remove("initialize")
                version = client.protocol_version
                record("replicas.initialize", version in SERVER_VERSIONS, f"negotiated {version!r}")
                for name, body in checks:
                    pending.remove(name)
                    await check(f"replicas.{name}", t, lambda body=body: body(client))
    except Exception as exc:  # noqa: BLE001 - connect/handshake/teardown failure
        reason = "timed out" if isinstance(exc, TimeoutError) else describe(exc)
        for name in pending:
            record(f"replicas.{name}", False, reason if name == pending[0] else "not run: no connection")
        if not pending:
            record("replicas.close", False, reason)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("proxy", help="the round-robin proxy's root URL")
    parser.add_argument("replica_a", help="replica A's own root URL (for its metrics)")
    parser.add_argument("replica_b", help="replica B's own root URL (for its metrics)")
    parser.add_argument("--timeout", default=20.0, type=float, help="seconds per check")
    anyio.run(main, parser.parse_args())
    passed = sum(ok for _, ok in results)
    print(f"python-replicas: {passed} passed, {len(results) - passed} failed", flush=True)
    sys.exit(1 if passed < len(results) else 0)
