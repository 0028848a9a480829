import asyncio, json, sys, wave, websockets  # pip install websockets

async def main(path: str, url: str) -> None:
    with wave.open(path) as wav:                             # 16-bit PCM WAV
        rate, channels, step = wav.getframerate(), wav.getnchannels(), wav.getframerate() // 10
        chunks = iter(lambda: wav.readframes(step), b"")       # 100 ms chunks
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"type": "start", "codec": "pcm_s16le", "sample_rate": rate, "channels": channels, "caller": "+15550102030"}))
            print(await ws.recv())                             # started: call_id, resume_token
            for chunk in chunks:
                await ws.send(chunk)
            await ws.send(json.dumps({"type": "stop"}))
            async for msg in ws:                               # acks, transcripts, then stopped
                if json.loads(msg)["type"] in ("transcript", "stopped"): print(msg)

asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "ws://127.0.0.1:8000/api/audio/ws"))
