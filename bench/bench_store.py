"""Store benchmark: ingest through the agent into the store, then the queries the UI makes, bytes per row, and
the idle memory of ``podlog up``.

    python bench/bench_store.py --rows 5000000            # the issue's figures (about 1.3 GB of logs in /tmp)
    python bench/bench_store.py --rows 1000000 --keep DIR  # keep the corpus and the store in DIR

The corpus: CRI container log files of 20 pods in kubelet's layout, JSON payloads (level, msg, path, status,
duration, user, trace id) and 5% plain lines, times spread over the 5 hours before now, so "the last hour" holds
a fifth of the rows (the last hour is taken before the newest record, so a kept corpus can be queried again
later). The agent reads them with ``exit_on_eof`` into a ``store`` output; the queries then run
in this process on the finished store (median and p90 of repeated runs, each a different term).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PODS = [(f"{app}-{i}", ns) for i, (app, ns) in enumerate(
    [("web", "shop"), ("api", "shop"), ("cart", "shop"), ("auth", "iam"), ("search", "shop")] * 4)]
PATHS = ["/api/v1/users", "/api/v1/orders", "/healthz", "/static/app.js", "/api/v2/search", "/login"]
LEVELS = ["info", "info", "info", "debug", "warn", "error"]
SPAN_S = 5 * 3600


def generate(directory: Path, rows: int, seed: int = 7) -> int:
    """Write the corpus; returns its size in bytes."""
    containers = directory / "containers"
    containers.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    files = [open(containers / f"{pod}_{ns}_main-{i:064x}.log", "w") for i, (pod, ns) in enumerate(PODS)]  # noqa: SIM115
    start = time.time() - SPAN_S
    step = SPAN_S / rows
    buffers: list[list[str]] = [[] for _ in files]
    for i in range(rows):
        t = start + i * step
        whole = int(t)
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((t - whole) * 1e9):09d}Z"
        if rng.random() < 0.05:
            payload = f"plain text line {i} user={rng.randint(1, 9999)} took {rng.random() * 100:.2f}ms"
        else:
            payload = json.dumps({
                "level": rng.choice(LEVELS), "msg": "request handled",
                "path": f"{rng.choice(PATHS)}/{rng.randint(1, 99999)}",
                "status": rng.choice([200, 200, 200, 201, 404, 500]), "duration_ms": round(rng.random() * 250, 3),
                "user": f"user{rng.randint(1, 5000)}", "trace_id": f"{rng.getrandbits(64):016x}"},
                separators=(",", ":"))
        k = rng.randrange(len(files))
        buffers[k].append(f"{ts} {'stderr' if rng.random() < 0.1 else 'stdout'} F {payload}\n")
        if len(buffers[k]) >= 2000:
            files[k].write("".join(buffers[k]))
            buffers[k].clear()
    for f, buf in zip(files, buffers, strict=True):
        f.write("".join(buf))
        f.close()
    return sum(p.stat().st_size for p in containers.iterdir())


def ingest(directory: Path, store: Path, threads: int, options: dict[str, str]) -> dict[str, float]:
    config = directory / "bench-store.yaml"
    config.write_text(json.dumps({
        "agent": {"grace_period": "600s"},
        "sources": [{"type": "tail", "tag": "kube.*", "path": [str(directory / "containers" / "*.log")],
                     "read_from_head": True, "exit_on_eof": True, "parser": "json"}],
        "outputs": [{"type": "store", "match": "**", "path": str(store), "threads": threads,
                     "fields": {"status": "number", "user": "keyword"}, **options,
                     "buffer": {"flush_interval": "1s"}}],
    }))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "podlog", "agent", "-c", str(config), "--log-level", "warning"])
    peak = [0.0, 0.0]  # the agent with its store writer process, the agent alone
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.25):
            peak[0] = max(peak[0], tree_rss_mb(proc.pid))
            peak[1] = max(peak[1], tree_rss_mb(proc.pid, children=False))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)  # this run's own CPU (with the writer process it waited for)
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"agent exited with {proc.returncode}")
    wall = time.perf_counter() - t0
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": max(peak[0], usage.ru_maxrss / 1024),
            "peak_agent_mb": peak[1]}


def tree_rss_mb(pid: int, children: bool = True) -> float:
    """RSS of a process and its children (the store writer runs in a child of the agent), in MB."""
    total = 0.0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        for task in os.listdir(f"/proc/{pid}/task") if children else []:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                total += sum(tree_rss_mb(int(child)) for child in f.read().split())
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def timed(fn, runs: int) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    """(median, p90, median CPU) milliseconds of ``fn(i)`` over ``runs`` runs, after one warm-up. CPU time
    (this process, all threads) is what the query costs; wall time also holds the waits for a core."""
    fn(0)
    samples, cpu = [], []
    for i in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn(i + 1)
        samples.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9) - 1], statistics.median(cpu)


def queries(store: Path, runs: int) -> dict[str, tuple[float, float, float]]:
    from podlog.store.reader import StoreReader
    from podlog.store.timerange import choose_interval_ms

    reader = StoreReader(str(store), reload_interval=3600)
    newest = reader.stats()["newest"]  # "now" for the corpus: its last record (it may have been made earlier)
    hour = (newest - 3_600_000, newest)
    pods = [p for p, _ in PODS]
    out = {}
    out["search newest 100, term, last hour (level:error)"] = timed(
        lambda i: reader.search("level:error", *hour, size=100), runs)
    out["search newest 100, free text + pod, last hour"] = timed(
        lambda i: reader.search(f"handled AND pod:{pods[i % len(pods)]}", *hour, size=100), runs)
    out["search newest 100, phrase, last hour"] = timed(
        lambda i: reader.search('"plain text line"', *hour, size=100), runs)
    out["search newest 100, user term (configured field), last hour"] = timed(
        lambda i: reader.search(f"user:user{1 + i * 37 % 5000}", *hour, size=100), runs)
    interval = choose_interval_ms(hour[1] - hour[0])
    out[f"histogram last hour ({interval // 1000} s buckets), level:error"] = timed(
        lambda i: reader.histogram("level:error", *hour, interval), runs)
    out["histogram last hour, all rows"] = timed(lambda i: reader.histogram("", *hour, interval), runs)
    out["top 10 pods by errors, last hour"] = timed(lambda i: reader.top("pod", "level:error", *hour, 10), runs)
    out["top 10 users (5000 values), last hour"] = timed(lambda i: reader.top("user", "", *hour, 10), runs)
    ids = [h["id"] for h in reader.search("", *hour, size=1000)["hits"]]
    rng = random.Random(1)
    picks = [rng.choice(ids) for _ in range(runs + 1)]
    out["context 10 + 10"] = timed(lambda i: reader.context(picks[i], 10, 10), runs)
    return out


def up_idle_rss(seconds: float) -> float:
    """RSS of ``podlog up`` (demo workload running) and its store writer process after ``seconds``, in MB."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([sys.executable, "-m", "podlog", "up", "--data", tmp, "--listen", "127.0.0.1:0"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(seconds)
            return tree_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--threads", type=int, default=1, help="indexing threads of the store writer")
    p.add_argument("--keep", help="directory for the corpus and store (kept); default: a temporary one")
    p.add_argument("--skip-up", action="store_true")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="another option of the store output (e.g. commit_docs=200000)")
    p.add_argument("--repeat", type=int, default=1, help="ingest this many times (the load changes: the least "
                   "CPU per row is the steadiest figure)")
    p.add_argument("--queries-only", action="store_true", help="with --keep: query the store already there")
    args = p.parse_args()
    directory = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="podlog-bench-store-"))
    store = directory / "store"
    try:
        corpus = directory / "containers"
        if not corpus.exists():
            t = time.perf_counter()
            size = generate(directory, args.rows)
            print(f"corpus: {args.rows:,} rows, {size / 1e6:.0f} MB in {time.perf_counter() - t:.0f} s")
        from podlog.store.reader import StoreReader
        from podlog.store.writer import directory_bytes

        if not args.queries_only:
            runs = []
            for _ in range(args.repeat):
                shutil.rmtree(store, ignore_errors=True)
                load = os.getloadavg()[0]
                result = ingest(directory, store, args.threads, dict(o.split("=", 1) for o in args.option))
                docs = StoreReader(str(store)).stats()["docs"]
                runs.append((result["cpu_s"], result["wall_s"], docs))
                print(f"ingest (load {load:.1f}): {docs:,} rows in {result['wall_s']:.1f} s = "
                      f"{docs / result['wall_s']:,.0f} rows/s (agent + writer CPU {result['cpu_s']:.0f} s = "
                      f"{result['cpu_s'] / docs * 1e6:.1f} µs/row, peak RSS {result['peak_rss_mb']:.0f} MB, "
                      f"the agent alone {result['peak_agent_mb']:.0f} MB); "
                      "target >= 50,000 rows/s")
            if len(runs) > 1:
                cpu, wall, docs = min(runs)
                print(f"least CPU of {len(runs)}: {cpu / docs * 1e6:.1f} µs/row, {docs / wall:,.0f} rows/s; "
                      f"best rate {max(d / w for _, w, d in runs):,.0f} rows/s")
        docs = StoreReader(str(store)).stats()["docs"]
        size = directory_bytes(str(store))
        print(f"store: {docs:,} rows, {size / 1e6:.0f} MB = {size / docs:.0f} bytes/row; target <= 300")
        print(f"load average before queries: {os.getloadavg()[0]:.1f}")
        for name, (median, p90, cpu) in queries(store, args.runs).items():
            print(f"  {name}: median {median:.2f} ms, p90 {p90:.2f} ms, CPU {cpu:.2f} ms")
        print("targets: search <= 15 ms, histogram <= 20 ms, top <= 20 ms, context <= 10 ms")
        if not args.skip_up:
            print(f"podlog up (demo) RSS after 20 s: {up_idle_rss(20):.0f} MB; target <= 150")
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
