#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh machine, then
# runs every test — the guest SDK's and example plugins' native unit tests,
# then the host's unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, installed only when missing: redis-server and ab for the
# game API's tests (wrk for its benchmark), docker-compose to check
# docker-compose.yml without a Docker engine, chromium and its driver for the
# web console's browser test.
missing=()
for need in redis-server:redis-server ab:apache2-utils wrk:wrk docker-compose:docker-compose \
    chromium:chromium chromedriver:chromium-driver; do
    command -v "${need%%:*}" >/dev/null || missing+=("${need#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${missing[@]}"
fi

# docker-compose.yml (the multi-machine stack) must stay valid Compose. The
# file refuses to load without SLUICE_ADMIN_TOKEN; any value does for a parse.
echo "checking docker-compose.yml with docker-compose $(docker-compose version --short)"
if ! SLUICE_ADMIN_TOKEN=compose-config-check docker-compose -f docker-compose.yml config -q; then
    echo "error: docker-compose.yml is not valid Compose (docker-compose config says why above)" >&2
    exit 1
fi

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

# Outside readers and clients the tests use: pyarrow and DuckDB read the lake
# back as users' tools do; confluent-kafka (librdkafka) and kafka-python (a
# pure-Python Kafka client) talk to the embedded broker; selenium drives the
# web console in chromium.
if ! python3 -c "import pyarrow, duckdb, deltalake, confluent_kafka, kafka, selenium" 2>/dev/null; then
    python3 -m pip install --quiet pyarrow duckdb deltalake confluent-kafka kafka-python selenium
fi

# kafkajs, a JavaScript Kafka client, on the machine's Node.js.
if [ ! -d tests/node/node_modules/kafkajs ]; then
    (cd tests/node && npm ci --no-audit --no-fund --silent)
fi

# Plugin functions are plain Rust: their unit tests run natively.
(cd plugins && cargo test-native)

if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    cargo test --workspace --no-fail-fast
fi
