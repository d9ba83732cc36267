# The sluice image: the `sluice` binary and the example plugins.
#
#   docker build -t sluice .
#   docker run --rm -p 5000:5000 -v sluice-data:/data sluice   # `sluice serve`, all in one
#
# docker-compose.yml runs the same image as `sluice api`, `sluice pipeline`
# and `sluice query`. docs/operations.md says what each needs.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=trixie

# --- builder: release binary + example plugins (wasm32-wasip2) ---
# The release profile keeps line tables for profiling (about 1 GB); the
# image's binary is stripped (`install -s`) and built without `sluice bench`
# (the `bench` feature), which shells out to python3, wrk and ab.
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder

# rdkafka-sys builds librdkafka from source with its ./configure and make,
# which wants a C and a C++ compiler; it links the system zlib found through
# pkg-config. aws-lc-sys (rustls, under object_store's HTTP client) may build
# with cmake. The slim image already has gcc and libc6-dev.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake g++ make pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add wasm32-wasip2

WORKDIR /src
COPY . .
RUN cargo build --release --locked -p sluice --no-default-features \
 && install -s -m 0755 target/release/sluice /usr/local/bin/sluice
# Each example crate on its own, so the test plugins (plugins/testing) stay out.
RUN for crate in plugins/examples/*/; do sluice plugin build "$crate" --out /plugins || exit 1; done

# --- runtime ---
FROM debian:${DEBIAN_RELEASE}-slim

# The binary links only libc, libm, libgcc_s and libz (librdkafka is static).
# curl is for health checks and reading /metrics from inside the container.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --user-group --uid 10001 --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin sluice \
 && mkdir -p /data \
 && chown sluice:sluice /data

COPY --from=builder /usr/local/bin/sluice /usr/local/bin/sluice
# The sluice user owns the plugin folder: pushed versions and their history
# (`.history/`) are written there.
COPY --from=builder --chown=sluice:sluice /plugins /plugins

# /data holds what `./data` holds on a laptop: the broker's log (serve,
# broker), the game state and the admin token (serve, api), and, under
# `serve` with no config, the local lake (/data/lake). SLUICE_PLUGIN_DIR
# overrides `plugin_dir` in a config file, as every SLUICE_* variable
# overrides its key.
ENV SLUICE_DATA=/data \
    SLUICE_PLUGIN_DIR=/plugins
WORKDIR /data
VOLUME ["/data"]
USER sluice

EXPOSE 5000
ENTRYPOINT ["sluice"]
CMD ["serve", "--listen", "0.0.0.0:5000"]
