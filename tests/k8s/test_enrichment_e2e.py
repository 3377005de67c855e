"""A real ``podlog agent`` tailing kubelet-named files, enriched from the API-server double.

No Kubernetes API server can run here: tests/drivers/k8s_api.py is a protocol double written from the
Kubernetes API reference (list/watch, bookmarks, 410 Gone, Status errors). The agent's token is granted
only get/list/watch on pods and namespaces, the least privilege the node agent is deployed with.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import metrics_text, read_ndjson, wait_for
from tests.drivers.http_sink import free_port
from tests.drivers.k8s_api import K8sApiDouble
from tests.k8s.helpers import NODE, cid, log_path, namespace, pod, write_cri

AGENT_GRANTS = {(verb, res) for verb in ("get", "list", "watch") for res in ("pods", "namespaces")}


def agent_config(tmp: Path, url: str, port: int, extra: str = "") -> str:
    (tmp / "token").write_text("agent-token\n")
    return f"""
agent: {{grace_period: 5s, http_listen: "127.0.0.1:{port}", data_dir: {tmp}/data}}
sources:
  - type: tail
    path: [{tmp}/containers/*.log]
    pos_file: {tmp}/pos.json
    read_from_head: true
    stat_interval: 0.1s
    tag: kube.*
    parser: json
filters:
  - type: kubernetes_metadata
    match: "kube.**"
    kubernetes_url: {url}/api
    bearer_token_file: {tmp}/token
    node_name: {NODE}
    hold_unknown: 10s
    annotation_match: ["^team"]
{extra}
outputs:
  - type: file
    match: "**"
    path: {tmp}/out/records.ndjson
    buffer: {{flush_interval: 0.1s}}
"""


def records(tmp: Path, **match: str) -> list[dict]:
    return [r for r in read_ndjson(tmp / "out") if all(r.get(k) == v for k, v in match.items())]


@pytest.fixture
def api():
    with K8sApiDouble(tokens={"agent-token": AGENT_GRANTS}, bookmark_interval=0.5) as double:
        double.put("v1", "namespaces", namespace("shop", team="web", **{"istio.io/rev": "1"}))
        yield double


def test_enrichment_through_pod_churn_with_o1_requests(tmp_path, agent_factory, api):
    logs = tmp_path / "containers"
    logs.mkdir()
    web = pod("web-5d8f7-abcde", labels={"app.kubernetes.io/name": "web", "pod-template-hash": "5d8f7"},
              annotations={"team.example.com/owner": "shop-team", "other": "x"},
              owner=("ReplicaSet", "web-5d8f7"))
    api.put("v1", "pods", web)
    api.put("v1", "pods", pod("elsewhere", node="node-2"))
    port = free_port()
    agent = agent_factory(agent_config(tmp_path, api.url, port)).start()
    web_log = log_path(logs, "web-5d8f7-abcde", "shop", "app", cid("web-5d8f7-abcde"))
    write_cri(web_log, ['{"msg":"one"}'])
    assert wait_for(lambda: records(tmp_path, msg="one"), 30)
    k = records(tmp_path, msg="one")[0]["kubernetes"]
    uid = api.get("v1", "pods", "web-5d8f7-abcde", "shop")["metadata"]["uid"]
    assert k == {
        "pod_name": "web-5d8f7-abcde", "namespace_name": "shop", "container_name": "app",
        "container_id": cid("web-5d8f7-abcde"), "container_image": "registry.local/app:1.0",
        "container_image_id": f"registry.local/app@sha256:{cid('app')}", "pod_id": uid, "pod_ip": "10.244.1.9",
        "host": NODE, "host_ip": "10.0.0.7",
        "labels": {"app_kubernetes_io/name": "web", "pod-template-hash": "5d8f7"},
        "annotations": {"team_example_com/owner": "shop-team"},
        "workload_kind": "Deployment", "workload_name": "web", "master_url": api.url + "/api",
        "namespace_id": api.get("v1", "namespaces", "shop")["metadata"]["uid"],
        "namespace_labels": {"team": "web", "istio_io/rev": "1"},
        "namespace_annotations": {"team_example_com/owner": "web"}}

    # labels changed on the running pod: once the watch delivered the change, the file's lines carry them
    api.put("v1", "pods", {**web, "metadata": {**web["metadata"], "labels": {**web["metadata"]["labels"],
                                                                              "canary": "true"}}})
    written = []

    def relabelled() -> bool:
        written.append(f"relabelled {len(written)}")
        write_cri(web_log, [f'{{"msg":"{written[-1]}"}}'])
        return any("canary" in r["kubernetes"]["labels"] for r in records(tmp_path)
                   if str(r.get("msg")).startswith("relabelled"))

    assert wait_for(relabelled, 30, interval=0.2)

    # a pod whose lines arrive before the watch delivers it: held, then enriched (not shipped bare)
    late_log = log_path(logs, "late", "shop", "app", cid("late"))
    write_cri(late_log, ['{"msg":"early line"}'])
    assert wait_for(lambda: "podlog_kubernetes_metadata_holds_total" in metrics_text(port), 30)  # seen, now held
    api.put("v1", "pods", pod("late", labels={"v": "late"}))
    assert wait_for(lambda: records(tmp_path, msg="early line"), 30)
    assert records(tmp_path, msg="early line")[0]["kubernetes"]["labels"] == {"v": "late"}

    # the container restarts: a new file with a new container id, the same pod
    api.put("v1", "pods", {**web, "status": pod("web-5d8f7-abcde", containers={"app": cid("restart")},
                                                 restarted_from={"app": cid("web-5d8f7-abcde")})["status"]})
    write_cri(log_path(logs, "web-5d8f7-abcde", "shop", "app", cid("restart")), ['{"msg":"after restart"}'])
    assert wait_for(lambda: records(tmp_path, msg="after restart"), 30)
    assert records(tmp_path, msg="after restart")[0]["kubernetes"]["pod_id"] == uid

    # deleted while its last lines are still being read
    api.remove("v1", "pods", "web-5d8f7-abcde", "shop")
    write_cri(web_log, ['{"msg":"last words"}'])
    assert wait_for(lambda: records(tmp_path, msg="last words"), 30)
    assert records(tmp_path, msg="last words")[0]["kubernetes"]["labels"]["app_kubernetes_io/name"] == "web"

    # 40 more pods come and go on this node (and 40 on another): no request of their own
    before = api.count()
    for i in range(40):
        api.put("v1", "pods", pod(f"batch-{i}"))
        api.put("v1", "pods", pod(f"other-{i}", node="node-2"))
    for i in range(40):
        api.remove("v1", "pods", f"batch-{i}", "shop")
    write_cri(log_path(logs, "batch-39", "shop", "app", cid("batch-39")), ['{"msg":"from a deleted pod"}'])
    assert wait_for(lambda: records(tmp_path, msg="from a deleted pod"), 30)
    assert records(tmp_path, msg="from a deleted pod")[0]["kubernetes"]["host"] == NODE
    assert api.count() == before
    assert api.count("get") == 0 and api.count("list", "pods") == 1 and api.count("watch", "pods") == 1
    assert api.count("list", "namespaces") == 1
    assert 'reason="pod_unknown"' not in metrics_text(port) and 'reason="api_unavailable"' not in metrics_text(port)
    assert agent.stop() == 0


@pytest.mark.parametrize("access", ["closed_port", "forbidden"])
def test_no_api_access_lines_flow_with_file_name_metadata_and_a_counter(tmp_path, agent_factory, api, access):
    logs = tmp_path / "containers"
    logs.mkdir()
    url = "http://127.0.0.1:9" if access == "closed_port" else api.url
    port = free_port()
    agent = agent_factory(agent_config(tmp_path, url, port)).start()
    if access == "forbidden":
        api.tokens["agent-token"] = set()  # RBAC grants nothing: 403 on every call
    api.put("v1", "pods", pod("web"))
    write_cri(log_path(logs, "web", "shop", "app", cid("web")), [f'{{"n":{i}}}' for i in range(50)])
    assert wait_for(lambda: len(records(tmp_path)) == 50, 30)
    assert records(tmp_path)[0]["kubernetes"] == {"pod_name": "web", "namespace_name": "shop",
                                                  "container_name": "app", "container_id": cid("web")}
    assert wait_for(lambda: 'podlog_kubernetes_metadata_missing_records_total{filter="kubernetes_metadata.0",'
                            'reason="api_unavailable"} 50.0' in metrics_text(port), 10), metrics_text(port)
    assert agent.stop() == 0
    if access == "forbidden":
        log_text = (tmp_path / "agent.log").read_text()
        assert 'cannot list resource "pods"' in log_text and "RBAC" in log_text


def test_annotations_exclude_parse_and_join_per_container(tmp_path, agent_factory, api):
    logs = tmp_path / "containers"
    logs.mkdir()
    api.put("v1", "pods", pod("noisy", annotations={"podlog.io/exclude": "true"}))
    api.put("v1", "pods", pod("web", containers={"nginx": cid("nginx"), "app": cid("app")},
                              annotations={"podlog.io/parser-nginx": "nginx", "podlog.io/multiline": "java",
                                           "podlog.io/exclude-sidecar": "true"}))
    api.put("v1", "pods", pod("custom", annotations={"podlog.io/parser": r"regex:^(?<level>\w+) (?<text>.*)$"}))
    port = free_port()
    agent = agent_factory(agent_config(tmp_path, api.url, port)).start()
    write_cri(log_path(logs, "noisy", "shop", "app", cid("noisy")), ["dropped 1", "dropped 2"])
    write_cri(log_path(logs, "web", "shop", "nginx", cid("nginx")), [
        '10.0.0.1 - - [01/Dec/2026:03:00:00 +0000] "GET /health HTTP/1.1" 200 2 "-" "kube-probe/1.30"'])
    write_cri(log_path(logs, "web", "shop", "app", cid("app")), [
        "Exception in thread \"main\" java.lang.IllegalStateException: boom",
        "\tat com.example.Main.run(Main.java:10)", "\tat com.example.Main.main(Main.java:5)", "next event"])
    write_cri(log_path(logs, "custom", "shop", "app", cid("custom")), ["WARN disk almost full"])
    assert wait_for(lambda: records(tmp_path, message="next event") and records(tmp_path, level="WARN")
                    and records(tmp_path, path="/health"), 30)
    trace = [r for r in records(tmp_path) if "IllegalStateException" in str(r.get("message"))]
    assert len(trace) == 1 and trace[0]["message"].endswith("Main.java:5)")
    assert records(tmp_path, path="/health")[0]["code"] == 200
    assert records(tmp_path, level="WARN")[0]["text"] == "disk almost full"
    assert not [r for r in records(tmp_path) if r["kubernetes"]["pod_name"] == "noisy"]
    assert wait_for(lambda: 'podlog_filter_dropped_records_total{filter="kubernetes_metadata.0"} 2.0'
                    in metrics_text(port), 10)
    assert agent.stop() == 0


def test_a_broken_watch_and_a_410_through_the_agent(tmp_path, agent_factory, api):
    logs = tmp_path / "containers"
    logs.mkdir()
    api.put("v1", "pods", pod("first"))
    port = free_port()
    agent = agent_factory(agent_config(tmp_path, api.url, port)).start()
    write_cri(log_path(logs, "first", "shop", "app", cid("first")), ['{"msg":"first"}'])
    assert wait_for(lambda: records(tmp_path, msg="first"), 30)
    api.break_watches()  # cut mid-chunk: resumed from the last resourceVersion, no new list
    api.put("v1", "pods", pod("second", labels={"n": "2"}))
    write_cri(log_path(logs, "second", "shop", "app", cid("second")), ['{"msg":"second"}'])
    assert wait_for(lambda: records(tmp_path, msg="second"), 30)
    assert records(tmp_path, msg="second")[0]["kubernetes"]["labels"] == {"n": "2"}
    assert api.count("list", "pods") == 1
    api.compact()  # history gone: the next watch gets 410 Expired and the agent lists again
    api.break_watches()
    api.put("v1", "pods", pod("third", labels={"n": "3"}))
    write_cri(log_path(logs, "third", "shop", "app", cid("third")), ['{"msg":"third"}'])
    assert wait_for(lambda: records(tmp_path, msg="third"), 30)
    assert records(tmp_path, msg="third")[0]["kubernetes"]["labels"] == {"n": "3"}
    assert api.count("list", "pods") == 2 and api.count("get") == 0
    assert 'reason="pod_unknown"' not in metrics_text(port)
    assert agent.stop() == 0
