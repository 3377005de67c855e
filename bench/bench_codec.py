"""Micro benchmark of the container codec alone: CPU nanoseconds per line for S1, S2, S3, D1, M1 and M2's codecs.

``bench/run.py`` measures whole agents, whose figures move by several percent with the machine's other work;
this feeds the same corpora (``bench/corpus.py``) to ``LineCodec.decode`` in 256 KiB reads, as the tail input
does, and keeps the least ``time.process_time`` of several runs, which is steady enough to compare two
versions of the codec on a busy machine. Run: ``python bench/bench_codec.py [--lines N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import corpus

from podlog.codecs.container import LineCodec
from podlog.codecs.multiline import build_multiline
from podlog.parsers import build_parser

READ = 256 * 1024
FIELDS = {"kubernetes": {"pod_name": "web-7d9f", "namespace_name": "default", "container_name": "app"}}


def reads(lines: list[bytes]) -> list[tuple[list[bytes], int]]:
    """The corpus cut as the tail input cuts it: the complete lines of each 256 KiB read, and their offset."""
    data = b"\n".join(lines) + b"\n"
    out = []
    pos = 0
    while pos < len(data):
        end = data.rfind(b"\n", pos, pos + READ)
        if end < pos:
            end = data.index(b"\n", pos)
        out.append((data[pos:end].split(b"\n"), pos))
        pos = end + 1
    return out


def scenarios(n: int) -> dict[str, tuple[list[bytes], Callable[[], LineCodec]]]:
    nginx = build_parser("nginx", None)
    java = build_multiline("java", None)

    def codec(fmt: str, lift: bool = False, parse: object = None, multiline: bool = False) -> Callable[[], LineCodec]:
        def make() -> LineCodec:
            c = LineCodec(fmt, FIELDS, "message", lift_json=lift, parse=parse)  # type: ignore[arg-type]
            c.limit.size = 1024 * 1024
            if multiline:
                c.multiline = java.assembler()  # type: ignore[union-attr]
            return c
        return make

    cri = corpus.cri_lines(n)
    return {
        "S1": (cri, codec("cri")),
        "S2": (cri, codec("cri", lift=True)),
        "D1": (corpus.docker_lines(n), codec("docker")),
        "S3": (corpus.nginx_lines(n), codec("none", parse=nginx.parse)),
        "M1": (corpus.java_trace_lines(n // 4), codec("none", multiline=True)),
        "M2": (corpus.java_cri_lines(n // 4), codec("cri", multiline=True)),
    }


def run_once(chunks: list[tuple[list[bytes], int]], make: Callable[[], LineCodec]) -> tuple[float, int]:
    codec = make()
    docs: list[bytes] = []
    offsets: list[int] = []
    now = b"2024-05-01T12:00:00.000000000Z"
    begin = time.process_time()
    for lines, base in chunks:
        codec.decode(lines, base, docs, offsets, now)
        docs.clear()
        offsets.clear()
    codec.flush_partials(docs, offsets)
    return time.process_time() - begin, len(docs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=7, help="runs per scenario; the least CPU is kept")
    ap.add_argument("--only", default="", help="comma-separated scenarios (S1,S2,D1,S3,M1,M2)")
    args = ap.parse_args()
    only = {s.strip().upper() for s in args.only.split(",") if s.strip()}
    for name, (lines, make) in scenarios(args.lines).items():
        if only and name not in only:
            continue
        chunks = reads(lines)
        runs = [run_once(chunks, make)[0] for _ in range(args.repeat)]
        print(f"{name:3} {len(lines):>9,} lines  {min(runs) / len(lines) * 1e9:7.0f} CPU-ns/line (least of "
              f"{args.repeat}; median {sorted(runs)[len(runs) // 2] / len(lines) * 1e9:.0f})", flush=True)


if __name__ == "__main__":
    main()
