# CallStream in a container: the Swift toolchain builds the release binaries (Swift's runtime
# linked in statically), then a slim Debian image runs them with only the C libraries they link.
#   docker build -t callstream .      docker compose up      (see README, "Containers")

FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       pkg-config libsqlite3-dev libmpg123-dev libopus-dev libmp3lame-dev zlib1g-dev libpocketsphinx-dev \
       python3-pip unzip \
    && rm -rf /var/lib/apt/lists/*
# Moonshine: the moonshine-cpp wheel's onnxruntime and model (no Python needed to run them;
# the worker has its own decoding loop and does not use the wheel's libmoonshine.so).
RUN pip3 download --no-deps --break-system-packages -d /tmp/wheel moonshine-cpp==0.1.4 \
    && unzip -q /tmp/wheel/*.whl 'moonshine_cpp/*' -d /opt
WORKDIR /src
# Dependencies first: they change less often than the sources.
COPY Package.swift ./
RUN swift package resolve
COPY Sources Sources
COPY Tests Tests
RUN swift build -c release --static-swift-stdlib --product stream-server \
    && swift build -c release --static-swift-stdlib --product audio-worker \
    && swift build -c release --static-swift-stdlib --product load-client \
    && swift build -c release --static-swift-stdlib --product pbx-ingest \
    && mkdir /out \
    && cp .build/release/stream-server .build/release/audio-worker .build/release/load-client .build/release/pbx-ingest /out/

FROM debian:bookworm-slim AS runtime
# Exactly what `ldd` names besides glibc (checked by Tests/StreamServerTests/ContainerTests.swift),
# and curl for the health check.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       libsqlite3-0 libmpg123-0 libopus0 libmp3lame0 zlib1g libstdc++6 libgcc-s1 libpocketsphinx3 libsphinxbase3 pocketsphinx-en-us curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin callstream \
    && mkdir -p /data \
    && chown callstream /data
COPY --from=build /out/ /usr/local/bin/
COPY --from=build /opt/moonshine_cpp /opt/moonshine
USER callstream
VOLUME /data
ENV CALLSTREAM_HOST=0.0.0.0 \
    CALLSTREAM_PORT=8000 \
    CALLSTREAM_DATA_DIR=/data \
    CALLSTREAM_MOONSHINE_DIR=/opt/moonshine
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8000/readyz >/dev/null || exit 1
ENTRYPOINT ["stream-server"]
