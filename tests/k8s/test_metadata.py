"""The metadata cache against the API-server double (tests/drivers/k8s_api.py: not a real API server; it
follows the documented list/watch API): churn, deletion, re-created pods, breaks, 410 and request counts."""

from __future__ import annotations

import threading

import pytest

from podlog.k8s.client import KubeClient
from podlog.k8s.config import ApiConfig, TokenSource
from podlog.k8s.metadata import MetadataCache, owner_workload
from tests.conftest import wait_for
from tests.drivers.k8s_api import K8sApiDouble
from tests.k8s.helpers import NODE, cid, namespace, pod


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api():
    with K8sApiDouble(bookmark_interval=0.2) as double:
        double.put("v1", "namespaces", namespace("shop", team="web"))
        yield double


def cache_for(api: K8sApiDouble, clock: Clock | None = None, **kw) -> MetadataCache:
    client = KubeClient(ApiConfig(server=api.url, token=TokenSource(token="test-token")))
    cache = MetadataCache(client, node_name=NODE, clock=clock or Clock(), watch_timeout=60, **kw)
    cache.start()
    assert wait_for(lambda: cache.state == "synced", 10)
    return cache


def test_churn_deletion_recreation_and_o1_requests(api):
    clock = Clock()
    cache = cache_for(api, clock, keep_deleted=60)
    try:
        for i in range(30):  # 30 pods created and deleted on this node, 30 on another
            api.put("v1", "pods", pod(f"p{i}"))
            api.put("v1", "pods", pod(f"q{i}", node="node-2"))
        assert wait_for(lambda: cache.pod("shop", "p29") is not None, 10)
        assert cache.pod("shop", "q0") is None
        for i in range(30):
            api.remove("v1", "pods", f"p{i}", "shop")
        assert wait_for(lambda: cache.pod("shop", "p29").deleted_at is not None, 10)
        # a StatefulSet pod re-created under the same name: each file finds its own pod by container id
        api.put("v1", "pods", pod("p0", containers={"app": cid("p0-second")}, labels={"gen": "2"}))
        assert wait_for(lambda: cache.pod("shop", "p0").labels == {"gen": "2"}, 10)
        assert cache.pod("shop", "p0", cid("p0")).deleted_at is not None
        assert cache.pod("shop", "p0", cid("p0-second")).labels == {"gen": "2"}
        assert cache.namespace("shop").labels == {"team": "web"}
        # deleted pods go after keep_deleted
        clock.now += 61
        cache._purge()
        assert cache.pod("shop", "p5") is None and cache.pod("shop", "p0") is not None
        # 120 pod changes cost no request of their own: one list and one watch per resource
        assert api.count("get") == 0
        assert api.count("list", "pods") == 1 and api.count("watch", "pods") == 1
        assert api.count() == 4
    finally:
        cache.stop()


def test_broken_watch_resumes_and_410_relists(api):
    api.put("v1", "pods", pod("a"))
    cache = cache_for(api)
    try:
        api.break_watches()
        api.put("v1", "pods", pod("b"))
        assert wait_for(lambda: cache.pod("shop", "b") is not None, 10)
        assert api.count("list", "pods") == 1  # resumed from its resourceVersion, no re-list
        assert cache.state == "synced"
        api.compact()
        api.break_watches()  # the next watch asks for a compacted version: 410 Expired, then a list
        api.remove("v1", "pods", "a", "shop")
        api.put("v1", "pods", pod("c"))
        assert wait_for(lambda: cache.pod("shop", "c") is not None, 10)
        assert api.count("list", "pods") == 2 and api.count("list", "namespaces") == 2
        assert cache.stats.expired == 2  # pods and namespaces
        assert cache.pod("shop", "a").deleted_at is not None  # gone while nobody watched: found by the re-list
    finally:
        cache.stop()


def test_no_access_is_unavailable_and_named(api):
    api.tokens["nobody"] = set()
    client = KubeClient(ApiConfig(server=api.url, token=TokenSource(token="nobody")))
    cache = MetadataCache(client, node_name=NODE)
    cache.start()
    try:
        assert wait_for(lambda: cache.state == "unavailable", 10)
        assert "cannot list resource" in cache.stats.last_error
    finally:
        cache.stop()


def test_owner_workloads_by_name_convention():
    def meta(kind, name, **labels):
        return {"ownerReferences": [{"kind": kind, "name": name, "controller": True}], "labels": labels,
                "creationTimestamp": "2026-12-01T03:00:00Z"}

    assert owner_workload(meta("ReplicaSet", "web-5d8f7c9", **{"pod-template-hash": "5d8f7c9"})) == (
        "Deployment", "web")
    assert owner_workload(meta("ReplicaSet", "bare")) == ("ReplicaSet", "bare")
    minute = 1796094000 // 60  # 2026-12-01T03:00Z
    assert owner_workload(meta("Job", f"backup-{minute}")) == ("CronJob", "backup")
    assert owner_workload(meta("Job", "backup-20240101")) == ("Job", "backup-20240101")
    assert owner_workload(meta("StatefulSet", "db")) == ("StatefulSet", "db")
    assert owner_workload({}) is None


class NamespacesLate:
    """A client whose namespace list waits for ``gate``: the pod list comes first, as on a busy API server."""

    def __init__(self, client: KubeClient, gate: threading.Event) -> None:
        self.client = client
        self.gate = gate

    def list(self, path, params):
        if path.endswith("/namespaces"):
            self.gate.wait(10)
        return self.client.list(path, params)

    def watch(self, *args, **kw):
        return self.client.watch(*args, **kw)

    def close(self) -> None:
        self.client.close()


def test_a_pod_waits_for_its_namespace_when_the_namespace_list_lags(api):
    """Found the pod but not yet its namespace: the bounded wait covers the namespace list too, so the
    first lines after start keep their namespace labels (the DaemonSet test saw them missing under load)."""
    api.put("v1", "pods", pod("web-0"))
    gate = threading.Event()
    client = NamespacesLate(KubeClient(ApiConfig(server=api.url, token=TokenSource(token="test-token"))), gate)
    cache = MetadataCache(client, node_name=NODE, clock=Clock(), watch_timeout=60)  # type: ignore[arg-type]
    cache.start()
    try:
        assert wait_for(lambda: cache.pod("shop", "web-0") is not None, 10)
        assert cache.namespace("shop") is None
        opener = threading.Timer(0.2, gate.set)
        opener.start()
        found = cache.wait_for_pod("shop", "web-0", cid("web-0"), timeout=10)
        assert found is not None and found.name == "web-0"
        assert cache.namespace("shop") is not None and cache.namespace("shop").labels == {"team": "web"}
    finally:
        gate.set()
        cache.stop()
