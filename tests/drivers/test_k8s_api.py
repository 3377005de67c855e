"""The Kubernetes API double itself, on points the client tests do not reach (see k8s_api.py: a double, not
an API server; it follows the documented API)."""

from __future__ import annotations

import json

import urllib3

from tests.drivers.k8s_api import K8sApiDouble


def _get(api: K8sApiDouble, path: str, **query: str) -> tuple[int, dict | list]:
    resp = urllib3.request("GET", api.url + path, fields=query or None,
                           headers={"Authorization": "Bearer test-token"}, retries=False)
    text = resp.data.decode()
    if query.get("watch"):
        return resp.status, [json.loads(line) for line in text.splitlines() if line]
    return resp.status, json.loads(text)


def test_label_and_field_selectors_and_list_shape():
    with K8sApiDouble() as api:
        api.put("v1", "pods", {"metadata": {"name": "a", "namespace": "x", "labels": {"app": "web", "tier": "1"}}})
        api.put("v1", "pods", {"metadata": {"name": "b", "namespace": "x", "labels": {"app": "db"}}})
        status, body = _get(api, "/api/v1/namespaces/x/pods", labelSelector="app in (web,api),tier")
        assert status == 200 and [p["metadata"]["name"] for p in body["items"]] == ["a"]
        assert body["kind"] == "PodList" and "kind" not in body["items"][0]
        status, body = _get(api, "/api/v1/pods", fieldSelector="spec.hostname=a")
        assert status == 400 and body["reason"] == "BadRequest"


def test_watch_without_version_starts_with_added_and_selector_exit_is_deleted():
    with K8sApiDouble() as api:
        api.put("v1", "pods", {"metadata": {"name": "a", "namespace": "x"}, "spec": {"nodeName": "n1"}})
        _, events = _get(api, "/api/v1/pods", watch="true", timeoutSeconds="1",
                              fieldSelector="spec.nodeName=n1")
        assert [e["type"] for e in events] == ["ADDED"] and events[0]["object"]["kind"] == "Pod"
        rv = api.resource_version
        api.put("v1", "pods", {"metadata": {"name": "a", "namespace": "x"}, "spec": {"nodeName": "n2"}})
        _, events = _get(api, "/api/v1/pods", watch="1", timeoutSeconds="1", resourceVersion=rv,
                              fieldSelector="spec.nodeName=n1")
        assert [e["type"] for e in events] == ["DELETED"]


def test_core_and_events_k8s_io_share_one_store():
    with K8sApiDouble() as api:
        api.put("v1", "events", {"metadata": {"name": "e1", "namespace": "x"}, "message": "Pulled",
                                 "involvedObject": {"kind": "Pod", "name": "a"}, "count": 2})
        _, body = _get(api, "/apis/events.k8s.io/v1/events", fieldSelector="regarding.name=a")
        assert body["items"][0]["note"] == "Pulled" and body["items"][0]["deprecatedCount"] == 2
        assert api.count("list", "events") == 1
