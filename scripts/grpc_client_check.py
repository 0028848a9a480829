#!/usr/bin/env python3
"""The gRPC API through a third-party client: Python grpcio with stubs generated from the
committed proto (grpc_tools.protoc). Usage: grpc_client_check.py PORT AUDIO_DIR [TOKEN].

Exits 0 after every check passed; otherwise prints the first that failed and exits 1."""
import importlib
import os
import sys
import tempfile
import time

import grpc
from grpc_tools import protoc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_stubs():
    out = tempfile.mkdtemp(prefix="callstream-grpc-")
    proto_dir = os.path.join(ROOT, "proto")
    result = protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={out}", f"--grpc_python_out={out}",
                          os.path.join(proto_dir, "callstream/v1/calls.proto")])
    if result != 0:
        sys.exit("protoc failed")
    sys.path.insert(0, out)
    return importlib.import_module("callstream.v1.calls_pb2"), importlib.import_module("callstream.v1.calls_pb2_grpc")


def expect(condition, what):
    if not condition:
        print(f"FAILED: {what}")
        sys.exit(1)


def expect_error(call, code, prefix, what):
    try:
        call()
    except grpc.RpcError as error:
        expect(error.code() == code, f"{what}: status {error.code()} (wanted {code}): {error.details()}")
        expect(error.details().startswith(prefix), f"{what}: message {error.details()!r} should start with {prefix!r}")
        return
    expect(False, f"{what}: no error")


def main():
    port, audio_dir = sys.argv[1], sys.argv[2]
    token = sys.argv[3] if len(sys.argv) > 3 else None
    pb, rpc = load_stubs()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    calls = rpc.CallsStub(channel)
    auth = [("authorization", f"Bearer {token}")] if token else []

    if token:
        expect_error(lambda: calls.GetCall(pb.GetCallRequest(call_id="x")), grpc.StatusCode.UNAUTHENTICATED, "unauthorized:",
                     "a call without a token")
        expect_error(lambda: calls.GetCall(pb.GetCallRequest(call_id="x"), metadata=[("authorization", "Bearer wrong")]),
                     grpc.StatusCode.UNAUTHENTICATED, "unauthorized:", "a call with a wrong token")

    # CreateCall: validated as REST validates it.
    expect_error(lambda: calls.CreateCall(pb.CreateCallRequest(caller="not a number", receiver="+15550100", started_at="2026-12-04T09:00:00Z"),
                                          metadata=auth), grpc.StatusCode.INVALID_ARGUMENT, "invalid_phone:", "a bad caller")
    request = pb.CreateCallRequest(caller="+1 555 010 0301", receiver="+15550100302", started_at="2026-12-04T09:00:00Z",
                                   external_id="pbx-0301")
    call = calls.CreateCall(request, metadata=auth)
    expect(call.caller == "+15550100301" and call.status == "created" and call.external_id == "pbx-0301", f"created call {call}")
    expect(not call.HasField("recording"), "a new call has no recording")

    # Idempotency: the same key and request → the same call; another request → refused.
    keyed = auth + [("idempotency-key", "grpc-check-1")]
    first = calls.CreateCall(request, metadata=keyed)
    again = calls.CreateCall(request, metadata=keyed)
    expect(first.id == again.id and first.id != call.id, "a retried CreateCall with its key is the same call")
    other = pb.CreateCallRequest(caller="+15550100399", receiver="+15550100302", started_at="2026-12-04T09:00:00Z")
    expect_error(lambda: calls.CreateCall(other, metadata=keyed), grpc.StatusCode.INVALID_ARGUMENT, "idempotency_key_reused:",
                 "a key reused for another call")

    # UploadRecording: metadata, then chunks; then the call is analysed like any upload.
    with open(os.path.join(audio_dir, "call30_8k.wav"), "rb") as file:
        wav = file.read()

    def upload(call_id, filename, data, metadata):
        def messages():
            yield pb.UploadRecordingRequest(metadata=pb.UploadMetadata(call_id=call_id, filename=filename))
            for start in range(0, len(data), 32 * 1024):
                yield pb.UploadRecordingRequest(chunk=data[start:start + 32 * 1024])
        return calls.UploadRecording(messages(), metadata=metadata)

    uploaded = upload(call.id, "call.wav", wav, auth + [("idempotency-key", "grpc-upload-1")])
    expect(uploaded.id == call.id and uploaded.recording.size_bytes == len(wav), f"uploaded {uploaded.recording}")
    retried = upload(call.id, "call.wav", wav, auth + [("idempotency-key", "grpc-upload-1")])
    expect(retried.recording.id == uploaded.recording.id, "a retried upload with its key is the same recording")
    expect_error(lambda: upload(call.id, "call.wav", wav, auth), grpc.StatusCode.ALREADY_EXISTS, "recording_already_exists:",
                 "a second recording")
    expect_error(lambda: upload(first.id, "call.ogg", wav, auth), grpc.StatusCode.INVALID_ARGUMENT, "unsupported_extension:",
                 "an upload that is not .wav or .mp3")
    expect_error(lambda: upload(first.id, "noise.wav", b"not audio at all" * 10, auth), grpc.StatusCode.INVALID_ARGUMENT,
                 "invalid_audio:", "an upload that is not audio")
    for _ in range(500):
        got = calls.GetCall(pb.GetCallRequest(call_id=call.id), metadata=auth)
        if got.status != "processing":
            break
        time.sleep(0.02)
    expect(got.status == "ready" and abs(got.recording.duration_sec - 30) < 0.05, f"analysed: {got.status} {got.recording}")
    expect(len(got.recording.silence_marks) > 0, "silence marks")

    # SearchCalls: by phone and time range, by external id; bad filters refused.
    found = calls.SearchCalls(pb.SearchCallsRequest(phone="+15550100301", **{"from": "2026-12-04T00:00:00Z"}, to="2026-12-05T00:00:00Z"),
                              metadata=auth)
    expect(call.id in [item.id for item in found.items] and found.total == 2, f"search by phone and time: {found.total}")
    by_id = calls.SearchCalls(pb.SearchCallsRequest(external_id="pbx-0301", limit=1), metadata=auth)
    expect(by_id.limit == 1 and len(by_id.items) == 1, "search by external id, one a page")
    expect_error(lambda: calls.SearchCalls(pb.SearchCallsRequest(to="yesterday"), metadata=auth), grpc.StatusCode.INVALID_ARGUMENT,
                 "invalid_date:", "a bad date")

    # DownloadRecording: the bytes as uploaded; refused for a private call and one without a file.
    pieces = list(calls.DownloadRecording(pb.DownloadRecordingRequest(call_id=call.id), metadata=auth))
    expect(pieces[0].content_type == "audio/wav" and pieces[0].size_bytes == len(wav), f"download header {pieces[0].content_type}")
    expect(b"".join(piece.chunk for piece in pieces) == wav, "the download is the upload")
    private = calls.CreateCall(pb.CreateCallRequest(caller="+15550100303", receiver="+15550100302", started_at="2026-12-04T10:00:00Z",
                                                    private=True), metadata=auth)
    expect_error(lambda: list(calls.DownloadRecording(pb.DownloadRecordingRequest(call_id=private.id), metadata=auth)),
                 grpc.StatusCode.PERMISSION_DENIED, "recording_private:", "a private call's download")
    expect_error(lambda: list(calls.DownloadRecording(pb.DownloadRecordingRequest(call_id=first.id), metadata=auth)),
                 grpc.StatusCode.NOT_FOUND, "recording_not_found:", "a call without a recording")
    expect_error(lambda: calls.GetCall(pb.GetCallRequest(call_id="7c9e6679-7425-40de-944b-e07fc1f90ae7"), metadata=auth),
                 grpc.StatusCode.NOT_FOUND, "call_not_found:", "an unknown call")
    # StreamAudio: the live-session protocol as protobuf — started, an ack and a transcript per
    # chunk with its place in the stream, stopped with the counts; then a ready call.
    with open(os.path.join(audio_dir, "call30.wav"), "rb") as file:
        pcm = file.read()[44:44 + 16000 * 2 * 3]
    chunk_bytes = 3200

    def session():
        yield pb.StreamAudioRequest(audio=b"\0\0")
        yield pb.StreamAudioRequest(start=pb.StartSession(codec="pcm_s16le", sample_rate=16000, channels=1, caller="+15550100304"))
        for start in range(0, len(pcm), chunk_bytes):
            yield pb.StreamAudioRequest(audio=pcm[start:start + chunk_bytes])
        yield pb.StreamAudioRequest(stop=pb.StopSession())

    answers = list(calls.StreamAudio(session(), metadata=auth))
    kinds = [answer.WhichOneof("message") for answer in answers]
    chunks = len(pcm) // chunk_bytes
    expect(kinds[0] == "error" and answers[0].error.code == "not_started", f"audio before start: {answers[0]}")
    expect(kinds[1] == "started" and answers[1].started.call_id, f"started: {answers[1]}")
    acks = [a.ack.seq for a in answers if a.WhichOneof("message") == "ack"]
    transcripts = [a.transcript for a in answers if a.WhichOneof("message") == "transcript"]
    expect(acks == list(range(1, chunks + 1)), f"acks {acks}")
    expect([t.seq for t in transcripts] == list(range(1, chunks + 1)), "a transcript per chunk, in order")
    expect(all(t.start_ms == i * 100 and t.end_ms == i * 100 + 100 for i, t in enumerate(transcripts)), "transcript spans")
    expect(kinds[-1] == "stopped" and answers[-1].stopped.chunks == chunks and abs(answers[-1].stopped.duration_sec - 3) < 0.01,
           f"stopped: {answers[-1]}")
    live_call = answers[1].started.call_id
    for _ in range(500):
        got = calls.GetCall(pb.GetCallRequest(call_id=live_call), metadata=auth)
        if got.status != "processing":
            break
        time.sleep(0.02)
    expect(got.status == "ready" and got.recording.origin == "live" and got.caller == "+15550100304", f"the live call: {got}")
    bad = list(calls.StreamAudio(iter([pb.StreamAudioRequest(start=pb.StartSession(codec="flac", sample_rate=16000, channels=1))]),
                                 metadata=auth))
    expect(len(bad) == 1 and bad[0].error.code == "invalid_codec", f"a bad start: {bad}")
    print("grpc client checks: ok")


if __name__ == "__main__":
    main()
