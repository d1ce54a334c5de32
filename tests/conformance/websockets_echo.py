"""An echo server on Python's `websockets`: the known-good peer that checks the
Autobahn port itself (run.sh --peer websockets). Usage: websockets_echo.py PORT"""

import asyncio
import sys

from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main(port):
    # No message size limit, like the service under test with max_message_bytes = "1GiB".
    async with serve(echo, "127.0.0.1", port, max_size=2**30, max_queue=None) as server:
        await server.serve_forever()


asyncio.run(main(int(sys.argv[1])))
