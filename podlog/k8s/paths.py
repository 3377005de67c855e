"""Pod, namespace and container from kubelet's log file names; no API call needed.

``/var/log/containers/<pod>_<namespace>_<container>-<id>.log`` (the symlinks)
and ``/var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log`` (their targets).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["metadata_from_path"]

_CONTAINERS = re.compile(
    r"/containers/(?P<pod_name>[a-z0-9][-a-z0-9.]*)_(?P<namespace_name>[a-z0-9][-a-z0-9]*)_"
    r"(?P<container_name>[a-z0-9][-a-z0-9]*)-(?P<container_id>[0-9a-f]{64})\.log$"
)
_PODS = re.compile(
    r"/pods/(?P<namespace_name>[a-z0-9][-a-z0-9]*)_(?P<pod_name>[a-z0-9][-a-z0-9.]*)_(?P<pod_id>[-0-9a-f]+)/"
    r"(?P<container_name>[a-z0-9][-a-z0-9]*)/(?P<restart_count>[0-9]+)\.log(?:\.[0-9]+.*)?$"
)


def metadata_from_path(path: str) -> dict[str, Any] | None:
    """Fluentd kubernetes_metadata field names, so existing dashboards keep working."""
    for pattern in (_CONTAINERS, _PODS):
        m = pattern.search(path)
        if m:
            meta: dict[str, Any] = {k: v for k, v in m.groupdict().items() if v is not None}
            if "restart_count" in meta:
                meta["restart_count"] = int(meta["restart_count"])
            return meta
    return None
