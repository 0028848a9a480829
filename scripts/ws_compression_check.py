#!/usr/bin/env python3
"""A live stream through Python `websockets`, which offers permessage-deflate by default.

  ws_compression_check.py WS_URL expect-deflate|expect-plain

Streams 5 PCM chunks in a started session and stops; checks every ack, transcript and the
`stopped` message, and that the negotiated extensions are as expected. Prints one JSON line.
"""
import asyncio
import json
import sys

import websockets


async def main(url, expectation):
    async with websockets.connect(url) as ws:
        extensions = [type(e).__name__ for e in ws.protocol.extensions]
        await ws.send(json.dumps({"type": "start", "codec": "pcm_s16le", "sample_rate": 8000, "channels": 1, "record": False}))
        started = json.loads(await ws.recv())
        assert started["type"] == "started", started
        for _ in range(5):
            await ws.send(b"\x01\x00" * 800)
        await ws.send(json.dumps({"type": "stop"}))
        kinds = []
        async for message in ws:
            reply = json.loads(message)
            kinds.append(reply["type"])
            if reply["type"] == "stopped":
                assert reply["chunks"] == 5 and reply["errors"] == 0, reply
        assert kinds.count("ack") == 5 and kinds.count("transcript") == 5 and kinds[-1] == "stopped", kinds
        deflated = "PerMessageDeflate" in extensions
        assert deflated == (expectation == "expect-deflate"), extensions
        print(json.dumps({"extensions": extensions, "replies": len(kinds)}))


asyncio.run(main(sys.argv[1], sys.argv[2]))
