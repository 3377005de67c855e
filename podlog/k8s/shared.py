"""One metadata cache per API server and node, shared by every kubernetes_metadata filter of the agent.

Two ``<filter kubernetes.**>`` sections (or a filter per label) must not
double the load on the API server: they share one list+watch.
"""

from __future__ import annotations

import threading
from typing import Any

from podlog.k8s.client import KubeClient
from podlog.k8s.metadata import MetadataCache
from podlog.k8s.options import api_config

__all__ = ["acquire", "release"]

_caches: dict[tuple[str, ...], MetadataCache] = {}
_lock = threading.Lock()


def acquire(options: Any, node_name: str) -> tuple[MetadataCache, str]:
    """The running cache for these API options (started on first use) and the master URL for records.

    Raises ``ConfigError`` when no API configuration can be found.
    """
    config = api_config(options)
    key = (config.server, node_name, config.token.path, config.ca_file, config.client_cert, str(config.verify))
    with _lock:
        cache = _caches.get(key)
        if cache is None:
            cache = MetadataCache(KubeClient(config), node_name=node_name, keep_deleted=float(options.cache_ttl),
                                  max_deleted=options.cache_size,
                                  namespaces=not options.skip_namespace_metadata)
            _caches[key] = cache
            cache.start()
        cache.users += 1
    return cache, config.server + "/api"


def release(cache: MetadataCache) -> None:
    with _lock:
        cache.users -= 1
        if cache.users > 0:
            return
        for key, value in list(_caches.items()):
            if value is cache:
                del _caches[key]
    cache.stop()
