"""The API client against the API-server double (tests/drivers/k8s_api.py).

No Kubernetes API server can run here; the double follows the documented API
(list paging, watch streams, 410 Gone, Status errors), so these tests show the
client keeps to that API.
"""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path

import pytest

from podlog.k8s.client import KubeClient, resource_path
from podlog.k8s.config import ApiConfig, ConfigError, TokenSource, in_cluster, kubeconfig
from podlog.k8s.errors import Conflict, Expired, Forbidden, NotFound, Unauthorized, Unreachable
from tests.drivers.k8s_api import K8sApiDouble

PODS = "/api/v1/pods"


def pod(name: str, node: str = "n1", ns: str = "default", **labels: str) -> dict:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": {"nodeName": node}}


@pytest.fixture
def api():
    with K8sApiDouble(bookmark_interval=0.2) as double:
        yield double


def client(api: K8sApiDouble, token: str = "test-token") -> KubeClient:
    return KubeClient(ApiConfig(server=api.url, token=TokenSource(token=token)), timeout=10)


def test_list_pages_with_limit_and_continue_and_filters_by_node(api):
    for i in range(7):
        api.put("v1", "pods", pod(f"p{i}", node="n1" if i % 2 == 0 else "n2"))
    c = client(api)
    result = c.list(PODS, {"fieldSelector": "spec.nodeName=n1"}, limit=2)
    assert [p["metadata"]["name"] for p in result.items] == ["p0", "p2", "p4", "p6"]
    assert result.resource_version == api.resource_version
    assert api.count("list", "pods") == 2  # 2 + 2 matching per page of 2


def test_expired_continue_token_restarts_the_list(api):
    for i in range(4):
        api.put("v1", "pods", pod(f"p{i}"))
    c = client(api)
    real_json = c._json
    calls = []

    def compact_after_first_page(*args, **kw):
        out = real_json(*args, **kw)
        calls.append(1)
        if len(calls) == 1:
            api.compact()
        return out

    c._json = compact_after_first_page  # type: ignore[method-assign]
    result = c.list(PODS, limit=3)
    assert sorted(p["metadata"]["name"] for p in result.items) == ["p0", "p1", "p2", "p3"]
    assert [r.status for r in api.requests] == [200, 410, 200, 200]


def test_watch_resumes_from_resource_version_with_bookmarks(api):
    api.put("v1", "pods", pod("old"))
    c = client(api)
    listed = c.list(PODS)
    api.put("v1", "pods", pod("new", labels_x="1"))
    api.put("v1", "pods", pod("other-node", node="n2"))
    api.remove("v1", "pods", "new", "default")
    seen = []
    for kind, obj in c.watch(PODS, listed.resource_version, {"fieldSelector": "spec.nodeName=n1"},
                             timeout_seconds=1):
        seen.append((kind, obj["metadata"].get("name")))
    assert seen[:2] == [("ADDED", "new"), ("DELETED", "new")]
    assert ("BOOKMARK", None) in seen[2:]


def test_watch_from_a_compacted_version_raises_expired(api):
    api.put("v1", "pods", pod("a"))
    rv = client(api).list(PODS).resource_version
    api.compact()
    with pytest.raises(Expired) as err:
        list(client(api).watch(PODS, rv, timeout_seconds=2))
    assert err.value.status == 410 and err.value.reason == "Expired"


def test_a_watch_cut_mid_stream_raises_unreachable(api):
    c = client(api)
    events = c.watch(PODS, api.resource_version, timeout_seconds=30)
    got: list = []
    errors: list = []

    def consume():
        try:
            for e in events:
                got.append(e)
        except Unreachable as exc:
            errors.append(exc)

    t = threading.Thread(target=consume)
    t.start()
    api.put("v1", "pods", pod("a"))
    from tests.conftest import wait_for
    assert wait_for(lambda: got, 10)
    api.break_watches()
    t.join(10)
    assert errors and "cut" in str(errors[0])


def test_auth_errors_are_named(api):
    api.tokens["reader"] = {("get", "pods")}
    with pytest.raises(Unauthorized):
        client(api, token="nope").list(PODS)
    with pytest.raises(Forbidden, match='cannot list resource "pods"'):
        client(api, token="reader").list(PODS)
    with pytest.raises(NotFound):
        client(api, token="reader").get(resource_path("v1", "pods", "default", "x"))


def test_create_replace_conflict_on_a_lease(api):
    c = client(api)
    leases = resource_path("coordination.k8s.io/v1", "leases", "podlog")
    lease = c.create(leases, {"metadata": {"name": "events"}, "spec": {"holderIdentity": "a"}})
    with pytest.raises(Conflict, match="already exists"):
        c.create(leases, {"metadata": {"name": "events"}})
    one = resource_path("coordination.k8s.io/v1", "leases", "podlog", "events")
    lease["spec"]["holderIdentity"] = "b"
    updated = c.replace(one, lease)
    assert updated["metadata"]["resourceVersion"] != lease["metadata"]["resourceVersion"]
    with pytest.raises(Conflict, match="has been modified"):
        c.replace(one, lease)  # the old resourceVersion
    assert c.get(one)["spec"]["holderIdentity"] == "b"


def test_rotated_token_is_read_again_after_a_401(api, tmp_path):
    token = tmp_path / "token"
    token.write_text("old-token")
    c = KubeClient(ApiConfig(server=api.url, token=TokenSource(path=str(token), clock=lambda: 0.0)))
    api.tokens["old-token"] = None
    assert c.list(PODS).items == []
    token.write_text("new-token")
    os.utime(token, (1, 1))  # same second as before is possible: force a different stamp
    del api.tokens["old-token"]
    api.tokens["new-token"] = None
    assert c.list(PODS).items == []


def test_unreachable_server_is_named():
    c = KubeClient(ApiConfig(server="http://127.0.0.1:9"), timeout=2)
    with pytest.raises(Unreachable, match=r"127\.0\.0\.1:9"):
        c.list(PODS)


def test_in_cluster_config(tmp_path):
    (tmp_path / "token").write_text("tok\n")
    (tmp_path / "ca.crt").write_text("ca")
    (tmp_path / "namespace").write_text("logging")
    cfg = in_cluster(tmp_path, {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"})
    assert (cfg.server, cfg.token.get(), cfg.ca_file, cfg.namespace) == (
        "https://10.0.0.1:443", "tok", str(tmp_path / "ca.crt"), "logging")
    with pytest.raises(ConfigError, match="KUBERNETES_SERVICE_HOST"):
        in_cluster(tmp_path, {})


def test_kubeconfig_current_context_with_inline_cert_data(tmp_path):
    data = base64.b64encode(b"PEM").decode()
    path = tmp_path / "config"
    path.write_text(f"""
apiVersion: v1
kind: Config
current-context: dev
contexts:
- name: dev
  context: {{cluster: c1, user: u1, namespace: apps}}
- name: prod
  context: {{cluster: c2, user: u2}}
clusters:
- name: c1
  cluster: {{server: "https://dev:6443/", certificate-authority-data: {data}}}
- name: c2
  cluster: {{server: "https://prod:6443", insecure-skip-tls-verify: true}}
users:
- name: u1
  user: {{client-certificate-data: {data}, client-key-data: {data}}}
- name: u2
  user: {{token: secret, exec: {{command: aws}}}}
""")
    cfg = kubeconfig(str(path), materialise_dir=str(tmp_path))
    assert cfg.server == "https://dev:6443" and cfg.namespace == "apps"
    assert Path(cfg.ca_file).read_bytes() == b"PEM" and Path(cfg.client_key).read_bytes() == b"PEM"
    assert oct(os.stat(cfg.client_key).st_mode & 0o777) == "0o600"
    with pytest.raises(ConfigError, match="exec/auth-provider"):
        kubeconfig(str(path), context="prod")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made with the openssl CLI."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available to make test certificates")
    d = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=kubernetes")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    for name, cn in (("srv", "/CN=kube-apiserver"), ("cli", "/CN=podlog/O=podlog")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", cn)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "2", *(["-extfile", "ext.cnf"] if name == "srv" else []))
    return d


def _server_tls(certs: Path, client_certs: bool = False):
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs / "srv.crt", certs / "srv.key")
    if client_certs:
        ctx.load_verify_locations(certs / "ca.crt")
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def test_in_cluster_over_tls_with_the_serviceaccount_ca(certs, tmp_path):
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("test-token")
    (sa / "ca.crt").write_bytes((certs / "ca.crt").read_bytes())
    with K8sApiDouble(tls=_server_tls(certs)) as api:
        api.put("v1", "pods", pod("a"))
        port = api.url.rsplit(":", 1)[1]
        cfg = in_cluster(sa, {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port})
        assert [p["metadata"]["name"] for p in KubeClient(cfg).list(PODS).items] == ["a"]
        (sa / "ca.crt").write_bytes((certs / "srv.crt").read_bytes())  # not the CA that signed the server
        with pytest.raises(Unreachable, match="SSL"):
            KubeClient(in_cluster(sa, {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port}),
                       timeout=5).list(PODS)


def test_kubeconfig_client_certificate_over_mutual_tls(certs, tmp_path):
    def b64(name: str) -> str:
        return base64.b64encode((certs / name).read_bytes()).decode()

    with K8sApiDouble(tokens={"": None}, tls=_server_tls(certs, client_certs=True)) as api:
        path = tmp_path / "config"
        path.write_text(f"""
current-context: c
contexts: [{{name: c, context: {{cluster: k, user: u}}}}]
clusters: [{{name: k, cluster: {{server: "{api.url}", certificate-authority-data: {b64("ca.crt")}}}}}]
users: [{{name: u, user: {{client-certificate-data: {b64("cli.crt")}, client-key-data: {b64("cli.key")}}}}}]
""")
        assert KubeClient(kubeconfig(str(path), materialise_dir=str(tmp_path))).list(PODS).items == []
        anonymous = ApiConfig(server=api.url, ca_file=str(certs / "ca.crt"))
        with pytest.raises(Unreachable):
            KubeClient(anonymous, timeout=5).list(PODS)  # no client certificate: the handshake fails
