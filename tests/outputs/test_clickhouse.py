"""ClickHouse output against a real clickhouse-server on loopback (started by .ci/clickhouse.sh)."""

from __future__ import annotations

import subprocess
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from podlog.batch import Batch
from podlog.outputs._base import Status
from podlog.outputs.clickhouse import ClickHouseOutput, to_row
from tests.outputs.output_helpers import build, chunk_of, doc

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "clickhouse.sh"


@pytest.fixture(scope="module")
def clickhouse() -> Iterator[str]:
    """The server's HTTP URL; skips only when clickhouse-server is absent and cannot be installed."""
    proc = subprocess.run(["sh", str(SCRIPT)], capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode == 3:
        pytest.skip(f"no ClickHouse server: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    yield proc.stdout.strip().splitlines()[-1]


def query(url: str, sql: str) -> str:
    with urllib.request.urlopen(f"{url}/?{urllib.parse.urlencode({'query': sql})}", timeout=10) as resp:
        return resp.read().decode()


def rows(url: str, table: str) -> list[dict]:
    text = query(url, f"SELECT * FROM default.{table} ORDER BY message FORMAT JSONEachRow")
    return [orjson.loads(line) for line in text.splitlines() if line]


@pytest.fixture
def table() -> str:
    return "t_" + uuid.uuid4().hex[:12]


def k8s_doc(message: str, **extra: object) -> bytes:
    return doc(message=message, stream="stdout", level="warn",
               kubernetes={"namespace_name": "prod", "pod_name": "api-1", "container_name": "api",
                           "labels": {"app": "api"}}, **extra)


def test_creates_table_and_inserts_log_schema(clickhouse: str, table: str) -> None:
    out = build(ClickHouseOutput, url=clickhouse, table=table, create_table=True, user="podlog",
                password="podlog-secret")
    out.start()
    result = out.write(chunk_of(Batch("kube", docs=[k8s_doc(f"m{i}", trace="abc") for i in range(50)])))
    assert result.status is Status.DELIVERED and not result.rejected
    got = rows(clickhouse, table)
    assert len(got) == 50
    first = got[0]
    assert (first["namespace"], first["pod"], first["container"], first["stream"], first["level"]) == (
        "prod", "api-1", "api", "stdout", "warn")
    assert first["time"].startswith("2024-05-06 07:08:09")
    attrs = orjson.loads(first["attributes"])
    assert attrs == {"trace": "abc", "kubernetes": {"labels": {"app": "api"}}}


def test_split_into_several_inserts(clickhouse: str, table: str) -> None:
    out = build(ClickHouseOutput, url=clickhouse, table=table, create_table=True, max_request_rows=7)
    out.start()
    assert out.write(chunk_of(Batch("kube", docs=[k8s_doc(f"m{i:03d}") for i in range(40)]))).status \
        is Status.DELIVERED
    assert query(clickhouse, f"SELECT count() FROM default.{table}").strip() == "40"


def test_raw_schema_bisects_bad_rows_to_dead_letter(clickhouse: str, table: str) -> None:
    query_post(clickhouse, f"CREATE TABLE default.{table} (message String, code UInt32) ENGINE = MergeTree() "
                           "ORDER BY message")
    out = build(ClickHouseOutput, url=clickhouse, table=table, schema="raw", gzip=False)
    out.start()
    good = [orjson.dumps({"message": f"g{i}", "code": i, "extra": 1}) for i in range(20)]
    bad = [orjson.dumps({"message": "bad", "code": "not a number"})]
    result = out.write(chunk_of(Batch("t", docs=good[:10] + bad + good[10:])))
    assert result.status is Status.DELIVERED
    assert [d for d, _ in result.rejected] == bad
    assert "ClickHouse" in result.rejected[0][1]
    assert query(clickhouse, f"SELECT count() FROM default.{table}").strip() == "20"


def test_missing_table_and_bad_password_are_retried(clickhouse: str, table: str) -> None:
    out = build(ClickHouseOutput, url=clickhouse, table=table)
    out.start()
    result = out.write(chunk_of(Batch("t", docs=[k8s_doc("x")])))
    assert result.status is Status.RETRY and table in result.reason
    bad = build(ClickHouseOutput, url=clickhouse, table=table, user="podlog", password="wrong-s3cret")
    bad.start()
    result = bad.write(chunk_of(Batch("t", docs=[k8s_doc("x")])))
    assert result.status is Status.RETRY and "s3cret" not in result.reason


def test_unreachable_server_is_retried() -> None:
    out = build(ClickHouseOutput, url="http://127.0.0.1:1")
    out.start()
    assert out.write(chunk_of(Batch("t", docs=[k8s_doc("x")]))).status is Status.RETRY


def test_to_row_maps_fields_and_times() -> None:
    row = to_row({"@timestamp": "2024-01-02T03:04:05.5+01:00", "log": "hi", "severity": "ERROR", "x": 1},
                 nanos=True, time_key="@timestamp", message_keys=["message", "log"], level_keys=["severity"])
    assert row["time"] == "2024-01-02 02:04:05.500000000"
    assert (row["message"], row["level"], row["namespace"]) == ("hi", "ERROR", "")
    assert orjson.loads(row["attributes"]) == {"x": 1}
    old = to_row({"@timestamp": "2024-01-02T03:04:05.123Z"}, nanos=False, time_key="@timestamp",
                 message_keys=[], level_keys=[])
    assert old["time"] == "2024-01-02 03:04:05"


def query_post(url: str, sql: str) -> None:
    req = urllib.request.Request(url + "/", data=sql.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()
