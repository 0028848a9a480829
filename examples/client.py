import asyncio, json, sys, websockets  # pip install websockets

async def main(url: str) -> None:
    async with websockets.connect(url) as ws:
        for _ in range(3):
            await ws.send(bytes(3200))                       # 100 ms of 16 kHz 16-bit audio
        for _ in range(6):                                   # 3 acks + 3 transcripts
            msg = json.loads(await ws.recv())
            print(msg["type"], f'{msg["seq"]}:', msg.get("transcription", f'{msg.get("chunk_size")} bytes'))

asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8000/api/audio/ws"))
