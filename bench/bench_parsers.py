"""Micro benchmark of the parsers: CPU microseconds per line, one parser in isolation.

Generates deterministic nginx access lines and ~200-byte JSON payloads (seeded
random), feeds them in batches as the tail input would, and reports
``time.process_time`` per line. Run: ``python bench/bench_parsers.py [lines]``.
"""

from __future__ import annotations

import random
import re
import sys
import time
from collections.abc import Callable

import orjson

from podlog.config.errors import Located
from podlog.plugin import lookup

BATCH = 1000
_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "curl/8.5.0",
    "kube-probe/1.29",
    "Go-http-client/1.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
)
_PATHS = ("/", "/healthz", "/api/v1/items", "/api/v1/users", "/static/app.js", "/login", "/search")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def nginx_lines(n: int, seed: int = 1) -> list[bytes]:
    """Combined-format lines; about 50 requests per second, so seconds repeat as in real logs."""
    rnd = random.Random(seed)
    start = 1_700_000_000
    out = []
    for i in range(n):
        t = time.gmtime(start + i // 50)
        stamp = f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{time.strftime('%H:%M:%S', t)} +0000"
        ip = f"10.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
        path = rnd.choice(_PATHS)
        if rnd.random() < 0.5:
            path += f"/{rnd.randint(1, 99999)}?page={rnd.randint(1, 50)}"
        code = rnd.choice((200, 200, 200, 201, 304, 404, 500))
        referer = rnd.choice(("-", "https://example.com/", "https://example.com/search?q=podlog"))
        line = (
            f'{ip} - - [{stamp}] "{rnd.choice(("GET", "GET", "POST"))} {path} HTTP/1.1" {code} '
            f'{rnd.randint(0, 60000)} "{referer}" "{rnd.choice(_AGENTS)}"'
        )
        out.append(line.encode())
    return out


def json_lines(n: int, seed: int = 2, with_time: bool = False) -> list[bytes]:
    """Application JSON logs of about 200 bytes."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        doc: dict[str, object] = {
            "level": rnd.choice(("info", "info", "warn", "error")),
            "msg": "request handled " + "x" * rnd.randint(5, 40),
            "path": f"/api/v1/items/{rnd.randint(1, 99999)}",
            "status": rnd.choice((200, 201, 404, 500)),
            "duration_ms": round(rnd.random() * 100, 3),
            "trace_id": f"{rnd.getrandbits(128):032x}",
        }
        if with_time:
            doc["time"] = f"2024-01-02T03:{(i // 3000) % 60:02d}:{(i // 50) % 60:02d}.{i % 1000:03d}Z"
        out.append(orjson.dumps(doc))
    return out


def measure(parse: Callable[[list[bytes]], list[object]], lines: list[bytes], rounds: int = 3) -> float:
    """Best of ``rounds`` runs, in CPU microseconds per line."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for i in range(0, len(lines), BATCH):
            parse(lines[i:i + BATCH])
        best = min(best, time.process_time() - started)
    return best / len(lines) * 1e6


def _regex_baselines(lines: list[bytes]) -> dict[str, Callable[[list[bytes]], list[object]]]:
    """Plain-regex ways to cut the same lines, to show why nginx uses split()."""
    body = (
        r'(?P<remote>[^ \n]*) (?P<host>[^ \n]*) (?P<user>[^ \n]*) \[(?P<time>[^\]\n]*)\] '
        r'"(?P<method>[^ "\n]+) (?P<path>[^ "\n]*) [^ "\n]*" (?P<code>[^ \n]*) (?P<size>[^ \n]*) '
        r'"(?P<referer>[^"\n]*)" "(?P<agent>[^"\n]*)"'
    )
    per_line = re.compile(body + r"\Z")
    chunk = re.compile(rf"^(?:{body}|(?P<_bad>.*))$", re.M)

    def regex_per_line(batch: list[bytes]) -> list[object]:
        match = per_line.match
        return [m.groupdict() if (m := match(raw.decode("utf-8", "replace"))) else None for raw in batch]

    def regex_chunk_finditer(batch: list[bytes]) -> list[object]:
        text = b"\n".join(batch).decode("utf-8", "replace")
        return [m.groupdict() for m in chunk.finditer(text)]

    return {"regex per line (no time)": regex_per_line, "regex finditer chunk (no time)": regex_chunk_finditer}


def _parser(name: str, **options: object) -> Callable[[list[bytes]], list[object]]:
    cls = lookup("parser", name)
    return cls(cls.Options.from_mapping(options, Located("<bench>", 0, ""), "")).parse  # type: ignore[call-arg]


def _documents(name: str) -> Callable[[list[bytes]], list[object]]:
    """The access-log parsers' other output: whole JSON documents, as the record builder asks for them."""
    documents = _parser(name).__self__.documents  # type: ignore[attr-defined]
    return lambda batch: documents(batch, [b""] * len(batch))


def calibration() -> float:
    """CPU seconds of a fixed pure-Python loop, to compare figures taken on different machines."""
    started = time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.process_time() - started


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    nginx = nginx_lines(n)
    plain = json_lines(n)
    timed = json_lines(n, with_time=True)
    avg = sum(map(len, plain)) / len(plain)
    rows = [
        ("nginx (fields + @timestamp)", measure(_parser("nginx"), nginx)),
        ("nginx, whole JSON documents (documents())", measure(_documents("nginx"), nginx)),
        *((label, measure(fn, nginx)) for label, fn in _regex_baselines(nginx).items()),
        ("apache2 on the same lines", measure(_parser("apache2"), nginx)),
        ("apache2, whole JSON documents", measure(_documents("apache2"), nginx)),
        (f"json, no time key ({avg:.0f} B, bytes fast path)", measure(_parser("json"), plain)),
        ("json, with time key (dict + @timestamp)", measure(_parser("json"), timed)),
    ]
    print(f"{n} lines per case, batches of {BATCH}, CPU µs/line (best of 3)")
    for label, micros in rows:
        print(f"  {label:<48} {micros:6.2f}")
    print(f"calibration: a 10M-step Python loop takes {calibration():.2f} s CPU here")


if __name__ == "__main__":
    main()
