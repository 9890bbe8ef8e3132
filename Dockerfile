# ltvstream container image.
#
#   docker build -t ltvstream .
#   docker run --rm ltvstream --version
#   docker run -v $PWD/my.properties:/etc/ltvstream/ltvstream.properties:ro ltvstream
#
# Built from source on Debian 12 (the platform CI tests on), run on
# bookworm-slim with only the shared libraries the binary links (their
# dependencies come with them). The image's default configuration is
# /etc/ltvstream/ltvstream.properties (deploy/docker/ltvstream.properties):
# mount your own over it, or pass -X key=value after `run`.

FROM debian:bookworm AS build
# The packages tools/deps.sh installs for building, without the test and
# fuzzing tools.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
         build-essential cmake pkg-config \
         librdkafka-dev libavro-dev libhiredis-dev libmicrohttpd-dev \
         libcurl4-openssl-dev libjansson-dev libjemalloc-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the build reads (.dockerignore keeps the rest out of the
# context), so editing tests or docs does not invalidate this layer.
COPY CMakeLists.txt ./
COPY schemas/ schemas/
COPY consumer/ consumer/
COPY aggregators/ aggregators/
COPY tools/ tools/
COPY bench/ bench/
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    && cmake --build build --target ltvstream -j"$(nproc)" \
    && install -D -m 0755 build/ltvstream /out/usr/local/bin/ltvstream \
    && /out/usr/local/bin/ltvstream --version

FROM debian:bookworm-slim
# Runtime libraries only: librdkafka (with OpenSSL and SASL for secured
# clusters), Avro-C, hiredis, libmicrohttpd, libcurl and jansson (the
# Schema Registry client), jemalloc (the allocator). ca-certificates: TLS to a managed Kafka, Redis
# or registry verifies against the system store.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
         librdkafka1 libavro23 libhiredis0.14 libmicrohttpd12 libcurl4 libjansson4 libjemalloc2 \
         ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home \
         --home-dir /nonexistent --shell /usr/sbin/nologin ltvstream
COPY --from=build /out/ /
COPY deploy/docker/ltvstream.properties /etc/ltvstream/ltvstream.properties

LABEL org.opencontainers.image.title="ltvstream" \
      org.opencontainers.image.description="Repeat-purchase metrics (F2, retention mix, RFM) from Kafka, state in Redis"

# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
# /metrics, /healthz, /readyz (metrics.port).
EXPOSE 9464
# The stage probes its own /healthz (no curl in the image), reading the
# port from the same properties file `run` uses. A container started with
# another file or -X metrics.port should override this (docker run
# --health-cmd, or compose's healthcheck:); one running another subcommand
# (gen, topics) should disable it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["ltvstream", "healthcheck", "-c", "/etc/ltvstream/ltvstream.properties"]
# SIGTERM (docker stop, Kubernetes) makes the stage commit, deliver and
# leave its group within shutdown.*.timeout.ms; give `docker stop` -t 30.
STOPSIGNAL SIGTERM
ENTRYPOINT ["ltvstream"]
CMD ["run", "-c", "/etc/ltvstream/ltvstream.properties"]
