"""``podlog status``: fetch /status from a running agent and print sources, outputs and the ledger."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from typing import Any

import orjson

__all__ = ["print_status", "render"]


def print_status(url: str) -> int:
    """Print the tables; exit 1 when the agent cannot be reached (scripts can tell)."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/status", timeout=5) as resp:
            state = orjson.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"podlog status: cannot read {url}/status: {_reason(exc)}", file=sys.stderr)
        print("podlog status: is the agent running with `agent.http_listen` set to this address "
              "(e.g. http_listen: 127.0.0.1:9880)? Point at another one with --url.", file=sys.stderr)
        return 1
    print(render(state))
    return 0


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)  # URLError wraps the socket error
    return str(getattr(reason, "strerror", None) or reason or exc)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return str(n)


def render(state: dict[str, Any]) -> str:
    ledger = state.get("ledger", {})
    src_rows = []
    for i in state.get("inputs", []):
        row = ledger.get(i["name"], {})
        lag = sum(i.get("lag", {}).values())
        src_rows.append([i["name"], str(row.get("read", 0)), str(row.get("delivered", 0)), _drops(row),
                         str(row.get("buffered", 0)), _size(lag), str(len(i.get("lag", {})))])
    for name, row in ledger.items():
        if name not in {i["name"] for i in state.get("inputs", [])}:
            src_rows.append([name, str(row["read"]), str(row["delivered"]), _drops(row), str(row["buffered"]),
                             "-", "-"])
    out_rows = []
    for o in state.get("outputs", []):
        use = f"{_size(o['buffer_bytes'])}/{_size(o['buffer_limit'])}"
        retry = f"attempt {o['retry_attempts']}, next {o['retry_next_seconds']:.1f}s" if o["retry_attempts"] else "-"
        flags = ",".join(f for f, on in (("PAUSED", o["blocked"]), ("DISK-ERROR", o.get("buffer_error"))) if on)
        out_rows.append([o["name"], o["type"], o["buffer_type"], use, str(o["buffer_chunks"]), retry, flags or "ok"])
    head = f"agent: {'alive' if state.get('alive') else 'STALLED'}" + (", stopping" if state.get("stopping") else "")
    return "\n\n".join([
        head,
        _table(["SOURCE", "READ", "DELIVERED", "DROPPED", "BUFFERED", "LAG", "FILES"], src_rows),
        _table(["OUTPUT", "TYPE", "BUFFER", "USE", "CHUNKS", "RETRY", "STATE"], out_rows),
    ])


def _drops(row: dict[str, Any]) -> str:
    dropped = row.get("dropped", {})
    if not dropped:
        return "0"
    return " ".join(f"{n}({r})" for r, n in sorted(dropped.items()))
