"""The Kustomize layouts in deploy/kubernetes: each renders, each object is valid Kubernetes, configs the agent
accepts, mounts that match the configs, least-privilege RBAC and locked-down containers.

Every kustomization is rendered with ``kubectl kustomize`` (Debian's kubectl, installed by scripts/test.sh;
its kustomize is old, so the layouts keep to ``bases``/``patchesStrategicMerge``) and every rendered object is
validated offline against the Kubernetes OpenAPI schemas of a pinned version (``kubernetes-validate``). No API
server can run here, so the rest checks what ``kubectl apply`` would not: that the agent started by each
manifest would find its config, read the logs it is told to, write its state where the pod can, and hold
no permission it does not use. The RBAC rules are also run against the API-server double
(tests/drivers/k8s_api.py, a stand-in for a real API server) as the only grants of the collector's token.
"""

from __future__ import annotations

import functools
import posixpath
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from podlog.config.loader import load_config_text
from podlog.engine import Engine

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
KUSTOMIZATIONS = sorted(p.parent for p in DEPLOY.rglob("kustomization.yaml") if p.parent.name != "base")
K8S_VERSION = "1.30"  # the schemas every object is validated against
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed (scripts/test.sh installs "
                                   "Debian's kubernetes-client as root)")


def name(path: Path) -> str:
    return str(path.relative_to(DEPLOY))


@functools.cache
def rendered(path: Path) -> tuple[dict[str, Any], ...]:
    assert KUBECTL is not None
    out = subprocess.run([KUBECTL, "kustomize", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"kubectl kustomize {name(path)}: {out.stderr}"
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def pods(docs: tuple[dict[str, Any], ...]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod metadata, pod spec) of Pods and of workload templates."""
    out = []
    for d in docs:
        if d["kind"] == "Pod":
            out.append((d["metadata"], d["spec"]))
        elif d["kind"] in ("DaemonSet", "Deployment", "StatefulSet", "Job"):
            out.append((d["spec"]["template"].get("metadata", {}), d["spec"]["template"]["spec"]))
    return out


def podlog_containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in spec["containers"] if c["image"].split("/")[-1].startswith("podlog")]


def configs(docs: tuple[dict[str, Any], ...]) -> dict[str, tuple[str, str]]:
    """ConfigMap name -> (key, text) of each podlog config it holds."""
    return {d["metadata"]["name"]: (k, v) for d in docs if d["kind"] == "ConfigMap"
            for k, v in d["data"].items() if k.endswith((".yaml", ".conf"))}


def under(path: str, mounts: list[dict[str, Any]], writable: bool = False) -> bool:
    return any(posixpath.commonpath([path, m["mountPath"]]) == m["mountPath"] and not (writable and m.get("readOnly"))
               for m in mounts)


def engine_for(path: Path, spec: dict[str, Any], c: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The engine the container's agent would build (what ``podlog check`` does), with the pod's env."""
    docs = rendered(path)
    args = c["args"]
    config_path = args[args.index("-c") + 1]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mount = next(m for m in c["volumeMounts"] if config_path.startswith(m["mountPath"] + "/"))
    key, text = configs(docs)[volumes[mount["name"]]["configMap"]["name"]]
    assert posixpath.basename(config_path) == key
    for env in c.get("env", []):
        monkeypatch.setenv(env["name"], env.get("value", "from-the-downward-api-or-a-secret"))
    return Engine(load_config_text(text, f"{name(path)}:{key}"))


def test_the_layouts_exist() -> None:
    assert {name(p) for p in KUSTOMIZATIONS} == {
        "overlays/agent", "overlays/agent-events", "overlays/events",
        "examples/counter-stream", "examples/counter-agent", "examples/counter-agent-env",
        "examples/myapp-stream", "examples/myapp-agent"}


@needs_kubectl
@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=name)
def test_renders_to_objects_valid_for_the_pinned_kubernetes(path: Path) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="the test extra installs it")
    docs = rendered(path)
    assert docs
    for doc in docs:
        assert doc["metadata"].get("name"), doc
        cluster_wide = doc["kind"] in ("Namespace", "ClusterRole", "ClusterRoleBinding")
        if name(path).startswith("overlays/") and not cluster_wide:
            assert doc["metadata"].get("namespace") == "logging", doc["metadata"]
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises ValidationError with the path


@needs_kubectl
@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=name)
def test_every_agent_container_gets_a_config_it_can_run(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for _meta, spec in pods(rendered(path)):
        for c in podlog_containers(spec):
            if c["args"][:1] != ["agent"]:
                continue
            engine = engine_for(path, spec, c, monkeypatch)
            mounts = c["volumeMounts"]
            for plugin, _, pname in engine.inputs:
                o = plugin.options
                for pattern in getattr(o, "path", None) or []:
                    assert under(pattern, mounts), f"{pname}: {pattern} is not mounted"
                for key in ("pos_file", "state_file"):
                    if getattr(o, key, ""):
                        assert under(getattr(o, key), mounts, writable=True), f"{pname}: {key} not writable"
            for runner in engine.runners:
                buffer_path = getattr(runner.buffer, "path", None)
                if buffer_path:
                    assert under(buffer_path, mounts, writable=True), f"{runner.name}: buffer not writable"
            agent = engine.config.agent
            if agent.data_dir:
                assert under(agent.data_dir, mounts, writable=True)
            if agent.http_listen:
                port = int(agent.http_listen.rsplit(":", 1)[1])
                assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
                assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
                assert {p["containerPort"] for p in c["ports"]} == {port}
            # SIGTERM: the agent must finish its grace period before the kubelet's SIGKILL.
            assert spec.get("terminationGracePeriodSeconds", 30) > agent.grace_period


@needs_kubectl
@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=name)
def test_stream_sidecars_read_files_the_app_writes(path: Path) -> None:
    for _meta, spec in pods(rendered(path)):
        app_mounts = [m for c in spec["containers"] if c not in podlog_containers(spec)
                      for m in c.get("volumeMounts", [])]
        for c in podlog_containers(spec):
            if c["args"][:1] == ["stream"]:
                files = [a for a in c["args"][1:] if not a.startswith("-")]
                assert files
                for f in files:
                    mine = next(m for m in c["volumeMounts"] if f.startswith(m["mountPath"] + "/"))
                    assert any(m["name"] == mine["name"] for m in app_mounts), f"{f}: not shared with the app"


@needs_kubectl
@pytest.mark.parametrize("path", KUSTOMIZATIONS, ids=name)
def test_containers_are_locked_down(path: Path) -> None:
    for _meta, spec in pods(rendered(path)):
        pod_ctx = spec.get("securityContext", {})
        for c in podlog_containers(spec):
            ctx = {**pod_ctx, **c.get("securityContext", {})}
            assert ctx.get("readOnlyRootFilesystem") is True, c["name"]
            assert ctx.get("allowPrivilegeEscalation") is False, c["name"]
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], c["name"]
            host_paths = {v["name"] for v in spec.get("volumes", []) if "hostPath" in v}
            if host_paths & {m["name"] for m in c.get("volumeMounts", [])}:
                # root only where the node's files demand it, with one capability back (read any log)
                assert ctx.get("runAsUser") == 0 and ctx["capabilities"].get("add") == ["DAC_READ_SEARCH"]
            else:
                assert ctx.get("runAsNonRoot") is True and ctx.get("runAsUser", 0) != 0, c["name"]


def rules_by_subject(docs: tuple[dict[str, Any], ...]) -> dict[str, list[dict[str, Any]]]:
    """ServiceAccount name -> every RBAC rule bound to it (ClusterRoles and Roles)."""
    roles = {(d["kind"], d["metadata"]["name"]): d.get("rules", []) for d in docs
             if d["kind"] in ("ClusterRole", "Role")}
    out: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        if d["kind"] in ("ClusterRoleBinding", "RoleBinding"):
            for s in d["subjects"]:
                out.setdefault(s["name"], []).extend(roles[(d["roleRef"]["kind"], d["roleRef"]["name"])])
    return out


def grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str, str]]:
    """(apiGroup, resource, verb, resourceName or '*') of each permission."""
    return {(g, r, v, n) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]
            for v in rule["verbs"] for n in rule.get("resourceNames", ["*"])}


AGENT = {("", r, v, "*") for r in ("pods", "namespaces") for v in ("get", "list", "watch")}
EVENTS = {(g, "events", v, "*") for g in ("", "events.k8s.io") for v in ("list", "watch")} | {
    ("coordination.k8s.io", "leases", v, "podlog-events") for v in ("get", "update")}


@needs_kubectl
@pytest.mark.parametrize(("layout", "expected"), [
    ("overlays/agent", {"podlog": AGENT}),
    ("overlays/agent-events", {"podlog": AGENT | EVENTS}),
    ("overlays/events", {"podlog-events": EVENTS}),
])
def test_rbac_is_least_privilege(layout: str, expected: dict[str, set[tuple[str, str, str, str]]]) -> None:
    docs = rendered(DEPLOY / layout)
    assert {sa: grants(rules) for sa, rules in rules_by_subject(docs).items()} == expected
    for _meta, spec in pods(docs):
        assert spec["serviceAccountName"] in expected
    leases = [d for d in docs if d["kind"] == "Lease"]
    if any(g[1] == "leases" for g in set().union(*expected.values())):
        # shipped with the manifests, so no one needs create; the collector is configured for this Lease
        assert [d["metadata"]["name"] for d in leases] == ["podlog-events"]
        assert leases[0]["metadata"]["namespace"] == "logging"


@needs_kubectl
@pytest.mark.parametrize("layout", ["overlays/agent-events", "overlays/events"])
def test_events_collector_runs_with_exactly_the_granted_rights(layout: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The collector of each layout, with a token holding only the rendered RBAC's verbs, against the double."""
    from podlog.k8s.config import ApiConfig, TokenSource
    from tests.conftest import wait_for
    from tests.drivers.k8s_api import K8sApiDouble
    from tests.k8s.events_helpers import Sink, core_event

    docs = rendered(DEPLOY / layout)
    meta_spec = next((m, s) for m, s in pods(docs) if podlog_containers(s))
    spec = meta_spec[1]
    c = podlog_containers(spec)[0]
    env_names = {e["name"] for e in c["env"]}
    assert {"POD_NAME", "POD_NAMESPACE"} <= env_names  # the Lease candidate's identity and namespace
    engine = engine_for(DEPLOY / layout, spec, c, monkeypatch)
    plugin = next(p for p, _, _ in engine.inputs if p.name == "kubernetes_events")
    assert plugin.options.leader_election and plugin.options.lease_name == "podlog-events"
    sa_rules = rules_by_subject(docs)[spec["serviceAccountName"]]
    verbs = {(v, r) for _g, r, v, _n in grants(sa_rules)}
    with K8sApiDouble() as api:
        api.tokens["sa"] = verbs
        lease = next(d for d in docs if d["kind"] == "Lease")
        api.put("coordination.k8s.io/v1", "leases", lease)
        api.put("v1", "events", core_event("e1"))
        monkeypatch.setenv("POD_NAME", "podlog-abcde")
        monkeypatch.setenv("POD_NAMESPACE", "logging")
        plugin._config = ApiConfig(server=api.url, token=TokenSource(token="sa"))
        plugin.options.retry_period = 0.05
        sink = Sink()
        plugin.run(sink)
        try:
            assert wait_for(lambda: len(sink.records) == 1, 10)
        finally:
            plugin.stop()
            plugin.commit()
        assert all(r.status < 400 for r in api.requests), [(r.verb, r.resource, r.status) for r in api.requests]
        held = api.get("coordination.k8s.io/v1", "leases", "podlog-events", "logging")
        assert held["metadata"]["annotations"]["podlog.io/events-state"]
