"""The search API (podlog.web.api) over a real store: Starlette's TestClient, and a real uvicorn on loopback for
the live tail."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

pytest.importorskip("tantivy")
pytest.importorskip("starlette")
from starlette.testclient import TestClient

from podlog.store.reader import StoreReader
from podlog.store.schema import Layout
from podlog.store.writer import StoreWriter
from podlog.web.api import create_app
from podlog.web.server import is_loopback, make_server, parse_listen, resolve_token
from tests.conftest import wait_for
from tests.store.helpers import BASE_MS, make_store, record, write

RANGE = {"from": str(BASE_MS - 60_000), "to": str(BASE_MS + 3_600_000)}


def _a(i: int) -> dict[str, Any]:
    """File A, line i: every third an error, pods alternate."""
    if i % 3 == 0:
        return record(BASE_MS + i * 1000, f"error connecting to db, attempt {i}", pod=f"web-{i % 2 + 1}",
                      level="error", status=500)
    return record(BASE_MS + i * 1000, f"request {i} handled in {i}ms", pod=f"web-{i % 2 + 1}", level="info",
                  status=200)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreWriter]:
    path = tmp_path_factory.mktemp("store") / "store"
    writer = make_store(path, Layout(all_fields=True))
    # File A's second half arrives first, so arrival order is not file order (context must use offsets).
    write(writer, [_a(i) for i in range(15, 30)], source="1:100", offsets=[i * 100 for i in range(15, 30)])
    write(writer, [record(BASE_MS + 500 + i * 1000, f"other file line {i}", pod="api-1", namespace="pay")
                   for i in range(10)], source="1:200", offsets=[i * 80 for i in range(10)])
    write(writer, [_a(i) for i in range(15)], source="1:100", offsets=[i * 100 for i in range(15)])
    yield writer
    writer.close()


@pytest.fixture(scope="module")
def client(store: StoreWriter) -> TestClient:
    return TestClient(create_app(StoreReader(store.path, reload_interval=0)))


def search(client: TestClient, q: str, **params: Any) -> dict[str, Any]:
    r = client.get("/api/search", params={"q": q, **RANGE, **params})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(("q", "expected"), [
    ("", 40),
    ("error", 10),                                  # free text searches the message
    ("ERROR", 10),                                  # case-insensitive like Kibana's text fields
    ("level:error", 10),
    ("pod:web-1", 15),
    ("kubernetes.pod_name:web-1", 15),              # the Fluentd field names work too
    ("namespace:pay", 10),
    ("labels.app:api", 10),
    ("status:500", 10),                             # any other record field, typed as it came
    ('"connecting to db"', 10),                     # phrase
    ('"db connecting"', 0),                         # phrase order matters
    ("error AND pod:web-1", 5),
    ("error pod:web-1", 5),                         # no operator: all must match
    ("pod:web-1 OR namespace:pay", 25),
    ("NOT namespace:shop", 10),
    ("-namespace:shop", 10),
    ("error AND NOT pod:web-1", 5),
    ("pod:(web-1 OR api-1)", 25),
    ("pod:web*", 30),                               # wildcard on a keyword field
    ("pod:w?b-2", 15),
    ("conn*", 10),                                  # wildcard on message words
    ("offset:[0 TO 500]", 13),                      # 6 lines of A (0..500), 7 of B (0..480)
    ("offset:[0 TO 500} AND namespace:shop", 5),
    ("offset:>=2500", 5),
    ("offset:400", 2),                              # one line of A, one of B (a fast column, no term index)
    (f"time:[{BASE_MS} TO {BASE_MS + 4999}]", 10),  # A 0..4 and B 0..4
    ("time:>=2026-12-01T03:00:25Z", 5),
    ("pod:*", 40),
    ("level:*", 30),
])
def test_query_syntax(client: TestClient, q: str, expected: int) -> None:
    assert search(client, q, size=0)["total"] == expected


def test_hits_newest_first_with_highlights_and_fields(client: TestClient) -> None:
    body = search(client, "error", size=3)
    times = [h["time"] for h in body["hits"]]
    assert times == sorted(times, reverse=True) == [BASE_MS + 27_000, BASE_MS + 24_000, BASE_MS + 21_000]
    hit = body["hits"][0]
    assert hit["message"] == "error connecting to db, attempt 27"
    assert hit["highlight"] == [[0, 5]]
    assert hit["fields"]["kubernetes"]["pod_name"] == "web-2" and hit["fields"]["status"] == 500
    assert isinstance(body["took_ms"], float)
    phrase = search(client, '"connecting to db"', size=1)["hits"][0]
    msg = phrase["message"]
    assert [msg[s:e] for s, e in phrase["highlight"]] == ["connecting", "to", "db"]


@pytest.mark.parametrize(("q", "position"), [
    ("level:error AND (pod:web-1", 26),   # missing ) at the end
    ('message:"unterminated', 8),          # the opening quote
    ("error AND", 9),
    ("a OR OR b", 5),
    ("offset:[1 TO ]", 13),
    ("status:>", 8),
    ("pod:web-1)", 9),
    ("offset:abc", 0),                     # not a number: the field's position
])
def test_syntax_errors_answer_400_with_position(client: TestClient, q: str, position: int) -> None:
    r = client.get("/api/search", params={"q": q, **RANGE})
    assert r.status_code == 400
    body = r.json()
    assert body["position"] == position, body
    assert body["error"]


@pytest.mark.parametrize(("params", "status"), [
    ({"size": "1001"}, 400),
    ({"size": "1000", "offset": "9001"}, 400),
    ({"size": "100", "offset": "9900"}, 200),
    ({"size": "-1"}, 400),
    ({"size": "ten"}, 400),
    ({"from": "yesterday"}, 400),
    ({"from": str(BASE_MS), "to": str(BASE_MS - 1)}, 400),
])
def test_paging_and_parameter_limits(client: TestClient, params: dict[str, str], status: int) -> None:
    r = client.get("/api/search", params={**RANGE, **params})
    assert r.status_code == status, r.text
    if status == 400:
        assert r.json()["position"] is None


def test_pages_do_not_overlap(client: TestClient) -> None:
    pages = [search(client, "", size=7, offset=o)["hits"] for o in range(0, 42, 7)]
    ids = [h["id"] for page in pages for h in page]
    assert len(ids) == len(set(ids)) == 40


def test_histogram_counts(client: TestClient) -> None:
    r = client.get("/api/histogram", params={"q": "namespace:shop", "from": str(BASE_MS),
                                             "to": str(BASE_MS + 59_999)})
    body = r.json()
    assert body["interval_ms"] == 500  # 60 s in at most 120 buckets
    buckets = body["buckets"]
    assert len(buckets) == 120 and buckets[0]["t"] == BASE_MS
    assert [b["t"] for b in buckets] == list(range(BASE_MS, BASE_MS + 60_000, 500))  # empty buckets included
    counts = {b["t"]: b["count"] for b in buckets}
    assert all(counts[BASE_MS + i * 1000] == 1 for i in range(30))
    assert sum(counts.values()) == 30
    wide = client.get("/api/histogram", params={"from": str(BASE_MS), "to": str(BASE_MS + 86_400_000)}).json()
    assert 60 <= len(wide["buckets"]) <= 120 and sum(b["count"] for b in wide["buckets"]) == 40


def test_top_values_absolute_counts(client: TestClient) -> None:
    body = client.get("/api/top", params={"field": "pod", **RANGE}).json()
    assert body["total"] == 40
    assert body["values"] == [{"value": "web-1", "count": 15}, {"value": "web-2", "count": 15},
                              {"value": "api-1", "count": 10}] or \
        sorted(body["values"], key=lambda v: v["value"]) == [{"value": "api-1", "count": 10},
                                                             {"value": "web-1", "count": 15},
                                                             {"value": "web-2", "count": 15}]
    errors = client.get("/api/top", params={"field": "pod", "q": "error", **RANGE}).json()
    assert errors["total"] == 10 and {v["value"]: v["count"] for v in errors["values"]} == {"web-1": 5, "web-2": 5}
    status = client.get("/api/top", params={"field": "status", "size": 1, **RANGE}).json()
    assert status["values"] == [{"value": "200", "count": 20}]
    assert client.get("/api/top", params={"field": "message", **RANGE}).status_code == 400
    assert client.get("/api/top", params=RANGE).status_code == 400


def test_fields(client: TestClient) -> None:
    fields = {f["name"]: f["type"] for f in client.get("/api/fields", params=RANGE).json()["fields"]}
    assert fields["message"] == "text" and fields["time"] == "time" and fields["pod"] == "keyword"
    assert fields["status"] == "number"


def test_fields_not_indexed_are_shown_and_sampled(tmp_path: Path) -> None:
    writer = make_store(tmp_path / "s")  # default layout: only the configured fields are indexed
    try:
        write(writer, [record(BASE_MS + i, f"r {i}", status=500 if i % 4 == 0 else 200) for i in range(40)])
        client = TestClient(create_app(StoreReader(writer.path)))
        r = client.get("/api/search", params={"q": "level:x OR status:500", **RANGE})
        assert r.status_code == 400 and r.json()["position"] == 11 and "not indexed" in r.json()["error"]
        fields = {f["name"]: f for f in client.get("/api/fields", params=RANGE).json()["fields"]}
        assert fields["status"] == {"name": "status", "type": "number", "indexed": False}
        top = client.get("/api/top", params={"field": "status", **RANGE}).json()
        assert top["values"] == [{"value": "200", "count": 30}, {"value": "500", "count": 10}]
        assert top["sampled"] == 40
    finally:
        writer.close()


def test_doc_and_404(client: TestClient) -> None:
    hit = search(client, "attempt 27", size=1)["hits"][0]
    assert client.get(f"/api/doc/{hit['id']}").json() == {**hit, "highlight": []}
    assert client.get("/api/doc/999999").status_code == 404
    assert client.get("/api/doc/nope").json()["error"]


def test_context_in_file_order(client: TestClient) -> None:
    hit = search(client, '"attempt 15"', size=1)["hits"][0]
    body = client.get(f"/api/context/{hit['id']}", params={"before": 3, "after": 4}).json()
    assert [h["offset"] for h in body["before"]] == [1200, 1300, 1400]  # written after line 15, before it in the file
    assert body["hit"]["offset"] == 1500
    assert [h["offset"] for h in body["after"]] == [1600, 1700, 1800, 1900]
    assert all(h["source"] == "1:100" for h in body["before"] + body["after"])
    edge = client.get(f"/api/context/{search(client, 'other file line 1', size=1)['hits'][0]['id']}",
                      params={"before": 5, "after": 0}).json()
    assert [h["message"] for h in edge["before"]] == ["other file line 0"] and edge["after"] == []


def test_export_ndjson_and_csv(client: TestClient) -> None:
    r = client.get("/api/export", params={"q": "namespace:shop", **RANGE})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    lines = [orjson.loads(x) for x in r.content.splitlines()]
    assert len(lines) == 30 and len({x["id"] for x in lines}) == 30
    assert [x["time"] for x in lines] == sorted((x["time"] for x in lines), reverse=True)
    r = client.get("/api/export", params={"q": "error", "format": "csv", **RANGE})
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["time", "namespace", "pod", "container", "message"]
    assert len(rows) == 11 and rows[1] == ["2026-12-01T03:00:27.000Z", "shop", "web-2", "app",
                                           "error connecting to db, attempt 27"]
    r = client.get("/api/export", params={"q": "error", "format": "csv", "columns": "status,pod", **RANGE})
    assert r.text.splitlines()[:2] == ["status,pod", "500,web-2"]
    assert client.get("/api/export", params={"format": "xml", **RANGE}).status_code == 400
    assert client.get("/api/export", params={"q": "(", **RANGE}).json()["position"] == 1


def test_export_pages_through_many_records_with_equal_times(tmp_path: Path) -> None:
    writer = make_store(tmp_path / "s")
    try:
        same = [record(BASE_MS, f"same instant {i}") for i in range(2500)]
        write(writer, same, source="9:9", offsets=list(range(2500)))
        reader = StoreReader(str(tmp_path / "s"), reload_interval=0)
        ids = [h["id"] for h in reader.export("", BASE_MS - 1, BASE_MS + 1, page=1000)]
        assert len(ids) == len(set(ids)) == 2500
    finally:
        writer.close()


def test_stats_and_default_range(tmp_path: Path) -> None:
    writer = make_store(tmp_path / "s")
    try:
        now = int(time.time() * 1000)
        write(writer, [record(now - 60_000, "recent"), record(now - 3_600_000, "an hour ago")])
        client = TestClient(create_app(StoreReader(str(tmp_path / "s"), reload_interval=0)))
        assert [h["message"] for h in client.get("/api/search").json()["hits"]] == ["recent"]
        assert client.get("/api/search", params={"from": "now-2h"}).json()["total"] == 2
        stats = client.get("/api/stats").json()
        assert stats["docs"] == 2 and stats["bytes"] > 0
        assert stats["oldest"] == now - 3_600_000 and stats["newest"] == now - 60_000
    finally:
        writer.close()


def test_ingest_rate_over_the_last_seconds(tmp_path: Path) -> None:
    writer = make_store(tmp_path / "s")
    try:
        write(writer, [record(BASE_MS, "first")])
        now = [100.0]
        reader = StoreReader(writer.path, reload_interval=0, clock=lambda: now[0])
        reader.sample_rate()
        write(writer, [record(BASE_MS, f"r {i}") for i in range(100)])
        now[0] += 2.0
        assert reader.stats()["ingest_rate"] == 50.0
        now[0] += 20.0  # nothing new for 20 s: the old samples are out of the window
        reader.sample_rate()
        now[0] += 5.0
        assert reader.ingest_rate() == 0.0
    finally:
        writer.close()


def test_openapi_lists_every_route(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {"/api/search", "/api/histogram", "/api/fields", "/api/top", "/api/doc/{id}",
                                  "/api/context/{id}", "/api/tail", "/api/export", "/api/stats", "/api/openapi.json"}


def test_index_without_ui_assets(tmp_path: Path, store: StoreWriter) -> None:
    client = TestClient(create_app(StoreReader(store.path), static_dir=tmp_path))
    r = client.get("/")
    assert r.status_code == 200 and "not built" in r.text
    (tmp_path / "index.html").write_text("<html>ui</html>")
    (tmp_path / "app.js").write_text("console.log(1)")
    assert client.get("/").text == "<html>ui</html>"
    assert client.get("/static/app.js").text == "console.log(1)"


def test_token_required_when_set(store: StoreWriter) -> None:
    client = TestClient(create_app(StoreReader(store.path), token="s3cret"))
    r = client.get("/api/search")
    assert r.status_code == 401 and "token" in r.json()["error"]
    assert client.get("/api/search", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/search", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/api/export", params={"token": "s3cret"}).status_code == 200  # links: SSE, export
    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/").status_code == 200


def test_token_rules_by_bind_address(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PODLOG_TOKEN", raising=False)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen(":9000") == ("127.0.0.1", 9000)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    assert resolve_token("127.0.0.1", None, str(tmp_path)) is None
    generated = resolve_token("0.0.0.0", None, str(tmp_path))
    assert generated and generated in capsys.readouterr().err
    saved = tmp_path / "api-token"
    assert saved.read_text().strip() == generated and saved.stat().st_mode & 0o777 == 0o600
    assert resolve_token("0.0.0.0", None, str(tmp_path)) == generated  # the same one at the next start
    assert resolve_token("0.0.0.0", "given", str(tmp_path)) == "given"
    monkeypatch.setenv("PODLOG_TOKEN", "from-env")
    assert resolve_token("10.0.0.1", None, str(tmp_path)) == "from-env"


def test_bad_input_never_takes_the_server_down(client: TestClient) -> None:
    for params in ({"q": "(" * 5000}, {"q": "x" * 20_000}, {"from": "0", "to": str(2**62)},
                   {"q": "pod:/[/"}, {"q": "offset:[9 TO 1]"}):
        r = client.get("/api/search", params=params)
        assert r.status_code in (200, 400), (params, r.status_code)
        if r.status_code == 400:
            assert r.json()["error"]
    assert client.get("/api/histogram", params={"from": "0", "to": str(2**50)}).status_code in (200, 400)
    assert client.get("/api/search", params=RANGE).status_code == 200


def _sse_events(url: str, found: list[dict[str, Any]], opened: threading.Event) -> None:
    with urllib.request.urlopen(url, timeout=30) as resp:
        for raw in resp:
            opened.set()  # the server's first comment: the tail has taken its cursor
            line = raw.decode().rstrip("\n")
            if line.startswith("data: "):
                found.append(json.loads(line[6:]))
                return


def test_tail_receives_committed_records(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s")
    write(store, [record(BASE_MS, "tailme before the stream opened")])
    app = create_app(StoreReader(store.path))
    server = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: server.started, 20)
        port = server.servers[0].sockets[0].getsockname()[1]
        found: list[dict[str, Any]] = []
        opened = threading.Event()
        reader = threading.Thread(target=_sse_events, args=(f"http://127.0.0.1:{port}/api/tail?q=tailme", found,
                                                            opened), daemon=True)
        reader.start()
        assert opened.wait(20)
        write(store, [record(BASE_MS + 99_000, "unrelated line")])
        write(store, [record(BASE_MS + 99_500, "tailme please", pod="web-9")], source="1:300", offsets=[0])
        reader.join(30)
        assert [h["message"] for h in found] == ["tailme please"]
        assert found[0]["fields"]["kubernetes"]["pod_name"] == "web-9" and found[0]["highlight"] == [[0, 6]]
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()
