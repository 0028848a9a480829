// A live session's chunks as the worker decodes them (pcm_s16le checked, G.711 expanded,
// Opus through libopus with state kept between chunks). The first two bytes pick the format;
// the rest is split into chunks by a length byte before each.
import AudioCodecs
import FuzzDriver
import NIOCore
import Protocol

let codecs: [StreamFormat.Codec] = [.pcmS16LE, .mulaw, .alaw, .opus]
let rates = [8000, 12000, 16000, 24000, 48000]

fuzz { input in
    guard input.count >= 2 else { return }
    let codec = codecs[Int(input[0]) % codecs.count]
    let format = StreamFormat(codec: codec, sampleRate: rates[Int(input[1] >> 1) % rates.count], channels: Int(input[1] & 1) + 1)
    var decoders = SessionDecoders()
    var offset = 2
    while offset < input.count {
        let length = Int(input[offset])
        offset += 1
        let chunk = ByteBuffer(bytes: input[offset..<min(input.count, offset + length)])
        offset += length
        var pcm = ByteBuffer()
        if (try? decoders.decode(clientID: 1, format: format, audio: chunk, into: &pcm)) != nil {
            precondition(pcm.readableBytes % 2 == 0, "PCM is whole 16-bit samples")
        }
    }
    decoders.end(clientID: 1)
}
