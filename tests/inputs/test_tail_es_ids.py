"""Elasticsearch ids derived from a tailed file's identity must not collide when an inode is reused.

A real `podlog agent` into the Elasticsearch protocol double (tests/drivers/es_double.py, built from the
bulk API documentation: a second `index` of an existing `_id` with `op_type: create` is a 409).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.drivers.es_double import EsDouble
from tests.outputs.test_elasticsearch_e2e import config, run

STAMP = b"2024-05-06T07:08:09.000000000Z"  # every line at the same instant: only the file tells them apart


def cri_lines(prefix: str, n: int) -> bytes:
    return b"".join(STAMP + b" stdout F " + orjson.dumps({"message": f"{prefix}{i:04d}"}) + b"\n" for i in range(n))


def test_a_reused_inode_gets_new_ids_and_a_replay_of_the_same_file_the_same(tmp_path: Path) -> None:
    first = tmp_path / "app0.log"
    first.write_bytes(cri_lines("a", 300))
    ino = first.stat().st_ino
    with EsDouble("es8", seed=11) as es:
        run(tmp_path, config(tmp_path, es, "pos.json"))
        assert len(es.documents("podlog-*")) == 300
        # The file is rotated away and deleted; the next file gets its inode back (as ext4/tmpfs do).
        first.unlink()
        second = tmp_path / "app0.log"
        second.write_bytes(cri_lines("b", 300))
        tries = []
        while second.stat().st_ino != ino and len(tries) < 50:
            tries.append(tmp_path / f"spare{len(tries)}")  # hold the wrong inode, free the slot again
            os.rename(second, tries[-1])
            second.write_bytes(cri_lines("b", 300))
        if second.stat().st_ino != ino:
            pytest.skip("this filesystem does not reuse a freed inode soon: the collision cannot be staged")
        for spare in tries:
            spare.unlink()
        run(tmp_path, config(tmp_path, es, "pos.json"))
        indexed = Counter(d["message"] for d in es.documents("podlog-*"))
        assert sum(1 for m in indexed if m.startswith("b")) == 300, "lines of the new file taken for repeats"
        # Positions lost (a crash, a new node): the same file read again must get the same ids, so the
        # repeats are refused as existing instead of indexed twice.
        run(tmp_path, config(tmp_path, es, "pos-lost.json"))
        indexed = Counter(d["message"] for d in es.documents("podlog-*"))
        assert len(indexed) == 600 and max(indexed.values()) == 1
