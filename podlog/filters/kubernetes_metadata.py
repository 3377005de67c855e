"""The ``kubernetes_metadata`` filter: who wrote a log line, from the file name and the Kubernetes API.

The pod, namespace and container come from kubelet's log file name (podlog's
tail puts them under ``kubernetes``, or this filter takes them from Fluentd's
tag ``kubernetes.var.log.containers.<file>``). With API access (in a pod: its
ServiceAccount; else ``kubernetes_url`` or a kubeconfig) the filter completes
them as fluent-plugin-kubernetes_metadata_filter does: pod uid, labels,
annotations, node, images, namespace labels, plus the owning workload and the
host IP (``podlog.k8s.record``). Pods come from one node-scoped list+watch
shared by every such filter of the agent (``podlog.k8s.metadata``).

Work is per batch, not per line: a tail batch holds the lines of one file, so
the pod is looked up once and the file-name fragment of every document is
swapped for the enriched one in one pass over the joined batch.

A line whose pod the watch has not delivered yet is held (at most
``hold_unknown``), not shipped bare. If the API cannot be reached, lines
flow with their file-name metadata and
``podlog_kubernetes_metadata_missing_records{reason="api_unavailable"}``
counts them. Pod annotations ``podlog.io/exclude``, ``podlog.io/parser`` and
``podlog.io/multiline`` choose behaviour per pod (``podlog.k8s.annotations``).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import weakref
from typing import Any, ClassVar

import msgspec
import orjson

from podlog.batch import Batch
from podlog.config.options import Option
from podlog.filters._base import Filter, Filtered
from podlog.k8s.options import ApiOptions
from podlog.k8s.paths import metadata_from_path

__all__ = ["KubernetesMetadataFilter"]

log = logging.getLogger("podlog.filters.kubernetes_metadata")

# pod_name, namespace, container_name, docker_id: Fluentd's group names, so a user's own regexp keeps working.
_TAG_NAME = (r"var\.log\.containers\.(?P<pod_name>[a-z0-9][-a-z0-9.]*)_(?P<namespace>[a-z0-9][-a-z0-9]*)_"
             r"(?P<container_name>[a-z0-9][-a-z0-9]*)-(?P<docker_id>[a-z0-9]{64})\.log$")
_FIELDS = {"pod_name": "pod_name", "namespace": "namespace_name", "namespace_name": "namespace_name",
           "container_name": "container_name", "docker_id": "container_id", "container_id": "container_id"}
_KEY = b'"kubernetes":'
_MEMBERS = msgspec.json.Decoder(dict[str, msgspec.Raw])
# the members the file name gives (podlog.k8s.paths); the API adds the others
_NAME_KEYS = frozenset(("pod_name", "namespace_name", "container_name", "container_id", "pod_id", "restart_count"))
_GIVE_UP_FOR = 60.0  # after a hold timed out, the same pod's lines pass without waiting for this long


class KubernetesMetadataFilter(Filter):
    """Fills ``kubernetes`` with pod, namespace and container, completed from the API when it is reachable."""

    name: ClassVar[str] = "kubernetes_metadata"

    class Options(Filter.Options, ApiOptions):
        tag_to_kubernetes_name_regexp = Option(
            "str", _TAG_NAME, doc="Regex over the tag with groups pod_name, namespace, container_name, docker_id.")
        path_key = Option("str", "", doc="podlog extension: take the names from this field (a file path) "
                          "when the tag does not match.")
        overwrite = Option("bool", False, doc="Replace a kubernetes field the record already has.")
        api = Option("bool", True, doc="podlog extension: false keeps to the file name (no API access at all).")
        node_name = Option("str", "", doc="podlog extension: watch only this node's pods. Default: $NODE_NAME or "
                           "$K8S_NODE_NAME (set from the downward API spec.nodeName); without either, every "
                           "pod of the cluster is watched.")
        watch = Option("bool", True, doc="Fluentd's watch.", ignored="podlog always uses one list+watch of the "
                       "node's pods.")
        hold_unknown = Option("duration", 2.0, doc="podlog extension: how long lines of a pod the watch has not "
                              "delivered yet are held before they go on with file-name metadata only.")
        cache_size = Option("int", 1000, doc="Deleted pods kept for their last lines, at most.")
        cache_ttl = Option("int", 3600, doc="Seconds a deleted pod's metadata is kept for its last lines.")
        annotation_match = Option("list", [], doc="Regexes: pod and namespace annotations whose key matches one "
                                  "go under kubernetes.annotations / namespace_annotations.")
        skip_labels = Option("bool", False, doc="Leave out the pod labels.")
        skip_container_metadata = Option("bool", False, doc="Leave out container_image and container_image_id.")
        skip_master_url = Option("bool", False, doc="Leave out master_url.")
        skip_namespace_metadata = Option("bool", False, doc="Leave out namespace_id and namespace labels.")
        de_dot = Option("bool", True, doc="Replace dots in label and annotation keys (Elasticsearch reads dots "
                        "as objects).")
        de_dot_separator = Option("str", "_", doc="What dots become with de_dot.")
        pod_annotations = Option("bool", True, doc="podlog extension: honour podlog.io/exclude, podlog.io/parser "
                                 "and podlog.io/multiline pod annotations.")

    options: Options

    def __init__(self, options: Options, **context: Any) -> None:
        super().__init__(options, **context)
        try:
            self.pattern = re.compile(options.tag_to_kubernetes_name_regexp)
        except re.error as exc:
            raise options.error("tag_to_kubernetes_name_regexp", f"not a valid regex: {exc}") from None
        try:
            matches = tuple(re.compile(p) for p in options.annotation_match)
        except re.error as exc:
            raise options.error("annotation_match", f"not a valid regex: {exc}") from None
        from podlog.k8s.record import Shape

        self.shape = Shape(options.skip_labels, options.skip_container_metadata, options.skip_master_url,
                           options.skip_namespace_metadata, matches, options.de_dot, options.de_dot_separator)
        self._by_tag: dict[str, bytes | None] = {}
        self.cache: Any = None  # podlog.k8s.metadata.MetadataCache while running with API access
        self._idents: dict[bytes, dict[str, Any] | None] = {}
        self._enriched: dict[bytes, tuple[Any, Any, bytes]] = {}  # file-name fragment -> (pod, ns, fragment)
        self._gave_up: dict[tuple[str, str, str], float] = {}
        self._parsers: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.missing = {"api_unavailable": 0, "pod_unknown": 0}  # records shipped with file-name metadata only
        self.held = 0  # batches held for a pod the watch had not delivered
        self._counter, self._hold_counter = _counters(context.get("metrics"))
        self._started = False

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        if not self.options.api:
            return
        from podlog.k8s import shared, tail_hook
        from podlog.k8s.config import ConfigError

        node = self._node_name()
        if not node:
            log.warning("kubernetes_metadata: no node name (node_name, $NODE_NAME or $K8S_NODE_NAME from the downward "
                        "API): watching every pod of the cluster, not only this node's")
        try:
            self.cache, master_url = shared.acquire(self.options, node)
        except ConfigError as exc:
            log.warning("kubernetes_metadata: no Kubernetes API access (%s): pod, namespace and container come "
                        "from the log file name only; labels, annotations and pod ids are left out", exc)
            return
        import dataclasses

        self.shape = dataclasses.replace(self.shape, master_url=master_url)
        tail_hook.register(self._file_metadata)

    def stop(self) -> None:
        if self.cache is not None:
            from podlog.k8s import shared, tail_hook

            tail_hook.unregister(self._file_metadata)
            shared.release(self.cache)
            self.cache = None

    def _node_name(self) -> str:
        return self.options.node_name or os.environ.get("NODE_NAME", "") or os.environ.get("K8S_NODE_NAME", "")

    # -- the filter ------------------------------------------------------------------------------

    def filter(self, batch: Batch) -> Filtered:
        given = len(batch)
        return Filtered(self._filter(batch) if given else batch, given)

    def _filter(self, batch: Batch) -> Batch | None:
        """The batch with metadata added; None when a pod's annotation excludes its logs."""
        if batch.has_docs():
            frag = _fragment_in(batch.docs[0])
            tag_frag = self._tag_fragment(batch.tag)
            if frag is not None and not (self.options.overwrite and tag_frag is not None):
                return self._docs(batch, frag)
            if tag_frag is not None and self.cache is None:
                self._splice(batch, tag_frag)
                return batch
            if tag_frag is None and not self.options.path_key:
                return batch
        return self._records(batch)

    def _docs(self, batch: Batch, current: bytes) -> Batch | None:
        """A batch of one file: one lookup; the field is swapped only if the tail's is not current."""
        names = self._ident(current)
        if names is None:
            return self._records(batch) if self.options.path_key else batch
        if self.cache is None:
            if self.options.api:
                self._count_missing("api_unavailable", len(batch))
            return batch
        # fields the tail already took from the API stay as they are if the pod is gone from the cache since
        settled = b'"host":' in current
        entry = self._enrich(_KEY + orjson.dumps(names), names, 0 if settled else len(batch), wait=not settled)
        if entry is None:
            return batch
        pod, _, new = entry
        container = str(names.get("container_name", ""))
        if self.options.pod_annotations and pod.annotations and self._excluded(pod, container):
            return None
        if new != current and not _swap(batch.docs, current, new):
            return self._records(batch)  # documents of several files, or shaped by another filter
        if self.options.pod_annotations and pod.annotations:
            return self._reparse(batch, pod, container)
        return batch

    def _records(self, batch: Batch) -> Batch | None:
        """Records (decoded by an earlier filter, or from other inputs): looked up per distinct pod."""
        tag_meta = self._tag_fragment(batch.tag)
        records = batch.records
        keep = [True] * len(records)
        memo: dict[bytes, tuple[Any, bytes] | None] = {}
        reparse: dict[tuple[int, str], tuple[Any, list[int]]] = {}
        for i, record in enumerate(records):
            names, settled = self._names(record, tag_meta)
            if names is None:
                continue
            old = _KEY + orjson.dumps(names)
            if old not in memo:
                entry = self._enrich(old, names, 0, wait=not settled) if self.cache is not None else None
                memo[old] = (entry[0], entry[2]) if entry else None
            found = memo[old]
            if found is None:
                if not settled:  # fields already taken from the API stay; file-name ones are counted
                    record["kubernetes"] = dict(names)
                    if self.options.api:
                        self._count_missing(self._missing_reason(), 1)
                continue
            pod, new = found
            record["kubernetes"] = orjson.loads(new[len(_KEY):])
            container = str(names.get("container_name", ""))
            if self.options.pod_annotations and pod.annotations:
                if self._excluded(pod, container):
                    keep[i] = False
                else:
                    reparse.setdefault((id(pod), container), (pod, []))[1].append(i)
        for (_, container), (pod, rows) in reparse.items():
            out = self._reparse(Batch(batch.tag, records=[records[r] for r in rows]), pod, container)
            for r, rec in zip(rows, out.records if out is not None else [], strict=False):
                records[r] = rec
        if not all(keep):
            batch.keep(keep)
            return batch if len(batch) else None
        return batch

    def _names(self, record: dict[str, Any], tag_meta: bytes | None) -> tuple[dict[str, Any] | None, bool]:
        """The file-name metadata of a record, and whether its field already holds the API's."""
        current = record.get("kubernetes")
        if isinstance(current, dict) and not (self.options.overwrite and tag_meta is not None):
            names = _name_prefix(current)
            if "pod_name" in names and "namespace_name" in names:
                return names, "host" in current
            if current or not tag_meta:
                return None, False  # someone else's field: left as it is
        if tag_meta is not None:
            return orjson.loads(tag_meta), False
        key = self.options.path_key
        if key and isinstance(record.get(key), str):
            return metadata_from_path(record[key]), False
        return None, False

    # -- lookups ---------------------------------------------------------------------------------

    def _ident(self, frag: bytes) -> dict[str, Any] | None:
        """The file-name part (pod, namespace, container) of a document's kubernetes field, in its order."""
        if frag not in self._idents:
            if len(self._idents) > 10_000:
                self._idents.clear()
            try:
                value = orjson.loads(frag[len(_KEY):])
            except orjson.JSONDecodeError:
                value = None
            names = _name_prefix(value) if isinstance(value, dict) else {}
            self._idents[frag] = names if "pod_name" in names and "namespace_name" in names else None
        return self._idents[frag]

    def _enrich(self, old: bytes, names: dict[str, Any], n: int, wait: bool = True) -> tuple[Any, Any, bytes] | None:
        """(pod, namespace, enriched fragment) for the names of a file; None: file-name metadata only."""
        cache = self.cache
        ns_name, pod_name = str(names.get("namespace_name", "")), str(names.get("pod_name", ""))
        cid = str(names.get("container_id", ""))
        pod = cache.pod(ns_name, pod_name, cid)
        if wait and (pod is None or (cid and cid not in pod.container_ids and pod.deleted_at is not None)):
            pod = self._hold(ns_name, pod_name, cid) or pod
        if pod is None:
            if n:
                self._count_missing(self._missing_reason(), n)
            return None
        ns = cache.namespace(ns_name)
        known = self._enriched.get(old)
        if known is not None and known[0] is pod and known[1] is ns:
            return known
        from podlog.k8s.record import kubernetes_field

        entry = (pod, ns, _KEY + orjson.dumps(kubernetes_field(names, pod, ns, self.shape)))
        with self._lock:
            if len(self._enriched) > 10_000:
                self._enriched.clear()
            self._enriched[old] = entry
        return entry

    def _hold(self, ns: str, pod: str, cid: str) -> Any:
        """Wait briefly for a pod the watch has not delivered; not again for a while if it did not come."""
        key = (ns, pod, cid)
        now = time.monotonic()
        if self.cache.state == "unavailable" or now - self._gave_up.get(key, -1e18) < _GIVE_UP_FOR:
            return None
        self.held += 1
        if self._hold_counter is not None:
            self._hold_counter.labels(self.context.get("name", self.name)).inc()
        found = self.cache.wait_for_pod(ns, pod, cid, self.options.hold_unknown)
        if found is None or (cid and cid not in found.container_ids and found.deleted_at is not None):
            if len(self._gave_up) > 10_000:
                self._gave_up.clear()
            self._gave_up[key] = time.monotonic()
        return found

    def _missing_reason(self) -> str:
        return "pod_unknown" if self.cache is not None and self.cache.state == "synced" else "api_unavailable"

    def _count_missing(self, reason: str, n: int) -> None:
        self.missing[reason] += n
        if self._counter is not None:
            self._counter.labels(self.context.get("name", self.name), reason).inc(n)

    # -- annotations -----------------------------------------------------------------------------

    def _excluded(self, pod: Any, container: str) -> bool:
        from podlog.k8s.annotations import behaviour

        return (behaviour(pod, "exclude", container) or "").strip().lower() == "true"

    def _reparse(self, batch: Batch, pod: Any, container: str) -> Batch | None:
        from podlog.k8s.annotations import behaviour

        value = behaviour(pod, "parser", container)
        if not value:
            return batch
        records = batch.records
        key = "message" if "message" in records[0] or "log" not in records[0] else "log"
        parser = self._parser(value, key)
        return parser.filter(batch).batch if parser is not None else batch

    def _parser(self, value: str, key: str) -> Any:
        """A parser filter for an annotation value, built once; a bad value is logged once and ignored."""
        if (value, key) not in self._parsers:
            from podlog.config.errors import ConfigError, Located
            from podlog.filters.parser import ParserFilter
            from podlog.k8s.annotations import PREFIX, parser_spec

            try:
                opts = ParserFilter.Options.from_mapping(
                    {"key_name": key, "parser": parser_spec(value), "reserve_data": True,
                     "remove_key_name_field": True}, Located("annotation", 0, f"{PREFIX}parser"), "")
                self._parsers[(value, key)] = ParserFilter(opts)
            except (ConfigError, orjson.JSONDecodeError) as exc:
                log.warning("ignoring pod annotation %sparser: %r: %s", PREFIX, value, exc)
                self._parsers[(value, key)] = None
        return self._parsers[(value, key)]

    def _file_metadata(self, names: dict[str, Any]) -> tuple[dict[str, Any], str | None] | None:
        """For the tail's hook (podlog.k8s.tail_hook): the file's kubernetes field and multiline annotation."""
        if self.cache is None:
            return None
        old = _KEY + orjson.dumps(names)
        entry = self._enrich(old, names, 0)
        if entry is None:
            return None
        pod, _, new = entry
        multiline = None
        if self.options.pod_annotations and pod.annotations:
            from podlog.k8s.annotations import behaviour

            multiline = behaviour(pod, "multiline", str(names.get("container_name", "")))
        return orjson.loads(new[len(_KEY):]), multiline

    # -- file-name metadata without the API (unchanged behaviour) --------------------------------

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


def _fragment_in(doc: bytes) -> bytes | None:
    """The ``"kubernetes":{...}`` member of a document, exactly as it is written there."""
    if b'"kubernetes":{' not in doc:
        return None
    try:
        raw = _MEMBERS.decode(doc).get("kubernetes")
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return _KEY + bytes(raw) if raw is not None else None


def _name_prefix(field: dict[str, Any]) -> dict[str, Any]:
    """The file-name members of a kubernetes field: they come first (podlog.k8s.record), the API's follow."""
    names: dict[str, Any] = {}
    for k, v in field.items():
        if k not in _NAME_KEYS:
            break
        names[k] = v
    return names


def _swap(docs: list[bytes], old: bytes, new: bytes) -> bool:
    """Replace ``old`` by ``new`` in every document (at the same offset in a tail batch); False if one lacks it."""
    at = docs[0].find(old)
    end = at + len(old)
    out = []
    for doc in docs:
        if at >= 0 and doc.startswith(old, at):
            out.append(doc[:at] + new + doc[end:])
        elif old in doc:
            out.append(doc.replace(old, new, 1))
        else:
            return False
    docs[:] = out
    return True


_COUNTERS: weakref.WeakKeyDictionary[Any, tuple[Any, Any]] = weakref.WeakKeyDictionary()


def _counters(metrics: Any) -> tuple[Any, Any]:
    """(missing records, holds): one pair per agent registry, shared by every kubernetes_metadata filter."""
    if metrics is None:
        return None, None
    registry = metrics.registry
    if registry not in _COUNTERS:
        from prometheus_client import Counter

        missing = Counter(
            "podlog_kubernetes_metadata_missing_records", "Records that went on with file-name metadata only: "
            "the API was unreachable (api_unavailable) or the pod was not known in time (pod_unknown).",
            ["filter", "reason"], registry=registry)
        holds = Counter("podlog_kubernetes_metadata_holds", "Times lines waited for a pod the watch had not "
                        "delivered yet (at most hold_unknown each).", ["filter"], registry=registry)
        _COUNTERS[registry] = (missing, holds)
    return _COUNTERS[registry]
