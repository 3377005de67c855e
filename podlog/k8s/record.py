"""The ``kubernetes`` field of a record, shaped as fluent-plugin-kubernetes_metadata_filter writes it.

Dashboards built on Fluentd's records keep working: ``kubernetes.pod_name``,
``namespace_name``, ``container_name``, ``container_image``,
``container_image_id``, ``pod_id``, ``pod_ip``, ``host`` (the node),
``labels``, ``annotations`` (only those matching ``annotation_match``),
``master_url``, ``namespace_id``, ``namespace_labels`` and
``namespace_annotations``; label and annotation keys de-dotted as Fluentd does
by default (``app.kubernetes.io/name`` -> ``app_kubernetes_io/name``).
podlog adds ``container_id`` and ``restart_count`` (from the file name, as
before), ``host_ip`` and the owning workload as ``workload_kind`` /
``workload_name`` (Deployment, StatefulSet, DaemonSet, Job, CronJob...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from podlog.k8s.metadata import NamespaceInfo, PodInfo

__all__ = ["Shape", "kubernetes_field"]


@dataclass(frozen=True)
class Shape:
    """The filter options that decide what goes into the field."""

    skip_labels: bool = False
    skip_container_metadata: bool = False
    skip_master_url: bool = False
    skip_namespace_metadata: bool = False
    annotation_match: tuple[re.Pattern[str], ...] = ()
    de_dot: bool = True
    de_dot_separator: str = "_"
    master_url: str = ""


def kubernetes_field(names: dict[str, Any], pod: PodInfo, ns: NamespaceInfo | None, shape: Shape) -> dict[str, Any]:
    """``names`` (pod, namespace, container from the file name) completed from the API."""
    out: dict[str, Any] = dict(names)
    container = pod.containers.get(str(names.get("container_name", "")))
    if container is not None and not shape.skip_container_metadata:
        out["container_image"] = container.image
        if container.image_id:
            out["container_image_id"] = container.image_id
    out["pod_id"] = pod.uid
    if pod.pod_ip:
        out["pod_ip"] = pod.pod_ip
    out["host"] = pod.node
    if pod.host_ip:
        out["host_ip"] = pod.host_ip
    if pod.labels and not shape.skip_labels:
        out["labels"] = _keys(pod.labels, shape)
    annotations = _matching(pod.annotations, shape)
    if annotations:
        out["annotations"] = annotations
    if pod.workload:
        out["workload_kind"], out["workload_name"] = pod.workload
    if shape.master_url and not shape.skip_master_url:
        out["master_url"] = shape.master_url
    if ns is not None and not shape.skip_namespace_metadata:
        out["namespace_id"] = ns.uid
        if ns.labels:
            out["namespace_labels"] = _keys(ns.labels, shape)
        ns_annotations = _matching(ns.annotations, shape)
        if ns_annotations:
            out["namespace_annotations"] = ns_annotations
    return out


def _keys(values: dict[str, str], shape: Shape) -> dict[str, str]:
    if not shape.de_dot:
        return dict(values)
    return {k.replace(".", shape.de_dot_separator): v for k, v in values.items()}


def _matching(annotations: dict[str, str], shape: Shape) -> dict[str, str]:
    if not shape.annotation_match or not annotations:
        return {}
    return _keys({k: v for k, v in annotations.items() if any(p.search(k) for p in shape.annotation_match)},
                 shape)
