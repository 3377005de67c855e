"""kubernetes_metadata in process against the API-server double (a protocol double, not an API server):
records from other filters or inputs, the skip_* options, and fields that went stale."""

from __future__ import annotations

import pytest

from tests.conftest import wait_for
from tests.drivers.k8s_api import K8sApiDouble
from tests.filters.helpers import run, yaml_filter
from tests.k8s.helpers import NODE, cid, namespace, pod

NAMES = {"pod_name": "web", "namespace_name": "shop", "container_name": "app", "container_id": cid("web")}


@pytest.fixture
def api():
    with K8sApiDouble(bookmark_interval=0.5) as double:
        double.put("v1", "namespaces", namespace("shop", team="web"))
        double.put("v1", "pods", pod("web", labels={"app.kubernetes.io/name": "web"}))
        yield double


def started(api, tmp_path, extra: str = ""):
    (tmp_path / "token").write_text("test-token")
    flt = yaml_filter(f"  - type: kubernetes_metadata\n    kubernetes_url: {api.url}\n    node_name: {NODE}\n"
                      f"    bearer_token_file: {tmp_path}/token\n{extra}")
    flt.start()
    assert wait_for(lambda: flt.cache.state == "synced", 10)
    return flt


@pytest.mark.parametrize("as_docs", [True, False])
def test_records_and_docs_are_completed_and_kept_current(api, tmp_path, as_docs):
    flt = started(api, tmp_path, "    skip_namespace_metadata: true\n    skip_master_url: true\n    de_dot: false\n")
    try:
        [first] = run(flt, [{"m": 1, "kubernetes": NAMES}], as_docs=as_docs)
        assert first["kubernetes"]["labels"] == {"app.kubernetes.io/name": "web"}
        assert "namespace_labels" not in first["kubernetes"] and "master_url" not in first["kubernetes"]
        api.put("v1", "pods", pod("web", labels={"v": "2"}, annotations={"podlog.io/exclude": "true"}))
        assert wait_for(lambda: flt.cache.pod("shop", "web").labels == {"v": "2"}, 10)
        # a record completed earlier (e.g. by the tail) is brought up to date, and the new annotation applies
        assert run(flt, [{"m": 2, "kubernetes": first["kubernetes"]}], as_docs=as_docs) == []
        api.put("v1", "pods", pod("web", labels={"v": "3"}))
        assert wait_for(lambda: flt.cache.pod("shop", "web").labels == {"v": "3"}, 10)
        [third] = run(flt, [{"m": 3, "kubernetes": first["kubernetes"]}], as_docs=as_docs)
        assert third["kubernetes"]["labels"] == {"v": "3"} and third["kubernetes"]["pod_name"] == "web"
    finally:
        flt.stop()


def test_a_field_from_the_api_survives_when_its_pod_is_forgotten(api, tmp_path):
    flt = started(api, tmp_path, "    skip_labels: true\n    skip_container_metadata: true\n")
    try:
        [done] = run(flt, [{"kubernetes": NAMES}], as_docs=False)
        assert "labels" not in done["kubernetes"] and "container_image" not in done["kubernetes"]
        gone = {**done["kubernetes"], "pod_name": "gone"}
        assert run(flt, [{"kubernetes": gone}], as_docs=False) == [{"kubernetes": gone}]
        assert flt.held == 0 and flt.missing == {"api_unavailable": 0, "pod_unknown": 0}
    finally:
        flt.stop()
