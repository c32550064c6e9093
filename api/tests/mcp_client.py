"""An independent MCP client (the official Python SDK, streamable HTTP transport) driving Ringback's
/mcp endpoint: initialize, list tools, place a call, read its status. Prints one JSON line."""
import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client


async def main(url: str, key: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with streamablehttp_client(url, headers=headers) as (read, write, _):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            placed = await session.call_tool(
                "call_phone", {"to": "+15551234567", "task": "Ask if they can come on Tuesday."}
            )
            call_id = placed.structuredContent["call_id"]
            status = await session.call_tool("get_call_status", {"call_id": call_id})
            listed = await session.call_tool("list_calls", {"limit": 5})
            print(json.dumps({
                "server": init.serverInfo.name,
                "tools": [t.name for t in tools.tools],
                "placed_error": placed.isError,
                "call_id": call_id,
                "status": status.structuredContent,
                "listed": [c["call_id"] for c in listed.structuredContent["data"]],
            }))


asyncio.run(main(sys.argv[1], sys.argv[2]))
