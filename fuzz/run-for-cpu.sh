#!/usr/bin/env bash
# Runs one fuzz target under `nice -n 19` until it has had CPU_SECONDS of
# CPU (user + system, read from /proc), however long that takes on a busy
# machine, then stops it with SIGINT so libFuzzer prints its final stats.
# Its working corpus and log go to OUT (default /tmp/fuzz/TARGET); crashes
# go to fuzz/artifacts/TARGET, to be fixed and kept.
#
#   RUSTC_BOOTSTRAP=1 cargo fuzz build --fuzz-dir fuzz
#   fuzz/run-for-cpu.sh ndjson 1800
set -u
target=$1
budget=$2
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${3:-/tmp/fuzz/$target}
bin=${CARGO_TARGET_DIR:-$repo/fuzz/target}/x86_64-unknown-linux-gnu/release/$target
mkdir -p "$out/corpus" "$repo/fuzz/artifacts/$target"
nice -n 19 /usr/bin/time -v -o "$out/time.txt" "$bin" "$out/corpus" "$repo/fuzz/corpus/$target" \
    -artifact_prefix="$repo/fuzz/artifacts/$target/" -max_total_time=86400 \
    -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 >"$out/log.txt" 2>&1 &
timed=$!
sleep 2
fuzzer=$(pgrep -P "$timed" | head -1)
ticks=$(getconf CLK_TCK)
while kill -0 "$fuzzer" 2>/dev/null; do
    read -r -a stat <"/proc/$fuzzer/stat" || break
    cpu=$(((stat[13] + stat[14]) / ticks))
    echo "$cpu" >"$out/cpu-seconds"
    if [ "$cpu" -ge "$budget" ]; then
        kill -INT "$fuzzer"
        break
    fi
    sleep 10
done
wait "$timed"
grep -E "stat::|Done|crash|deadly|SUMMARY" "$out/log.txt" | tail -20
