"""The fluentd-kubernetes-daemonset configuration, as the seed articles' DaemonSet runs it, enriching as Fluentd.

The seed DaemonSet (``fluent/fluentd-kubernetes-daemonset:v1.7.3-debian-elasticsearch7``, ServiceAccount
``fluentd``) runs the image's own configuration. Its real files, from the shared compat checkout, are used
as they are: ``tail_container_parse.conf`` and the ``<filter kubernetes.**> @type kubernetes_metadata``
block of ``kubernetes.conf`` with its embedded Ruby for the in-cluster URL. The ``<source>`` is the one of
``kubernetes/containers.conf`` with its paths written out (its pos_file is a Ruby ``File.join`` under
/var/log, which podlog does not evaluate), and the output is a file instead of Elasticsearch. The API server is
tests/drivers/k8s_api.py, a protocol double (no real API server can run here) with anonymous requests
allowed (``--anonymous-auth`` plus a binding for ``system:unauthenticated``), since the real config names no
token file and there is no ServiceAccount mount outside a pod.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.conftest import NO_IMAGES, daemonset_images, read_ndjson, wait_for
from tests.drivers.k8s_api import K8sApiDouble
from tests.k8s.helpers import NODE, cid, namespace, pod

IMAGES = daemonset_images()
CONF = IMAGES / "debian-elasticsearch7" / "conf" if IMAGES is not None else None


@pytest.mark.skipif(CONF is None, reason=NO_IMAGES)
def test_daemonset_config_enriches_as_fluentd(tmp_path, agent_factory, monkeypatch):
    assert CONF is not None
    conf = tmp_path / "conf"
    conf.mkdir()
    shutil.copy(CONF / "tail_container_parse.conf", conf / "tail_container_parse.conf")
    logs = tmp_path / "var" / "log" / "containers"
    logs.mkdir(parents=True)
    source = (CONF / "kubernetes" / "containers.conf").read_text()
    assert "@include ../tail_container_parse.conf" in source and "tag \"#{ENV['FLUENT_CONTAINER_TAIL_TAG']" in source
    block = re.search(r"<filter kubernetes\.\*\*>.*?</filter>", (CONF / "kubernetes.conf").read_text(), re.S)
    assert block is not None and "@type kubernetes_metadata" in block.group(0)
    out = tmp_path / "out"
    (conf / "fluent.conf").write_text(
        f"<source>\n  @type tail\n  @id in_tail_container_logs\n  path {logs}/*.log\n"
        f"  pos_file {tmp_path}/fluentd-containers.log.pos\n  tag kubernetes.*\n  read_from_head true\n"
        "  @include tail_container_parse.conf\n</source>\n\n" + block.group(0) + "\n\n"
        f"<match **>\n  @type file\n  path {out}/records.ndjson\n  <buffer>\n    flush_interval 0.1s\n"
        "  </buffer>\n</match>\n")
    with K8sApiDouble(tokens={"": {(v, r) for v in ("get", "list", "watch") for r in ("pods", "namespaces")}},
                      bookmark_interval=0.5) as api:
        api.put("v1", "namespaces", namespace("shop", team="web"))
        api.put("v1", "pods", pod("web-0", labels={"app.kubernetes.io/name": "web"}, owner=("StatefulSet", "web")))
        for key, value in {"FLUENT_FILTER_KUBERNETES_URL": f"{api.url}/api", "K8S_NODE_NAME": NODE,
                           "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}.items():
            monkeypatch.setenv(key, value)
        agent = agent_factory("")
        agent.config = conf / "fluent.conf"
        agent.start()
        # a pod the watch lags is held only briefly (hold_unknown): on a loaded machine the agent's first list
        # may take longer, so the line is written once the node's pods are listed, as in a running cluster
        assert wait_for(lambda: api.count("list", "pods") == 1, 30), (tmp_path / "agent.log").read_text()
        docker_line = json.dumps({"log": "GET / 200\n", "stream": "stdout", "time": "2026-12-01T03:00:00.5Z"})
        (logs / f"web-0_shop_app-{cid('web-0')}.log").write_text(docker_line + "\n")
        assert wait_for(lambda: read_ndjson(out), 30), (tmp_path / "agent.log").read_text()
        record = read_ndjson(out)[0]
        assert agent.stop() == 0
        assert api.count("list", "pods") == 1 and api.count("get") == 0
        pod_list = next(r for r in api.requests if r.verb == "list" and r.resource == "pods")
        assert pod_list.query.get("fieldSelector") == f"spec.nodeName={NODE}"  # K8S_NODE_NAME, as Fluentd
    assert record["log"] == "GET / 200\n" and record["stream"] == "stdout"
    k = record["kubernetes"]
    # the fields fluent-plugin-kubernetes_metadata_filter writes, under the same names
    assert {key: k[key] for key in ("pod_name", "namespace_name", "container_name", "container_image", "host",
                                    "labels", "master_url", "namespace_labels")} == {
        "pod_name": "web-0", "namespace_name": "shop", "container_name": "app",
        "container_image": "registry.local/app:1.0", "host": NODE, "labels": {"app_kubernetes_io/name": "web"},
        "master_url": f"{api.url}/api", "namespace_labels": {"team": "web"}}
    assert k["pod_id"] and k["namespace_id"] and k["container_image_id"].startswith("registry.local/app@sha256:")
    assert (k["workload_kind"], k["workload_name"]) == ("StatefulSet", "web")
