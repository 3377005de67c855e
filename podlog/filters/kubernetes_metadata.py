"""The ``kubernetes_metadata`` filter: pod, namespace and container of a record from its tag or file path.

DaemonSet configs written for Fluentd carry ``<filter kubernetes.**> @type
kubernetes_metadata``. Its core job, naming the pod, namespace and container
of a container log, needs no API call: kubelet writes them into the log file
name, and Fluentd's tail tag (``kubernetes.var.log.containers.<file>``) carries
that name. So this filter fills the ``kubernetes`` field from the tag (or
from a field holding the path) for records that do not have it yet; podlog's
tail already adds it itself (``kubernetes_metadata: true``).

Labels, annotations, pod ids and namespace metadata need the Kubernetes API,
which podlog does not query: the API options are accepted so Fluentd configs
load, and a warning at start says what will be missing.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

import orjson

from podlog.batch import Batch
from podlog.config.options import Option, Options
from podlog.filters._base import Filter
from podlog.k8s.paths import metadata_from_path

__all__ = ["KubernetesMetadataFilter"]

log = logging.getLogger("podlog.filters.kubernetes_metadata")

# pod_name, namespace, container_name, docker_id: Fluentd's group names, so a user's own regexp keeps working.
_TAG_NAME = (r"var\.log\.containers\.(?P<pod_name>[a-z0-9][-a-z0-9.]*)_(?P<namespace>[a-z0-9][-a-z0-9]*)_"
             r"(?P<container_name>[a-z0-9][-a-z0-9]*)-(?P<docker_id>[a-z0-9]{64})\.log$")
_FIELDS = {"pod_name": "pod_name", "namespace": "namespace_name", "namespace_name": "namespace_name",
           "container_name": "container_name", "docker_id": "container_id", "container_id": "container_id"}
_NO_API = "labels, annotations and pod ids need the Kubernetes API, which podlog does not query."
_NO_CACHE = "nothing is cached: the names come from the log file name."
_API_ONLY = ("kubernetes_url", "bearer_token_file", "ca_file", "client_cert", "client_key", "watch",
             "annotation_match", "skip_labels", "skip_namespace_metadata", "skip_master_url")


class KubernetesMetadataFilter(Filter):
    """Adds ``kubernetes.{pod_name, namespace_name, container_name, container_id}`` from the tag or a path field."""

    name: ClassVar[str] = "kubernetes_metadata"

    class Options(Options):
        tag_to_kubernetes_name_regexp = Option(
            "str", _TAG_NAME, doc="Regex over the tag with groups pod_name, namespace, container_name, docker_id.")
        path_key = Option("str", "", doc="podlog extension: take the names from this field (a file path) "
                          "when the tag does not match.")
        overwrite = Option("bool", False, doc="Replace a kubernetes field the record already has.")
        kubernetes_url = Option("str", "", doc="Fluentd's kubernetes_url.", ignored=_NO_API)
        bearer_token_file = Option("str", "", doc="Fluentd's bearer_token_file.", ignored=_NO_API)
        ca_file = Option("str", "", doc="Fluentd's ca_file.", ignored=_NO_API)
        client_cert = Option("str", "", doc="Fluentd's client_cert.", ignored=_NO_API)
        client_key = Option("str", "", doc="Fluentd's client_key.", ignored=_NO_API)
        verify_ssl = Option("bool", True, doc="Fluentd's verify_ssl.", ignored=_NO_API)
        watch = Option("bool", True, doc="Fluentd's watch.", ignored=_NO_API)
        cache_size = Option("int", 1000, doc="Fluentd's cache_size.", ignored=_NO_CACHE)
        cache_ttl = Option("int", 3600, doc="Fluentd's cache_ttl.", ignored=_NO_CACHE)
        annotation_match = Option("list", [], doc="Fluentd's annotation_match.", ignored=_NO_API)
        skip_labels = Option("bool", False, doc="Fluentd's skip_labels.", ignored=_NO_API)
        skip_container_metadata = Option("bool", False, doc="Fluentd's skip_container_metadata.", ignored=_NO_API)
        skip_master_url = Option("bool", False, doc="Fluentd's skip_master_url.", ignored=_NO_API)
        skip_namespace_metadata = Option("bool", False, doc="Fluentd's skip_namespace_metadata.", ignored=_NO_API)
        de_dot = Option("bool", True, doc="Fluentd's de_dot.", ignored=_NO_API)
        de_dot_separator = Option("str", "_", doc="Fluentd's de_dot_separator.", ignored=_NO_API)

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        try:
            self.pattern = re.compile(options.tag_to_kubernetes_name_regexp)
        except re.error as exc:
            raise options.error("tag_to_kubernetes_name_regexp", f"not a valid regex: {exc}") from None
        self._by_tag: dict[str, bytes | None] = {}
        self._warned = False

    def start(self) -> None:
        if self._warned:
            return
        self._warned = True
        declared = self.Options.declared()
        ignored = [k for k in _API_ONLY if getattr(self.options, k) != declared[k].default]
        log.warning("kubernetes_metadata: pod, namespace and container come from the log file name; labels, "
                    "annotations and pod ids need the Kubernetes API, which podlog does not query%s",
                    f" ({', '.join(ignored)} ignored)" if ignored else "")

    def filter(self, batch: Batch) -> Batch | None:
        fragment = self._tag_fragment(batch.tag)
        if fragment is not None and batch.has_docs():
            self._splice(batch, fragment)
        elif fragment is not None or self.options.path_key:
            self._records(batch, orjson.loads(fragment) if fragment is not None else None)
        return batch

    def _tag_fragment(self, tag: str) -> bytes | None:
        """The serialised metadata of a tag, worked out once per tag (a batch has one tag)."""
        if tag not in self._by_tag:
            if len(self._by_tag) > 10_000:
                self._by_tag.clear()
            m = self.pattern.search(tag)
            meta = {_FIELDS[k]: v for k, v in m.groupdict().items() if k in _FIELDS and v} if m else None
            self._by_tag[tag] = orjson.dumps(meta) if meta else None
        return self._by_tag[tag]

    def _splice(self, batch: Batch, fragment: bytes) -> None:
        """Serialised records stay serialised: the field goes in before the closing brace."""
        addition = b',"kubernetes":' + fragment + b"}"
        docs = batch.docs
        for i, doc in enumerate(docs):
            if b'"kubernetes"' not in doc:
                docs[i] = doc[:-1] + addition if doc != b"{}" else b"{" + addition[1:]
            elif self.options.overwrite or "kubernetes" not in orjson.loads(doc):
                record = orjson.loads(doc)
                record["kubernetes"] = orjson.loads(fragment)
                docs[i] = bytes(memoryview(orjson.dumps(record)))  # exact size, as Batch.docs

    def _records(self, batch: Batch, meta: dict[str, Any] | None) -> None:
        key = self.options.path_key
        for record in batch.records:
            if "kubernetes" in record and not self.options.overwrite:
                continue
            found = meta
            if found is None and key and isinstance(record.get(key), str):
                found = metadata_from_path(record[key])
            if found is not None:
                record["kubernetes"] = dict(found)
