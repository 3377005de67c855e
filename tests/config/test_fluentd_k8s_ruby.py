"""The two embedded Ruby forms of fluentd-kubernetes-daemonset's kubernetes_metadata filter that podlog evaluates."""

from __future__ import annotations

import pytest

from podlog.config.errors import ConfigError
from podlog.config.fluentd import load_fluentd_text

URL = ("\"#{ENV['FLUENT_FILTER_KUBERNETES_URL'] || (host = ENV.fetch('KUBERNETES_SERVICE_HOST'); "
       "port = ENV.fetch('KUBERNETES_SERVICE_PORT'); host = (IPAddr.new(host).ipv6? ? '[' + host + ']' : host "
       "rescue host); 'https://' + host + ':' + port + '/api')}\"")
CONF = ("<source>\n  @type tail\n  path /x.log\n  tag kubernetes.*\n</source>\n<filter kubernetes.**>\n"
        f"  @type kubernetes_metadata\n  kubernetes_url {URL}\n"
        "  verify_ssl \"#{ENV['KUBERNETES_VERIFY_SSL'] || true}\"\n</filter>\n<match **>\n  @type stdout\n</match>\n")


def options(env: dict[str, str]) -> dict:
    return dict(load_fluentd_text(CONF, "kubernetes.conf", env).main.filters[0].options)


def test_in_cluster_url_and_bare_default():
    assert options({"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}) == {
        "kubernetes_url": "https://10.96.0.1:443/api", "verify_ssl": "true"}
    assert options({"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443",
                    "KUBERNETES_VERIFY_SSL": "false"}) == {"kubernetes_url": "https://[fd00::1]:6443/api",
                                                           "verify_ssl": "false"}
    assert options({"FLUENT_FILTER_KUBERNETES_URL": "http://api:8080/api"})["kubernetes_url"] == "http://api:8080/api"
    with pytest.raises(ConfigError, match=r"kubernetes.conf:8: .*KUBERNETES_SERVICE_HOST is not set"):
        options({})
