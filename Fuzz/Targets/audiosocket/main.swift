// Asterisk AudioSocket's byte stream as `--audiosocket-port` frames it: any bytes give whole
// messages, a wait for more, or a refusal that consumes nothing — never a trap.
import FuzzDriver
import NIOCore
import Telephony

fuzz { input in
    var buffer = ByteBuffer(bytes: input)
    while true {
        let before = buffer.readableBytes
        guard let message = try? AudioSocketMessage.read(from: &buffer) else {
            precondition(buffer.readableBytes == before)
            return
        }
        if case .audio(let rate, let samples) = message {
            precondition(AudioSocketMessage.audioRates.values.contains(rate) && samples.readableBytes % 2 == 0)
        }
        precondition(buffer.readableBytes < before)
    }
}
