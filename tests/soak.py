#!/usr/bin/env python3
"""Soak and chaos run of `sluice serve` (CI never runs this; see
docs/performance.md for the figures and the command).

For --duration (30 minutes by default) it:
  - runs `sluice serve` in a scratch folder, under `sluice load` at a steady
    rate (which records every acknowledged event's id with --acked);
  - kills the whole serve process with -9 every --kill-every and restarts it;
  - swaps a plugin every --swap-every (PUT /plugins, alternating a tagged
    copy of game_events and is_purchase);
  - sends admin queries in a loop;
  - samples serve's RSS, open files and threads, and the disk use of ./data
    and ./lake, every --sample-every.
At the end it stops serve cleanly and checks, with DuckDB over the lake's
Parquet files, that every acknowledged event is in its table(s) exactly
once. It prints the samples, a summary per process lifetime and the
verdict against the targets (flat RSS after warm-up within 10%, no growth
in fds or threads, no acknowledged event lost or duplicated), writes
samples.csv and summary.json in the scratch folder, and exits 1 if a
target is missed.

Everything it starts runs under `nice -n 19`; it talks to 127.0.0.1 only.
"""

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "soak-admin-token"
INGEST_KEY = "soak-ingest-key"

# Which tables each acknowledged route's event lands in (game_events and
# is_purchase, the default pipelines); `/` events go to no table.
TABLES_OF_ROUTE = {
    "/signup": ["events_user"],
    "/login": ["events_user"],
    "/buy/{item}": ["events_buy"],
    "/join_guild/{guild}": ["events_guild"],
    "/purchase_a_sword": ["events_buy", "sword_purchases"],
    "/": [],
}


def duration(text):
    units = {"s": 1, "m": 60, "h": 3600}
    if text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Serve:
    """`sluice serve` in `dir`, restarted at will."""

    def __init__(self, binary, dir, port, broker_port):
        self.binary, self.dir = binary, dir
        self.port, self.broker_port = port, broker_port
        self.process = None
        self.lifetime = 0

    def start(self):
        self.lifetime += 1
        out = open(self.dir / f"serve-{self.lifetime}.log", "w")
        env = dict(os.environ, SLUICE_ADMIN_TOKEN=TOKEN, SLUICE_INGEST_KEY=INGEST_KEY)
        self.process = subprocess.Popen(
            ["nice", "-n", "19", str(self.binary), "serve",
             "--data", str(self.dir / "data"),
             "--listen", f"127.0.0.1:{self.port}",
             "--broker-listen", f"127.0.0.1:{self.broker_port}"],
            cwd=self.dir, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 300
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"sluice serve exited: see {out.name}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2)
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        raise SystemExit("sluice serve did not answer /health in 300 s")

    def pid(self):
        # `nice` execs sluice, so the child is sluice itself.
        return self.process.pid

    def kill9(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def terminate(self):
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=300)


def http(method, url, body=None, token=TOKEN, timeout=60):
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        return None, str(e).encode()


def tagged(wasm, tag):
    """The component with a custom section naming `tag`: another content
    hash, the same plugin."""
    name = b"sluice-soak"
    payload = bytes([len(name)]) + name + tag.encode()
    assert len(payload) < 128
    return wasm + bytes([0, len(payload)]) + payload


def proc_sample(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss_kib = int(fields["VmRSS"].split()[0])
    threads = int(fields["Threads"])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss_kib, fds, threads


def disk_use(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except FileNotFoundError:
                pass
    return total


class Chaos:
    def __init__(self, args, serve, stop):
        self.args, self.serve, self.stop = args, serve, stop
        self.samples, self.queries, self.query_errors, self.swaps = [], 0, 0, []
        self.lock = threading.Lock()
        self.up = threading.Event()
        self.up.set()

    def url(self, path):
        return f"http://127.0.0.1:{self.serve.port}{path}"

    def queries_loop(self):
        sqls = [
            "select count(*) from events_buy",
            "select item_type, count(*) as n from events_buy group by item_type order by n desc",
            "select guild_name, count(distinct username) from events_guild group by guild_name",
            "select count(*) from sword_purchases",
            "show tables",
        ]
        i = 0
        while not self.stop.is_set():
            self.up.wait()
            status, body = http("POST", self.url("/query"), sqls[i % len(sqls)].encode())
            i += 1
            with self.lock:
                self.queries += 1
                # 400 before a table's first file is fine; None is a restart.
                if status not in (200, 400, None):
                    self.query_errors += 1
                    log(f"query answered {status}: {body[:200]!r}")
            self.stop.wait(self.args.query_every)

    def swaps_loop(self, plugins):
        n = 0
        while not self.stop.wait(self.args.swap_every):
            self.up.wait()
            name = ["game_events", "is_purchase"][n % 2]
            n += 1
            status, body = http("PUT", self.url(f"/plugins/{name}"),
                                tagged(plugins[name], f"swap-{n}"), timeout=180)
            self.swaps.append((time.time(), name, status))
            log(f"swap {n} of {name}: {status}")

    def sample(self, started):
        pid = self.serve.pid()
        try:
            rss, fds, threads = proc_sample(pid)
        except (FileNotFoundError, ProcessLookupError, KeyError):
            return
        row = {
            "t": round(time.time() - started, 1),
            "lifetime": self.serve.lifetime,
            "age": round(time.time() - self.lifetime_started, 1),
            "rss_mib": round(rss / 1024, 1),
            "fds": fds,
            "threads": threads,
            "data_mib": round(disk_use(self.serve.dir / "data") / 2**20, 1),
            "lake_mib": round(disk_use(self.serve.dir / "lake") / 2**20, 1),
        }
        self.samples.append(row)
        log("sample " + " ".join(f"{k}={v}" for k, v in row.items()))


def table_files(lake, table):
    """The data files of a Delta table's current version (a Parquet glob
    would also read files compaction replaced)."""
    from deltalake import DeltaTable

    path = lake / table
    if not (path / "_delta_log").exists():
        return []
    return [uri.removeprefix("file://") for uri in DeltaTable(str(path)).file_uris()]


def overlapping_files(lake):
    """Per table, the data files whose offset ranges overlap another's in
    the same partition: the pipeline writing an offset twice. File names
    are `part-<topic>-<partition>-<first>-<last>-<tag>.parquet`; compacted
    files name no range and are left out."""
    overlaps = {}
    for table in sorted({t for ts in TABLES_OF_ROUTE.values() for t in ts}):
        ranges = {}
        for f in table_files(lake, table):
            stem = f.rsplit("/", 1)[-1].removesuffix(".parquet")
            parts = stem[len("part-"):].rsplit("-", 3)
            if not stem.startswith("part-") or len(parts) != 4:
                continue
            topic_partition, first, last, _tag = parts
            if not (first.isdigit() and last.isdigit()):
                continue
            ranges.setdefault(topic_partition, []).append((int(first), int(last)))
        count = 0
        for spans in ranges.values():
            spans.sort()
            count += sum(1 for a, b in zip(spans, spans[1:]) if b[0] <= a[1])
        overlaps[table] = count
    return overlaps


def lake_counts(lake, acked):
    """(lost, duplicated, checked): acknowledged events missing from a
    table they belong in, event ids in it more than once, and how many
    (event, table) pairs were checked."""
    import duckdb

    con = duckdb.connect()
    con.execute("create table acked(route varchar, event_id varchar)")
    con.executemany("insert into acked values (?, ?)", acked)
    lost, duplicated, checked = {}, {}, 0
    for table in sorted({t for ts in TABLES_OF_ROUTE.values() for t in ts}):
        routes = [r for r, ts in TABLES_OF_ROUTE.items() if table in ts]
        files = table_files(lake, table)
        if files:
            con.execute(
                f"create or replace view t as select event_id from read_parquet({[str(f) for f in files]!r}, union_by_name=true)")
        else:
            con.execute("create or replace view t as select null::varchar as event_id where false")
        in_list = ", ".join(f"'{r}'" for r in routes)
        want = con.execute(f"select count(*) from acked where route in ({in_list})").fetchone()[0]
        checked += want
        lost[table] = con.execute(
            f"select count(*) from acked a where route in ({in_list}) "
            "and not exists (select 1 from t where t.event_id = a.event_id)").fetchone()[0]
        duplicated[table] = con.execute(
            "select count(*) from (select event_id from t group by event_id having count(*) > 1)").fetchone()[0]
    return lost, duplicated, checked


def summarize(samples, warmup):
    """Per lifetime: RSS, fds and threads at the end of warm-up and at the
    end of the lifetime."""
    by_life = {}
    for s in samples:
        by_life.setdefault(s["lifetime"], []).append(s)
    lives = []
    for life, rows in sorted(by_life.items()):
        warm = [r for r in rows if r["age"] >= warmup]
        if len(warm) < 2:
            continue
        first, last = warm[0], warm[-1]
        lives.append({
            "lifetime": life,
            "minutes": round((last["age"] - first["age"]) / 60, 1),
            "rss_after_warmup_mib": first["rss_mib"],
            "rss_end_mib": last["rss_mib"],
            "rss_max_mib": max(r["rss_mib"] for r in warm),
            "rss_growth": round(last["rss_mib"] / first["rss_mib"] - 1, 3),
            "fds": (first["fds"], last["fds"], max(r["fds"] for r in warm)),
            "threads": (first["threads"], last["threads"], max(r["threads"] for r in warm)),
        })
    return lives


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=duration, default=duration("30m"))
    p.add_argument("--kill-every", type=duration, default=duration("5m"))
    p.add_argument("--swap-every", type=duration, default=duration("60s"))
    p.add_argument("--query-every", type=duration, default=duration("2s"))
    p.add_argument("--sample-every", type=duration, default=duration("15s"))
    p.add_argument("--warmup", type=duration, default=duration("90s"),
                   help="a lifetime's first part, left out of the flatness figures")
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--players", type=int, default=20)
    p.add_argument("--port", type=int, default=5600)
    p.add_argument("--broker-port", type=int, default=9692)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    p.add_argument("--binary", type=Path, default=target / "debug" / "sluice")
    p.add_argument("--plugins", type=Path, default=ROOT / "plugins/target/wasm32-wasip2/release")
    p.add_argument("--dir", type=Path, help="scratch folder (default: a new one under /tmp)")
    p.add_argument("--check", type=Path, metavar="DIR",
                   help="only check the lake of an earlier run in DIR against its acked.txt")
    args = p.parse_args()
    if args.check:
        acked = [tuple(line.split(" ", 1)) for line in (args.check / "acked.txt").read_text().splitlines() if " " in line]
        lost, duplicated, checked = lake_counts(args.check / "lake", acked)
        print(json.dumps({"acknowledged_events": len(acked), "event_table_pairs_checked": checked,
                          "lost": lost, "duplicated": duplicated,
                          "overlapping_files": overlapping_files(args.check / "lake")}, indent=2))
        return

    dir = args.dir or Path(tempfile.mkdtemp(prefix="sluice-soak-"))
    dir.mkdir(parents=True, exist_ok=True)
    (dir / "data" / "plugins").mkdir(parents=True, exist_ok=True)
    plugins = {}
    for name in ["game_events", "is_purchase"]:
        wasm = (args.plugins / f"{name}.wasm").read_bytes()
        plugins[name] = wasm
        shutil.copy(args.plugins / f"{name}.wasm", dir / "data" / "plugins" / f"{name}.wasm")
    log(f"soak in {dir} for {args.duration / 60:.0f} min with {args.binary}")

    serve = Serve(args.binary, dir, args.port, args.broker_port)
    stop = threading.Event()
    chaos = Chaos(args, serve, stop)
    serve.start()
    started = chaos.lifetime_started = time.time()
    acked_path = dir / "acked.txt"
    load = subprocess.Popen(
        ["nice", "-n", "19", str(args.binary), "load",
         "--url", f"http://127.0.0.1:{args.port}",
         "--players", str(args.players), "--rate", str(args.rate),
         "--duration", f"{int(args.duration)}s", "--acked", str(acked_path)],
        cwd=dir, stdout=open(dir / "load.log", "w"), stderr=subprocess.STDOUT)
    threads = [threading.Thread(target=chaos.queries_loop, daemon=True),
               threading.Thread(target=chaos.swaps_loop, args=(plugins,), daemon=True)]
    for t in threads:
        t.start()

    kills = []
    next_kill = started + args.kill_every
    next_sample = started
    end = started + args.duration
    while time.time() < end:
        now = time.time()
        if now >= next_sample:
            chaos.sample(started)
            next_sample = max(next_sample + args.sample_every, now)
        if now >= next_kill and end - now > args.kill_every / 2:
            chaos.up.clear()
            serve.kill9()
            kills.append(round(now - started))
            log(f"kill -9 number {len(kills)}; restarting")
            serve.start()
            chaos.lifetime_started = time.time()
            chaos.up.set()
            next_kill = time.time() + args.kill_every
        time.sleep(1)
    chaos.sample(started)
    stop.set()
    chaos.up.set()
    load.wait(timeout=600)
    log("load finished: " + (dir / "load.log").read_text().strip().splitlines()[-1][:200] if (dir / "load.log").exists() else "")

    # Let the last events reach the lake (a flush every 10 s), then stop
    # cleanly, which flushes what is left.
    time.sleep(15)
    code = serve.terminate()
    log(f"serve stopped with {code}")

    acked = [tuple(line.split(" ", 1)) for line in acked_path.read_text().splitlines() if " " in line]
    lost, duplicated, checked = lake_counts(dir / "lake", acked)
    lives = summarize(chaos.samples, args.warmup)
    with open(dir / "samples.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(chaos.samples[0].keys()))
        w.writeheader()
        w.writerows(chaos.samples)
    rss_ok = all(abs(l["rss_growth"]) <= 0.10 for l in lives)
    fds_ok = all(l["fds"][1] <= l["fds"][0] + 4 for l in lives)
    threads_ok = all(l["threads"][1] <= l["threads"][0] + 2 for l in lives)
    lost_total, dup_total = sum(lost.values()), sum(duplicated.values())
    summary = {
        "minutes": round(args.duration / 60, 1),
        "rate": args.rate,
        "acknowledged_events": len(acked),
        "acked_by_route": {r: sum(1 for a in acked if a[0] == r) for r in TABLES_OF_ROUTE},
        "event_table_pairs_checked": checked,
        "lost": lost,
        "duplicated": duplicated,
        "overlapping_files": overlapping_files(dir / "lake"),
        "kills": kills,
        "swaps": len(chaos.swaps),
        "swaps_ok": sum(1 for s in chaos.swaps if s[2] == 200),
        "queries": chaos.queries,
        "query_errors": chaos.query_errors,
        "lifetimes": lives,
        "final_disk_mib": {"data": chaos.samples[-1]["data_mib"], "lake": chaos.samples[-1]["lake_mib"]},
        "targets": {"rss_flat_10pct": rss_ok, "fds_flat": fds_ok, "threads_flat": threads_ok,
                    "none_lost": lost_total == 0, "none_duplicated": dup_total == 0},
    }
    (dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"samples: {dir / 'samples.csv'}")
    sys.exit(0 if all(summary["targets"].values()) else 1)


if __name__ == "__main__":
    main()
