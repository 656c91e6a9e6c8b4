"""The peer we measure vizcast against: an asyncio WebSocket relay in Python.

Producers connect to /ingest, viewers to /ws; every text frame from a producer is forwarded, as is,
to every viewer (websockets.broadcast: no per-viewer bound, no late-joiner state). This is the
"server-side relay" baseline of docs/performance.md.

Usage: python3 benches/peers/relay.py PORT   (needs `pip install websockets`)
"""

import asyncio
import sys

import websockets

VIEWERS = set()


async def handler(ws):
    path = ws.request.path.split("?")[0]
    if path == "/ws":
        VIEWERS.add(ws)
        try:
            await ws.wait_closed()
        finally:
            VIEWERS.discard(ws)
    elif path == "/ingest":
        async for message in ws:
            websockets.broadcast(VIEWERS, message)
    else:
        await ws.close(1008, "unknown path")


async def main(port):
    async with websockets.serve(handler, "127.0.0.1", port, max_size=16 * 1024 * 1024, compression=None):
        print(f"relay listening on 127.0.0.1:{port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
