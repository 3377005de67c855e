"""End to end: a real `podlog agent` tails CRI files into the ES double that throttles and refuses.

Every good line must be indexed exactly once (even when the agent reads the
files again from scratch, as after a crash that lost its positions) and every
bad line must reach the dead-letter file with Elasticsearch's reason.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson

from tests.conftest import read_ndjson
from tests.drivers.es_double import EsDouble

GOOD_PER_FILE = 1500
BAD_EVERY = 100


def write_files(tmp: Path, files: int = 2) -> tuple[set[str], set[str]]:
    good: set[str] = set()
    bad: set[str] = set()
    for f in range(files):
        lines = []
        for i in range(GOOD_PER_FILE):
            name = f"f{f}-{i}"
            if i % BAD_EVERY == 50:  # "code" is a number in the first documents, so a string cannot be mapped
                bad.add(name)
                payload = {"message": name, "code": f"oops-{i}"}
            else:
                good.add(name)
                payload = {"message": name, "code": i, "level": "info"}
            lines.append(b"2024-05-06T07:08:%02d.%09dZ stdout F " % (i % 60, i) + orjson.dumps(payload))
        (tmp / f"app{f}.log").write_bytes(b"\n".join(lines) + b"\n")
    return good, bad


def config(tmp: Path, es: EsDouble, pos: str) -> str:
    return f"""
agent: {{grace_period: 30s}}
sources:
  - type: tail
    path: [{tmp}/app*.log]
    pos_file: {tmp}/{pos}
    read_from_head: true
    exit_on_eof: true
    stat_interval: 0.1s
    container_format: cri
    parser: json
    tag: app
outputs:
  - type: elasticsearch
    match: "**"
    hosts: {es.url}
    logstash_format: true
    logstash_prefix: podlog
    bulk_max_documents: 500
    buffer: {{flush_interval: 0.2s, retry_wait: 0.1s, retry_max_interval: 0.5s,
              dead_letter_path: {tmp}/dead.ndjson}}
"""


def run(tmp: Path, text: str) -> None:
    """Run the agent until it has read every file to its end and delivered (exit_on_eof)."""
    cfg = tmp / "agent.yaml"
    cfg.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "podlog", "agent", "-c", str(cfg)], capture_output=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]


def test_tail_to_es_exactly_once_with_429s_and_mapping_conflicts(tmp_path: Path) -> None:
    good, bad = write_files(tmp_path)
    with EsDouble("es8", seed=42) as es:
        # Index the first document alone so "code" is mapped as a number before any bad line arrives.
        es.create_index("podlog-2024.05.06", {"properties": {"code": {"type": "long"}}})
        es.reject_ratio_429 = 0.1
        run(tmp_path, config(tmp_path, es, "pos1.json"))

        indexed = Counter(d["message"] for d in es.documents("podlog-*"))
        assert set(indexed) == good
        assert max(indexed.values()) == 1
        statuses = Counter(s for r in es.bulk_requests for s in r.item_statuses)
        assert statuses[429] > 100  # the double really throttled

        dead = read_ndjson(tmp_path / "dead.ndjson")
        assert {d["record"]["message"] for d in dead} == bad
        assert len(dead) == len(bad)
        assert all("mapper_parsing_exception" in d["reason"] or "document_parsing_exception" in d["reason"]
                   for d in dead)

        # Crash that lost the positions: everything is read and sent again; ids make it harmless.
        es.reject_ratio_429 = 0.0
        (tmp_path / "dead.ndjson").unlink()
        run(tmp_path, config(tmp_path, es, "pos2.json"))
        indexed = Counter(d["message"] for d in es.documents("podlog-*"))
        assert set(indexed) == good and max(indexed.values()) == 1
        assert not es.internal_errors



def test_file_buffer_replay_after_partial_bulk_creates_no_duplicates(tmp_path: Path) -> None:
    """Half of a chunk indexed, then the agent stops with the chunk in its file buffer: the replay
    sends the whole chunk again, and the ids kept in the chunk file turn the repeats into 409s."""
    lines = [b"2024-05-06T07:08:09.%09dZ stdout F " % i + orjson.dumps({"message": f"m{i}"}) for i in range(800)]
    (tmp_path / "app0.log").write_bytes(b"\n".join(lines) + b"\n")
    with EsDouble("es8", seed=7) as es:
        es.reject_ratio_429 = 0.5
        buffered = config(tmp_path, es, "pos.json").replace("{grace_period: 30s}", "{grace_period: 2s}").replace(
            "retry_wait: 0.1s", f"type: file, path: {tmp_path / 'buf'}, retry_wait: 60s")
        run(tmp_path, buffered)
        assert list((tmp_path / "buf").glob("*.chunk")), "the unfinished chunks must wait in the file buffer"
        partly = len(es.documents("podlog-*"))
        assert 0 < partly < len(lines)

        es.reject_ratio_429 = 0.0
        run(tmp_path, buffered.replace("retry_wait: 60s", "retry_wait: 0.1s"))
        indexed = Counter(d["message"] for d in es.documents("podlog-*"))
        assert indexed == Counter(f"m{i}" for i in range(len(lines)))
        statuses = Counter(s for r in es.bulk_requests for s in r.item_statuses)
        assert statuses[409] >= partly  # the repeats were refused as existing, and counted delivered
        assert not list((tmp_path / "buf").glob("*.chunk"))
