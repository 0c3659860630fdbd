"""An MCP client on the official Python SDK (`pip install mcp`), driven by the obsctl tests.

It connects to obsctl's gateway over stdio (`--stdio CMD ...`) or streamable HTTP (`--http URL`),
lists tools, resources and prompts, makes the calls it is given, and prints one JSON report:
what a real client saw. A connection that fails is reported, not raised.
"""

import argparse
import asyncio
import json
import sys

from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import Implementation


def dump(model):
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


async def session(args, report):
    info = Implementation(name="it-agent", version="1.0")
    if args.http:
        headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
        transport = streamable_http_client(args.http, http_client=create_mcp_http_client(headers=headers))
        client = Client(transport, client_info=info, cache=None)
    else:
        params = StdioServerParameters(command=args.stdio[0], args=args.stdio[1:], env=json.loads(args.env))
        client = Client(params, client_info=info, cache=None)
    async with client:
        report["server"] = dump(client.server_info) if client.server_info else None
        tools = await client.list_tools()
        report["tools"] = [dump(t) for t in tools.tools]
        for call in json.loads(args.calls):
            try:
                result = await client.call_tool(call["tool"], call.get("args", {}))
                report["calls"].append({"tool": call["tool"], **dump(result)})
            except Exception as e:  # a protocol error: what the client raised
                report["calls"].append({"tool": call["tool"], "exception": f"{type(e).__name__}: {e}"})
        report["resources"] = [dump(r) for r in (await client.list_resources()).resources]
        report["templates"] = [dump(t) for t in (await client.list_resource_templates()).resource_templates]
        if args.read:
            report["read"] = dump(await client.read_resource(args.read))
        report["prompts"] = [dump(p) for p in (await client.list_prompts()).prompts]
        if args.prompt:
            report["prompt"] = dump(await client.get_prompt("investigate_incident", {"incident_id": args.prompt}))


def describe(e):
    """Every exception inside `e` (task groups nest them), as `Type: message`."""
    if isinstance(e, BaseExceptionGroup):
        return [d for x in e.exceptions for d in describe(x)]
    return [f"{type(e).__name__}: {e}"]


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--http")
    parser.add_argument("--token")
    parser.add_argument("--stdio", nargs=argparse.REMAINDER)
    parser.add_argument("--env", default="{}")
    parser.add_argument("--calls", default="[]")
    parser.add_argument("--read")
    parser.add_argument("--prompt")
    args = parser.parse_args()
    report = {"calls": []}
    try:
        await session(args, report)
    except BaseException as e:  # noqa: BLE001 - the report says what happened
        report["connect_error"] = " | ".join(describe(e))
    json.dump(report, sys.stdout)


asyncio.run(main())
