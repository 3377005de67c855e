"""An output's result names the documents still to retry; the chunk, not the output, remembers them.

Against the Elasticsearch protocol double (tests/drivers/es_double.py, built
from the bulk API documentation: per-item 429 and mapping errors in a 200
answer). The ES output used to keep per-chunk progress in a map capped at 32
chunks and to find documents again by ``id(doc)``: past 32 chunks in flight
it re-sent a document that had been indexed when the same bytes object stood
twice in a chunk. Now the retry is by position, for any number of chunks.
"""

from __future__ import annotations

import orjson

from podlog.batch import Batch
from podlog.outputs._base import Status
from podlog.outputs.elasticsearch import ElasticsearchOutput
from tests.drivers.es_double import EsDouble
from tests.outputs.output_helpers import attempt, build, chunk_of, doc


def test_forty_chunks_partly_refused_at_once_retry_only_their_own_rest() -> None:
    with EsDouble("es8") as es:
        out = build(ElasticsearchOutput, hosts=es.url, index_name="logs")
        out.start()
        chunks = []
        for n in range(40):
            same = doc(message=f"same-{n}")  # one bytes object, twice in the chunk (no ids: plain index ops)
            chunks.append(chunk_of(Batch("t", docs=[same, same, doc(message=f"other-{n}")])))
        for chunk in chunks:  # every chunk part-way delivered before any is retried
            es.reject_next_items(1)  # the first item: 429, its neighbours indexed
            first = attempt(out, chunk)
            assert first.status is Status.RETRY and first.remaining == [0]
        sent_before = len(es.bulk_requests)
        for chunk in chunks:
            assert attempt(out, chunk).status is Status.DELIVERED
        retries = es.bulk_requests[sent_before:]
        assert [r.doc_count for r in retries] == [1] * 40  # only the refused copy, in every chunk
        got = sorted(d["message"] for d in es.documents("logs"))
        assert got == sorted([f"same-{n}" for n in range(40)] * 2 + [f"other-{n}" for n in range(40)])
        assert out.stats()["indexed"] == 120


def test_positions_count_documents_refused_before_sending() -> None:
    """A data stream refuses a document without @timestamp before the request; the retry's position
    still names the right document, and the refusal is reported once."""
    with EsDouble("es8") as es:
        es.add_data_stream("logs-app")
        out = build(ElasticsearchOutput, hosts=es.url, data_stream_name="logs-app")
        out.start()
        no_time = orjson.dumps({"message": "no time"})
        chunk = chunk_of(Batch("t", docs=[no_time, doc(message="a"), doc(message="b")]))
        es.reject_next_items(1)  # "a": 429
        first = attempt(out, chunk)
        assert first.status is Status.RETRY and first.remaining == [1]
        assert [d for d, _ in first.rejected] == [no_time]
        assert [orjson.loads(d)["message"] for d in chunk.docs()] == ["a"]
        second = attempt(out, chunk)
        assert second.status is Status.DELIVERED and second.rejected == []
        assert sorted(d["message"] for d in es.documents("logs-app")) == ["a", "b"]
