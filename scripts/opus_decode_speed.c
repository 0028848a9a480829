// libopus's own decoding speed on this machine, to compare the workers' Opus cost with:
// call30.wav (16 kHz mono) as 20 ms packets, decoded 20 times. scripts/bench-opus-decode.sh runs it.
#include <opus/opus.h>
#include <stdio.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s call30.wav\n", argv[0]); return 2; }
    FILE *file = fopen(argv[1], "rb");
    if (!file) { perror(argv[1]); return 1; }
    static short pcm[16000 * 30];
    fseek(file, 44, SEEK_SET);
    size_t samples = fread(pcm, 2, 16000 * 30, file);
    fclose(file);
    int error, packets = (int)(samples / 320);
    OpusEncoder *encoder = opus_encoder_create(16000, 1, OPUS_APPLICATION_VOIP, &error);
    static unsigned char packet[1500][400];
    static int length[1500];
    for (int i = 0; i < packets; i++) length[i] = opus_encode(encoder, pcm + i * 320, 320, packet[i], 400);
    OpusDecoder *decoder = opus_decoder_create(16000, 1, &error);
    static short out[5760];
    long frames = 0;
    struct timespec start, end;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
    for (int round = 0; round < 20; round++)
        for (int i = 0; i < packets; i++) frames += opus_decode(decoder, packet[i], length[i], out, 5760, 0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &end);
    double seconds = (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
    double audio = frames / 16000.0;
    printf("libopus decoded %.0f s of audio in %.3f s of CPU: %.2f s per hour of audio\n", audio, seconds, seconds / audio * 3600);
    return 0;
}
