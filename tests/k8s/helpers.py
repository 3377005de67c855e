"""Pods, namespaces and kubelet log files for the metadata tests (against tests/drivers/k8s_api.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

NODE = "node-1"


def cid(seed: str) -> str:
    """A 64-hex container id, stable per seed."""
    return hashlib.sha256(seed.encode()).hexdigest()


def pod(name: str, ns: str = "shop", node: str = NODE, containers: dict[str, str] | None = None,
        labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
        owner: tuple[str, str] | None = None, created: str = "2026-12-01T03:00:00Z",
        restarted_from: dict[str, str] | None = None) -> dict[str, Any]:
    """A pod as the API returns it; ``containers`` maps container name -> container id."""
    containers = containers if containers is not None else {"app": cid(name)}
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels or {}, "annotations": annotations or {},
                            "creationTimestamp": created}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1],
                                    "uid": "owner-uid", "controller": True}]
    statuses = []
    for cname, container_id in containers.items():
        last = (restarted_from or {}).get(cname)
        statuses.append({"name": cname, "image": f"registry.local/{cname}:1.0",
                         "imageID": f"registry.local/{cname}@sha256:{cid(cname)}",
                         "containerID": f"containerd://{container_id}", "restartCount": 1 if last else 0,
                         "lastState": {"terminated": {"containerID": f"containerd://{last}"}} if last else {}})
    return {"metadata": meta,
            "spec": {"nodeName": node, "containers": [{"name": c, "image": f"registry.local/{c}:1.0"}
                                                       for c in containers]},
            "status": {"phase": "Running", "hostIP": "10.0.0.7", "podIP": "10.244.1.9", "containerStatuses": statuses}}


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels, "annotations": {"team.example.com/owner": "web"}}}


def log_path(root: Path, pod_name: str, ns: str, container: str, container_id: str) -> Path:
    return root / f"{pod_name}_{ns}_{container}-{container_id}.log"


def write_cri(path: Path, messages: list[str], stream: str = "stdout") -> None:
    with open(path, "a") as f:
        for m in messages:
            f.write(f"2026-12-01T03:00:00.000000000Z {stream} F {m}\n")
