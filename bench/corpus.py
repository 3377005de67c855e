"""Deterministic log corpora for the benchmarks (same seed, same bytes).

CRI lines with ~200-byte JSON payloads, 1% split into P/F fragments, some
plain-text and some broken-JSON payloads; docker json-file lines; nginx
access lines; Java stack traces for multiline.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

__all__ = ["cri_lines", "docker_lines", "java_cri_lines", "java_records", "java_trace_lines", "nginx_lines", "write"]

_PATHS = ["/api/v1/users", "/api/v1/orders", "/healthz", "/static/app.js", "/api/v2/search", "/login"]
_LEVELS = ["info", "info", "info", "debug", "warn", "error"]


def _ts(i: int) -> str:
    return f"2024-05-01T12:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{(i % 1000) * 1000000 + 123456:09d}Z"


def _payload(rng: random.Random, i: int) -> str:
    kind = rng.random()
    if kind < 0.05:
        return f"plain text line {i} user={rng.randint(1, 9999)} took {rng.random() * 100:.2f}ms"
    body = json.dumps({
        "level": rng.choice(_LEVELS), "msg": "request handled", "path": f"{rng.choice(_PATHS)}/{rng.randint(1, 99999)}",
        "status": rng.choice([200, 200, 200, 201, 404, 500]), "duration_ms": round(rng.random() * 250, 3),
        "user": f"user{rng.randint(1, 5000)}", "trace_id": f"{rng.getrandbits(64):016x}", "seq": i,
    }, separators=(",", ":"))
    if kind < 0.07:
        return body[:-7]  # broken JSON: kept raw with an error
    return body


def cri_lines(n: int, seed: int = 42) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        stream = "stderr" if rng.random() < 0.1 else "stdout"
        payload = _payload(rng, i)
        if rng.random() < 0.01 and len(payload) > 20:
            cut = len(payload) // 2
            out.append(f"{_ts(i)} {stream} P {payload[:cut]}".encode())
            out.append(f"{_ts(i)} {stream} F {payload[cut:]}".encode())
        else:
            out.append(f"{_ts(i)} {stream} F {payload}".encode())
    return out


def docker_lines(n: int, seed: int = 42) -> list[bytes]:
    rng = random.Random(seed)
    return [json.dumps({"log": _payload(rng, i) + "\n", "stream": "stdout", "time": _ts(i)},
                       separators=(",", ":")).encode() for i in range(n)]


def nginx_lines(n: int, seed: int = 42) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ip = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        out.append((f'{ip} - - [01/May/2024:12:{(i // 60) % 60:02d}:{i % 60:02d} +0000] '
                    f'"{rng.choice(["GET", "POST"])} {rng.choice(_PATHS)}?id={rng.randint(1, 9999)} HTTP/1.1" '
                    f'{rng.choice([200, 200, 301, 404, 500])} {rng.randint(100, 50000)} "-" '
                    f'"Mozilla/5.0 (X11; Linux x86_64) bench/{i % 7}"').encode())
    return out


def java_trace_lines(n_events: int, seed: int = 42) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n_events):
        out.append(f"2024-05-01 12:00:{i % 60:02d}.123 ERROR [main] c.e.Service - request {i} failed".encode())
        if rng.random() < 0.3:
            out.append(b"java.lang.IllegalStateException: boom")
            out.extend(f"\tat com.example.Service.method{d}(Service.java:{100 + d})".encode() for d in range(8))
            out.append(b"Caused by: java.io.IOException: disk")
            out.append(b"\t... 5 more")
    return out


def java_cri_lines(n_events: int, seed: int = 42) -> list[bytes]:
    """The Java corpus as a container writes it: the app's lines and traces on stderr, access lines on stdout
    in between (also inside traces), 2% of frames cut into P/F fragments."""
    rng = random.Random(seed)
    out = []
    for i, line in enumerate(java_trace_lines(n_events, seed)):
        ts = _ts(i).encode()
        while rng.random() < 0.2:
            out.append(b"%s stdout F GET /healthz 200 %d" % (ts, rng.randint(1, 999)))
        if line.startswith(b"\tat") and rng.random() < 0.02:
            out.append(b"%s stderr P %s" % (ts, line[:12]))
            out.append(b"%s stdout F GET /api 200 %d" % (ts, rng.randint(1, 999)))
            out.append(b"%s stderr F %s" % (ts, line[12:]))
        else:
            out.append(b"%s stderr F %s" % (ts, line))
    return out


def java_records(lines: list[bytes]) -> int:
    """Records a java multiline source makes of a java corpus (plain or CRI): one per line that is no frame."""
    records = 0
    held: dict[bytes, bytes] = {}
    for line in lines:
        parts = line.split(b" ", 3)
        message = line
        if len(parts) == 4 and parts[1] in (b"stdout", b"stderr"):
            _, stream, flag, message = parts
            if flag == b"P":
                held[stream] = held.get(stream, b"") + message
                continue
            message = held.pop(stream, b"") + message
        records += not message.startswith((b"\tat ", b"Caused by: ", b"\t... "))
    return records


def write(path: Path, lines: list[bytes]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(data)
    return len(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("kind", choices=["cri", "docker", "nginx", "java", "java-cri"])
    ap.add_argument("n", type=int)
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    gen = {"cri": cri_lines, "docker": docker_lines, "nginx": nginx_lines, "java": java_trace_lines,
           "java-cri": java_cri_lines}[args.kind]
    print(write(args.out, gen(args.n)), "bytes")


if __name__ == "__main__":
    main()
