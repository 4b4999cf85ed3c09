#!/usr/bin/env python3
"""Benchmark peer: the official MCP Python SDK's own server (mcp==2.3.0) with one trivial tool.

Usage: python bench/python_sdk_server.py HOST PORT      (e.g. 127.0.0.1 9100)

Serves Streamable HTTP at http://HOST:PORT/mcp in stateless JSON-response mode: no
Mcp-Session-Id, no initialize needed, every POST answered with a plain application/json
body. A load generator can POST tools/call directly:

  curl -s http://127.0.0.1:9100/mcp \\
    -H 'Content-Type: application/json' \\
    -H 'Accept: application/json, text/event-stream' \\
    -H 'MCP-Protocol-Version: 2025-11-25' \\
    -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ping","arguments":{}}}'

The Accept header must list both types (else 406); MCP-Protocol-Version is optional
(absent means 2025-03-26) but must be a handshake-era version if sent (else the request
is routed to the SDK's 2026-07-28 path, which needs a different envelope).
Single uvicorn worker, access log off, log level warning.
"""

import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("python-sdk-bench", log_level="WARNING")


@mcp.tool()
def ping() -> dict[str, bool]:
    """Liveness check; returns {"pong": true}."""
    return {"pong": True}


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} HOST PORT")
    host, port = sys.argv[1], int(sys.argv[2])
    # host= only decides whether the SDK turns on DNS-rebinding protection (loopback hosts).
    app = mcp.streamable_http_app(stateless_http=True, json_response=True, host=host)
    uvicorn.run(app, host=host, port=port, workers=1, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
