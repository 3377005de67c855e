"""The Kubernetes manifests in deploy/: valid YAML, configs the agent accepts, mounts that match the configs.

No API server can run here, so these check what `kubectl apply` would not: that the agent started by each
manifest would find its config, read the logs it is told to, and write its state where the pod can.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

import pytest
import yaml

from podlog.config.loader import load_config_text
from podlog.engine import Engine

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
MANIFESTS = sorted(DEPLOY.glob("*.yaml"))


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def pods(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pod specs of Pods and of workload templates."""
    out = []
    for d in docs:
        if d["kind"] == "Pod":
            out.append(d["spec"])
        elif d["kind"] in ("DaemonSet", "Deployment", "StatefulSet"):
            out.append(d["spec"]["template"]["spec"])
    return out


def configs(docs: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """ConfigMap name -> (key, text) of each podlog config it holds."""
    return {d["metadata"]["name"]: (k, v) for d in docs if d["kind"] == "ConfigMap"
            for k, v in d["data"].items() if k.endswith((".yaml", ".conf"))}


def under(path: str, mounts: list[dict[str, Any]], writable: bool = False) -> bool:
    return any(posixpath.commonpath([path, m["mountPath"]]) == m["mountPath"] and not (writable and m.get("readOnly"))
               for m in mounts)


def test_manifests_exist_and_are_kubernetes_objects() -> None:
    assert {p.name for p in MANIFESTS} >= {"podlog-agent.yaml", "sidecar-stream.yaml", "sidecar-agent.yaml"}
    for path in MANIFESTS:
        for doc in documents(path):
            assert {"apiVersion", "kind", "metadata"} <= set(doc), path
            assert doc["metadata"].get("name"), path


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_agent_container_gets_a_config_it_can_run(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = documents(path)
    maps = configs(docs)
    for spec in pods(docs):
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in spec["containers"]:
            args = c.get("args", [])
            if not c["image"].startswith("podlog") or args[:1] != ["agent"]:
                continue
            config_path = args[args.index("-c") + 1]
            mount = next(m for m in c["volumeMounts"] if config_path.startswith(m["mountPath"] + "/"))
            key, text = maps[volumes[mount["name"]]["configMap"]["name"]]
            assert posixpath.basename(config_path) == key
            for env in c.get("env", []):
                monkeypatch.setenv(env["name"], env.get("value", "from-a-secret"))
            engine = Engine(load_config_text(text, f"{path.name}:{key}"))  # what `podlog check` does
            mounts = c["volumeMounts"]
            for plugin, _, name in engine.inputs:
                o = plugin.options
                for pattern in o.path:
                    assert under(pattern, mounts), f"{name}: {pattern} is not mounted"
                if o.pos_file:
                    assert under(o.pos_file, mounts, writable=True), f"{name}: pos_file not writable"
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


def test_stream_sidecars_read_files_the_app_writes() -> None:
    for path in MANIFESTS:
        for spec in pods(documents(path)):
            app_mounts = [m for c in spec["containers"] if not c["image"].startswith("podlog")
                          for m in c.get("volumeMounts", [])]
            for c in spec["containers"]:
                if c["image"].startswith("podlog") and c["args"][:1] == ["stream"]:
                    files = [a for a in c["args"][1:] if not a.startswith("-")]
                    assert files
                    for f in files:
                        mine = next(m for m in c["volumeMounts"] if f.startswith(m["mountPath"] + "/"))
                        assert any(m["name"] == mine["name"] for m in app_mounts), f"{f}: not shared with the app"
