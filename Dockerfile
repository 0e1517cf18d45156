# syntax=docker/dockerfile:1
# wal2kafka: build on Debian 12 with its packages, run on Debian 12 slim with only the
# runtime libraries, as an unprivileged user. See docs/deployment.md.

FROM debian:12-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libpq-dev librdkafka-dev libavro-dev libconfig-dev \
      libcurl4-openssl-dev libmicrohttpd-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY connector/ connector/
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build build --target wal2kafka \
 && strip build/wal2kafka

FROM debian:12-slim
# The shared libraries wal2kafka links (libpq, librdkafka, avro-c, libconfig, libcurl,
# libmicrohttpd, libcrypto), CA certificates for TLS, and curl for the health check.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libpq5 librdkafka1 libavro23 libconfig9 libcurl4 libmicrohttpd12 libssl3 \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system wal2kafka \
 && useradd --system --gid wal2kafka --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin wal2kafka
COPY --from=build /src/build/wal2kafka /usr/local/bin/wal2kafka
COPY config/wal2kafka.cfg /usr/share/doc/wal2kafka/wal2kafka.cfg.example
USER wal2kafka
EXPOSE 9187
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=6 \
  CMD curl -fsS http://127.0.0.1:9187/health || exit 1
ENTRYPOINT ["/usr/local/bin/wal2kafka"]
CMD ["run", "--config", "/etc/wal2kafka/wal2kafka.cfg"]
