"""The kubernetes_events input against the API-server double.

tests/drivers/k8s_api.py stands in for a real Kubernetes API server, which cannot run here; it follows the
documented list/watch API (resourceVersion, limit/continue, bookmarks, 410 Expired, chunked watch streams),
so these tests show podlog keeps to that API, not that a given cluster behaves the same.
"""

from __future__ import annotations

import time

import pytest

from podlog.k8s.events import Seen, event_key, normalise
from podlog.k8s.events_state import ANNOTATION, EventsState
from tests.conftest import wait_for
from tests.drivers.k8s_api import K8sApiDouble
from tests.k8s.events_helpers import Sink, barrier, collector, core_event, series_event


@pytest.fixture
def api():
    with K8sApiDouble(bookmark_interval=0.3) as double:
        yield double


def run(inp, sink):
    inp.run(sink)
    return inp


def stop(inp):
    inp.stop()
    inp.commit()


def test_both_event_apis_normalise_to_one_record(api):
    api.put("v1", "events", core_event("web-1.a", count=3))
    api.put("events.k8s.io/v1", "events", series_event("db-0.b", count=4))
    for name in ("web-1.a", "db-0.b"):
        core = api.get("v1", "events", name, "shop")
        new = api.get("events.k8s.io/v1", "events", name, "shop")
        assert "involvedObject" in core and "regarding" in new
        assert normalise(core) == normalise(new)
        assert event_key(core) == event_key(new)
    old = normalise(api.get("events.k8s.io/v1", "events", "web-1.a", "shop"))
    assert old["involved_object"] == {"kind": "Pod", "name": "web-1", "namespace": "shop", "uid": "uid-web-1",
                                      "api_version": "v1", "field_path": "spec.containers{app}"}
    assert (old["count"], old["reason"], old["type"]) == (3, "BackOff", "Warning")
    assert (old["first_timestamp"], old["last_timestamp"], old["@timestamp"]) == (
        "2026-12-01T02:59:00Z", "2026-12-01T03:00:00Z", "2026-12-01T03:00:00Z")
    assert (old["reporting_component"], old["reporting_instance"]) == ("kubelet", "node-1")
    assert old["kubernetes"] == {"namespace_name": "shop", "pod_name": "web-1"}
    new = normalise(api.get("v1", "events", "db-0.b", "shop"))
    assert (new["count"], new["message"], new["action"]) == (4, "0/3 nodes are available", "Scheduling")
    assert (new["reporting_component"], new["reporting_instance"]) == ("default-scheduler", "default-scheduler-cp-1")
    assert new["first_timestamp"] == "2026-12-01T03:00:00.000001Z"
    assert new["last_timestamp"] == "2026-12-01T03:04:00.000000Z"  # series.lastObservedTime


@pytest.mark.parametrize("which", ["v1", "events.k8s.io/v1"])
def test_list_then_watch_with_count_updates_and_few_requests(api, which):
    api.put("v1", "events", core_event("e1"))
    api.put("v1", "events", core_event("e2", pod="web-2"))
    sink = Sink()
    inp = run(collector(api, api=which, page_size=1), sink)  # page_size 1: the list pages with continue
    try:
        assert wait_for(lambda: len(sink.records) == 2, 10)
        api.put("v1", "events", core_event("e3", pod="web-3"))
        api.put("v1", "events", core_event("e1", count=2, last="2026-12-01T03:01:00Z"))
        api.put("v1", "events", core_event("e1", count=2, message="same count, other text"))  # not an occurrence
        api.put("v1", "events", core_event("e1", count=3, last="2026-12-01T03:02:00Z"))
        api.remove("v1", "events", "e2", "shop")  # the TTL ran out: nothing to emit
        assert wait_for(lambda: len(sink.records) == 5, 10)
        barrier(api, sink)  # in order: once it is through, so is the MODIFIED without a new count
        assert sorted(sink.keys()) == [("e1", 1), ("e1", 2), ("e1", 3), ("e2", 1), ("e3", 1)]
        assert [r["last_timestamp"] for r in sink.records if r["event"]["name"] == "e1"][1:] == [
            "2026-12-01T03:01:00Z", "2026-12-01T03:02:00Z"]
        assert not sink.markers()
        for _ in range(20):  # many more events: still the one list and the one watch
            api.put("v1", "events", core_event(f"more-{_}"))
        assert wait_for(lambda: len(sink.keys()) == 25, 10)
        assert api.count("list", "events") == 2  # one list: two pages of one
        assert api.count("watch", "events") == 1
        assert inp.requests == api.count()
    finally:
        stop(inp)


def test_a_broken_watch_resumes_with_nothing_lost_or_repeated(api):
    sink = Sink()
    inp = run(collector(api), sink)
    try:
        assert wait_for(lambda: api.watchers == 1, 10)
        for round_ in range(3):
            api.put("v1", "events", core_event(f"r{round_}"))
            assert wait_for(lambda r=round_: len(sink.records) == 2 * r + 1, 10)
            api.break_watches()  # cut mid-chunk, as a load balancer would
            api.put("v1", "events", core_event(f"during-{round_}"))  # written while no watch is open
            assert wait_for(lambda r=round_: len(sink.records) == 2 * r + 2, 10)
        assert sorted(sink.keys()) == sorted([(f"r{i}", 1) for i in range(3)] + [(f"during-{i}", 1) for i in range(3)])
        assert api.count("list", "events") == 1  # resumed from the resourceVersion, never re-listed
        assert inp.stats["watches"] >= 4 and not sink.markers()
    finally:
        stop(inp)


def test_410_relists_without_re_emitting_and_emits_one_marker(api):
    for i in range(5):
        api.put("v1", "events", core_event(f"old-{i}"))
    sink = Sink()
    inp = run(collector(api), sink)
    try:
        assert wait_for(lambda: len(sink.records) == 5, 10)
        # History compacted while the watch is down: its resourceVersion is gone (410 Expired).
        api.put("v1", "events", core_event("old-0", count=2))
        api.put("v1", "events", core_event("new-0"))
        assert wait_for(lambda: len(sink.records) == 7, 10)
        api.compact()
        api.break_watches()
        api.put("v1", "events", core_event("old-1", count=2))
        api.put("v1", "events", core_event("gap-0"))
        assert wait_for(lambda: len(sink.records) == 10, 10)
        barrier(api, sink)
        assert len(sink.markers()) == 1
        marker = sink.markers()[0]
        assert marker["podlog"]["events_gap"]["cause"] == "expired" and marker["type"] == "Warning"
        assert sorted(sink.keys()) == sorted([(f"old-{i}", 1) for i in range(5)] +
                                             [("old-0", 2), ("new-0", 1), ("old-1", 2), ("gap-0", 1)])
        assert api.count("list", "events") == 2 and inp.stats["expired"] == 1
    finally:
        stop(inp)


def test_resumes_from_the_state_file_and_marks_a_downtime_past_the_ttl(api, tmp_path):
    state = tmp_path / "events.state"
    sink = Sink()
    first = run(collector(api, state_file=str(state)), sink)
    api.put("v1", "events", core_event("a"))
    assert wait_for(lambda: len(sink.records) == 1, 10)
    stop(first)
    saved = EventsState.read_file(str(state), 100, 7200)
    assert saved is not None and saved.resource_version and not saved.seen.is_new(*event_key(
        api.get("v1", "events", "a", "shop")))
    # while down: a new event and an update; after the restart only those, no list
    api.put("v1", "events", core_event("b"))
    api.put("v1", "events", core_event("a", count=2))
    lists = api.count("list", "events")
    second = run(collector(api, state_file=str(state)), sink)
    assert wait_for(lambda: len(sink.records) == 3, 10)
    stop(second)
    assert sorted(sink.keys()) == [("a", 1), ("a", 2), ("b", 1)]
    assert api.count("list", "events") == lists and not sink.markers()
    # away for two hours (past the 1h events TTL): the server dropped b, a happened again, c is new.
    # List again, emit what is new, and one marker.
    api.remove("v1", "events", "b", "shop")
    api.put("v1", "events", core_event("a", count=3))
    api.put("v1", "events", core_event("c"))
    third = run(collector(api, state_file=str(state), wall=lambda: time.time() + 7200), sink)
    try:
        assert wait_for(lambda: len(sink.records) == 6, 10)
        barrier(api, sink)
        assert sorted(sink.keys()) == [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("c", 1)]
        assert [m["podlog"]["events_gap"]["cause"] for m in sink.markers()] == ["downtime"]
        assert api.count("list", "events") == lists + 1
    finally:
        stop(third)


def test_state_moves_only_with_acknowledgements(api, tmp_path):
    state = tmp_path / "events.state"
    sink = Sink(hold=True)  # the output has not acknowledged anything yet
    inp = run(collector(api, state_file=str(state)), sink)
    try:
        api.put("v1", "events", core_event("x"))
        assert wait_for(lambda: len(sink.records) == 1, 10)
        inp._save(final=False)  # a checkpoint, now rather than at the next tick
        saved = EventsState.read_file(str(state), 100, 7200)
        assert saved is None or (len(saved.seen) == 0 and saved.resource_version)  # at most the empty list's
        sink.release_all()
        assert wait_for(lambda: len(getattr(EventsState.read_file(str(state), 100, 7200), "seen", ())) == 1, 10)
        assert EventsState.read_file(str(state), 100, 7200).resource_version == api.get(
            "v1", "events", "x", "shop")["metadata"]["resourceVersion"]
    finally:
        stop(inp)


def test_seen_window_is_bounded_by_entries_and_age():
    seen = Seen(max_entries=3, max_age=100)
    for i in range(5):
        seen.add(f"u{i}", 1, 1000 + i)
    assert len(seen) == 3 and seen.is_new("u0", 1) and not seen.is_new("u4", 1)
    seen.add("u4", 2, 1010)
    assert not seen.is_new("u4", 2) and seen.is_new("u4", 3)
    seen.trim(1104)
    assert [row[0] for row in seen.dump()] == ["u4"]  # u2, u3 were last updated more than 100s ago
    again = Seen.load(seen.dump(), 3, 100)
    assert not again.is_new("u4", 2)


def test_leader_handover_one_holder_then_the_other_resumes(api):
    clock = {"now": 1000.0}
    tick = lambda: clock["now"]  # noqa: E731
    a_sink, b_sink = Sink(), Sink()
    common = {"leader_election": True, "lease_duration": "10s", "renew_deadline": "5s", "clock": tick}
    api.put("coordination.k8s.io/v1", "leases", {"metadata": {"name": "podlog-events", "namespace": "logging"},
                                                 "spec": {}})
    a = run(collector(api, identity="agent-a", **common), a_sink)
    assert wait_for(lambda: a.holding, 10)
    b = run(collector(api, identity="agent-b", **common), b_sink)
    try:
        api.put("v1", "events", core_event("e1"))
        assert wait_for(lambda: len(a_sink.records) == 1, 10)
        assert wait_for(lambda: b._lease_client is not None and b._lease_client.requests >= 3, 10)  # b looked
        assert not b.holding and not b_sink.records
        # a's renewals carry its acknowledged position into the Lease
        lease = lambda: api.get("coordination.k8s.io/v1", "leases", "podlog-events", "logging")  # noqa: E731
        assert wait_for(lambda: len(EventsState.loads(lease()["metadata"]["annotations"][ANNOTATION],
                                                      10, 1e9).seen) == 1, 10)
        assert lease()["spec"]["holderIdentity"] == "agent-a"
        # a crashes: it stops collecting and renewing, without releasing
        a._stop.set()
        a._thread.join(10)
        a._end_term()
        api.put("v1", "events", core_event("e2"))
        looked = b._lease_client.requests
        assert wait_for(lambda: b._lease_client.requests >= looked + 2, 10)  # two more rounds on b's side
        assert not b.holding  # the Lease is not expired yet on b's clock
        clock["now"] += 11
        assert wait_for(lambda: b.holding, 10)
        assert wait_for(lambda: len(b_sink.records) == 1, 10)
        barrier(api, b_sink)
        assert b_sink.keys() == [("e2", 1)]  # resumed from a's position: e1 is not emitted again
        assert lease()["spec"]["holderIdentity"] == "agent-b" and lease()["spec"]["leaseTransitions"] == 1
        # a graceful stop releases the Lease with the final position: a restarted a takes over at once
        stop(b)
        assert lease()["spec"].get("holderIdentity") is None
        api.put("v1", "events", core_event("e3"))
        a2_sink = Sink()
        a2 = run(collector(api, identity="agent-a2", **common), a2_sink)
        assert wait_for(lambda: len(a2_sink.records) == 1, 10)
        stop(a2)
        assert a2_sink.keys() == [("e3", 1)]
        assert api.count("list", "events") == 1  # only the first holder ever listed
    finally:
        for inp in (a, b):
            inp.stop()


def test_no_api_configuration_is_a_clear_error_not_a_crash(tmp_path, monkeypatch, caplog):
    from podlog.config.errors import Located
    from podlog.inputs.kubernetes_events import KubernetesEventsInput

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    opts = KubernetesEventsInput.Options.from_mapping({}, Located("<test>", 0, ""), "")
    inp = KubernetesEventsInput(opts)
    sink = Sink()
    inp.run(sink)
    assert wait_for(lambda: not inp._thread.is_alive(), 10)
    stop(inp)
    assert not sink.records
    assert "no Kubernetes API to read events from" in caplog.text


def test_series_events_of_the_new_api_emit_an_update_per_new_count(api):
    """events.k8s.io/v1 recorders keep deprecatedCount empty and count in series: each series count is new."""
    api.put("events.k8s.io/v1", "events", series_event("db-0.s", count=2))
    sink = Sink()
    inp = run(collector(api), sink)
    try:
        assert wait_for(lambda: len(sink.records) == 1, 10)
        for count in (3, 4):
            api.put("events.k8s.io/v1", "events", series_event("db-0.s", count=count))
        api.put("events.k8s.io/v1", "events", series_event("db-0.s", count=4))  # rewritten, same count
        assert wait_for(lambda: len(sink.records) == 3, 10)
        barrier(api, sink)
        assert sink.keys() == [("db-0.s", 2), ("db-0.s", 3), ("db-0.s", 4)]
        assert [r["last_timestamp"] for r in sink.records if r["reason"] != "Barrier"] == [
            "2026-12-01T03:02:00.000000Z", "2026-12-01T03:03:00.000000Z", "2026-12-01T03:04:00.000000Z"]
    finally:
        stop(inp)
