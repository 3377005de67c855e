"""Agent benchmarks: whole `podlog agent` processes over generated corpora.

Prints lines/s, CPU µs per line (user+sys of the agent process, from wait4)
and peak RSS for each scenario, and the floor (plain Python read+write of the
same file) as a ratio. Run: ``python bench/run.py [--lines N] [--repeat R] [--only S1,S3]``.

This process stays small on purpose: Linux hands a parent's peak RSS on to a
child's ``ru_maxrss`` across fork+exec, so reading a corpus into memory here
would inflate every figure measured after it. Files are counted in chunks and
anything needing the corpus in memory runs in a child. With ``--repeat`` the
least CPU of the runs is kept (other work on the machine only ever adds).

S1  CRI file -> envelope parsed -> NDJSON file
S2  S1 with the JSON payload lifted into fields (invalid JSON kept raw)
S3  nginx access log -> nginx parser -> NDJSON file (when the parser exists)
D1  docker json-file -> NDJSON file
S3M S3 plus a metrics rule counting every line by method and status (S3M-S3: the rule's cost)
S3A S3 plus the access-log example: every line counted by client, method, path and status (one new series
    per line in this corpus: LRU eviction every line)
M1  plain Java log with stack traces -> multiline java -> NDJSON file (lines/s and µs per input line)
M2  the same as CRI: traces on stderr interleaved with stdout lines, some frames in P/F fragments
ST  `podlog stream` peak RSS re-streaming the CRI corpus
IDLE 1,000 idle tailed files: CPU share of one core over 20 s
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PODLOG = [sys.executable, "-m", "podlog"]
CORPUS = str(Path(__file__).resolve().parent / "corpus.py")


def _count(path: Path) -> int:
    """Newlines in a file, read in chunks (see the module docstring on RSS)."""
    n = 0
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
    return n


def _make(kind: str, n: int, out: Path) -> None:
    """Corpora are generated in a child process: this one stays small, so children's peak RSS is their own."""
    subprocess.run([sys.executable, CORPUS, kind, str(n), str(out)], check=True, stdout=subprocess.DEVNULL)


def _run(cmd: list[str], stdout: int | None = subprocess.DEVNULL) -> tuple[float, int, float]:
    """(cpu seconds, peak RSS KiB, wall seconds) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{cmd} exited with {status}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss, wall


def _config(work: Path, log: Path, extra: str) -> Path:
    cfg = work / "bench.yaml"
    out = work / "out.ndjson"
    if out.exists():
        out.unlink()
    pos = work / "pos.json"
    if pos.exists():
        pos.unlink()
    cfg.write_text(f"""
sources:
  - type: tail
    path: [{log}]
    pos_file: {pos}
    read_from_head: true
    exit_on_eof: true
    kubernetes_metadata: false
{extra}
outputs:
  - type: file
    path: {out}
    buffer: {{flush_interval: 0.2s, chunk_limit_size: 1MiB, total_limit_size: 4MiB}}
""")
    return cfg


def _floor(log: Path, work: Path) -> float:
    code = (
        "import sys\n"
        "src=open(sys.argv[1],'rb',buffering=0); dst=open(sys.argv[2],'wb')\n"
        "while True:\n"
        "    b=src.read(65536)\n"
        "    if not b: break\n"
        "    dst.write(b)\n"
    )
    cpu, _, _ = _run([sys.executable, "-c", code, str(log), str(work / "floor.out")])
    return cpu


def _baseline() -> float:
    cpu, _, _ = _run([*PODLOG, "--version"])
    return cpu


def _report(name: str, lines: int, cpu: float, rss: int, wall: float, floor: float, base: float) -> None:
    net = max(cpu - base, 1e-9)
    print(f"{name:4} {lines:>9,} lines  {lines / wall:>11,.0f} lines/s  {net / lines * 1e6:6.2f} CPU-µs/line "
          f"(process total {cpu / lines * 1e6:5.2f})  peak RSS {rss / 1024:6.1f} MB  floor x{net / floor:5.1f}")


def scenario(work: Path, name: str, log: Path, lines: int, extra: str, floor: float, base: float,
             expect: int | None = None, repeat: int = 1) -> None:
    """``expect``: documents the scenario should write, when not one per line (multiline)."""
    runs = []
    for _ in range(repeat):
        cfg = _config(work, log, extra)
        runs.append(_run([*PODLOG, "agent", "-c", str(cfg), "--log-level", "warning"]))
    out_lines = _count(work / "out.ndjson")
    cpu = min(r[0] for r in runs)
    _report(name, lines, cpu, max(r[1] for r in runs), min(r[2] for r in runs), floor, base)
    if repeat > 1:
        print(f"     CPU-µs/line of each run: {' '.join(f'{(r[0] - base) / lines * 1e6:.2f}' for r in runs)}")
    if out_lines < (expect or lines) * 0.98:
        print(f"     WARNING: only {out_lines} documents written")


def stream_rss(work: Path, log: Path) -> None:
    proc = subprocess.Popen([*PODLOG, "stream", "--from-head", str(log)], stdout=subprocess.DEVNULL)
    size = log.stat().st_size
    time.sleep(1.0)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            pos = int(Path(f"/proc/{proc.pid}/io").read_text().split("rchar: ")[1].split()[0])
        except (OSError, IndexError):
            break
        if pos >= size:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, _, usage = os.wait4(proc.pid, 0)
    print(f"ST   podlog stream re-streamed {size / 1e6:.0f} MB: peak RSS {usage.ru_maxrss / 1024:.1f} MB, "
          f"CPU {usage.ru_utime + usage.ru_stime:.2f}s")


def idle(work: Path, files: int = 1000, seconds: float = 20.0) -> None:
    d = work / "idle"
    d.mkdir(exist_ok=True)
    for i in range(files):
        (d / f"f{i}.log").write_bytes(b"x\n")
    cfg = work / "idle.yaml"
    cfg.write_text(f"sources: [{{type: tail, path: ['{d}/*.log'], pos_file: '{work}/idle.pos'}}]\n"
                   f"outputs: [{{type: file, path: '{work}/idle.out'}}]\n")
    proc = subprocess.Popen([*PODLOG, "agent", "-c", str(cfg), "--log-level", "warning"])
    time.sleep(5)

    def cpu() -> float:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    c0, t0 = cpu(), time.monotonic()
    time.sleep(seconds)
    share = (cpu() - c0) / (time.monotonic() - t0) * 100
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    print(f"IDLE {files} idle tailed files: {share:.2f}% of one core")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--skip-idle", action="store_true")
    ap.add_argument("--repeat", type=int, default=1, help="runs per scenario; the least CPU is reported")
    ap.add_argument("--only", default="", help="comma-separated scenarios to run (S1,S2,D1,S3,S3M,S3A,M1,M2,ST,IDLE)")
    args = ap.parse_args()
    only = {s.strip().upper() for s in args.only.split(",") if s.strip()}

    def wanted(name: str) -> bool:
        return not only or name in only

    with tempfile.TemporaryDirectory(prefix="podlog-bench-") as tmp:
        work = Path(tmp)
        cri = work / "cri.log"
        _make("cri", args.lines, cri)
        n_cri = _count(cri)
        floor = _floor(cri, work)
        base = _baseline()
        print(f"corpus: {n_cri:,} CRI lines ({cri.stat().st_size / 1e6:.0f} MB); floor (Python read+write) "
              f"{floor / n_cri * 1e6:.2f} CPU-µs/line; interpreter start+imports {base * 1000:.0f} ms (subtracted)")
        startup, _, _ = _run([*PODLOG, "agent", "-c", str(_config(work, _one_line(work, cri), "")),
                              "--log-level", "warning"])
        print(f"agent start-up and shutdown on a one-line file: {startup * 1000:.0f} ms CPU (included below)")
        r = args.repeat
        if wanted("S1"):
            scenario(work, "S1", cri, n_cri, "", floor, base, repeat=r)
        if wanted("S2"):
            scenario(work, "S2", cri, n_cri, "    parser: json", floor, base, repeat=r)
        if wanted("D1"):
            docker = work / "docker.log"
            _make("docker", args.lines, docker)
            scenario(work, "D1", docker, args.lines, "", floor, base, repeat=r)
        if wanted("S3"):
            nginx = work / "nginx.log"
            _make("nginx", args.lines, nginx)
            scenario(work, "S3", nginx, args.lines, "    container_format: none\n    parser: nginx", floor, base,
                     repeat=r)
        for name, labels in (("S3M", "[method, code]"), ("S3A", "[remote, method, path, code]")):
            if wanted(name):
                nginx = work / "nginx.log"
                if not nginx.exists():
                    _make("nginx", args.lines, nginx)
                rule = f"filters:\n  - {{type: metrics, rules: [{{name: requests, type: counter, labels: {labels}}}]}}"
                scenario(work, name, nginx, args.lines, f"    container_format: none\n    parser: nginx\n{rule}",
                         floor, base, repeat=r)
        for name, kind, fmt in (("M1", "java", "none"), ("M2", "java-cri", "cri")):
            if not wanted(name):
                continue
            java = work / f"{kind}.log"
            _make(kind, args.lines // 4, java)  # ~4 lines per event
            extra = f"    container_format: {fmt}\n    multiline: java"
            scenario(work, name, java, _count(java), extra, floor, base, expect=_java_records(java), repeat=r)
        if wanted("ST"):
            stream_rss(work, cri)
        if not args.skip_idle and wanted("IDLE"):
            idle(work)


def _one_line(work: Path, log: Path) -> Path:
    """The first line of ``log`` alone, to measure what a run costs besides its lines."""
    with open(log, "rb") as f:
        first = f.readline()
    one = work / "one.log"
    one.write_bytes(first)
    return one


def _java_records(path: Path) -> int:
    """Records the java multiline rule makes of a corpus, counted in a child (see the docstring on RSS)."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from corpus import java_records; "
            "print(java_records(open(sys.argv[2], 'rb').read().split(b'\\n')[:-1]))")
    done = subprocess.run([sys.executable, "-c", code, str(Path(CORPUS).parent), str(path)], check=True,
                          capture_output=True, text=True)
    return int(done.stdout)


if __name__ == "__main__":
    main()
