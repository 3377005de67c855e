"""kubernetes_metadata: names from Fluentd's tail tag or a path field, for records that lack them."""

from __future__ import annotations

import pytest

from podlog.config.errors import ConfigError
from tests.filters.helpers import fluent_filter, run, yaml_filter

CID = "0123456789abcdef" * 4
TAG = f"kubernetes.var.log.containers.web-7d9f8-x2x_shop_nginx-{CID}.log"
META = {"pod_name": "web-7d9f8-x2x", "namespace_name": "shop", "container_name": "nginx", "container_id": CID}
DAEMONSET = """<filter kubernetes.**>
  @type kubernetes_metadata
  kubernetes_url "http://127.0.0.1:9/api"
  verify_ssl true
  skip_labels false
</filter>
"""


@pytest.mark.parametrize("as_docs", [True, False])
def test_fluentd_daemonset_filter_names_pods_from_the_tag(as_docs: bool) -> None:
    """The API is unreachable here (a closed port): names from the tag still flow, and are counted."""
    flt = fluent_filter(DAEMONSET)
    flt.start()
    records = [{"log": "GET /"}, {}, {"log": "x", "kubernetes": {"pod_name": "own"}}, {"log": '"kubernetes"'}]
    try:
        out = run(flt, records, tag=TAG, as_docs=as_docs)
    finally:
        flt.stop()
    assert flt.missing["api_unavailable"] >= 3
    assert out == [{"log": "GET /", "kubernetes": META}, {"kubernetes": META},
                   {"log": "x", "kubernetes": {"pod_name": "own"}}, {"log": '"kubernetes"', "kubernetes": META}]


def test_other_tags_pass_unchanged_and_path_key_is_the_fallback() -> None:
    flt = yaml_filter("  - {type: kubernetes_metadata, path_key: file}\n")
    path = f"/var/log/containers/api-1_prod_app-{CID}.log"
    out = run(flt, [{"file": path}, {"file": "/var/log/syslog"}, {"m": 1}], tag="node.syslog")
    assert out == [{"file": path, "kubernetes": {"pod_name": "api-1", "namespace_name": "prod",
                                                 "container_name": "app", "container_id": CID}},
                   {"file": "/var/log/syslog"}, {"m": 1}]
    assert run(yaml_filter("  - {type: kubernetes_metadata}\n"), [{"m": 1}], tag="app") == [{"m": 1}]


def test_overwrite_and_a_custom_tag_regexp() -> None:
    flt = yaml_filter("  - type: kubernetes_metadata\n    overwrite: true\n"
                      r"    tag_to_kubernetes_name_regexp: '^k8s\.(?P<namespace>[^.]+)\.(?P<pod_name>[^.]+)$'" "\n")
    assert run(flt, [{"kubernetes": {"x": 1}}], tag="k8s.shop.web-1") == [
        {"kubernetes": {"namespace_name": "shop", "pod_name": "web-1"}}]
    with pytest.raises(ConfigError, match="tag_to_kubernetes_name_regexp: not a valid regex"):
        yaml_filter("  - {type: kubernetes_metadata, tag_to_kubernetes_name_regexp: '(unclosed'}\n")
