"""Events, a collecting sink and input builders for the Events collector tests.

The API server is tests/drivers/k8s_api.py: a protocol double built from the Kubernetes API reference, since
no real API server can run here.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from podlog.batch import Batch
from podlog.config.errors import Located
from podlog.inputs.kubernetes_events import KubernetesEventsInput
from podlog.k8s.config import ApiConfig, TokenSource
from tests.drivers.k8s_api import K8sApiDouble


def core_event(name: str, count: int = 1, ns: str = "shop", pod: str = "web-1", reason: str = "BackOff",
               message: str = "Back-off restarting failed container", etype: str = "Warning",
               last: str = "2026-12-01T03:00:00Z") -> dict[str, Any]:
    """A core/v1 Event as kubelet writes it (the old recorder: count, first/last timestamps, source)."""
    return {"metadata": {"name": name, "namespace": ns},
            "involvedObject": {"kind": "Pod", "namespace": ns, "name": pod, "uid": f"uid-{pod}", "apiVersion": "v1",
                               "fieldPath": "spec.containers{app}"},
            "reason": reason, "message": message, "type": etype, "count": count,
            "firstTimestamp": "2026-12-01T02:59:00Z", "lastTimestamp": last,
            "source": {"component": "kubelet", "host": "node-1"}}


def series_event(name: str, count: int, ns: str = "shop") -> dict[str, Any]:
    """An events.k8s.io/v1 Event as the new recorder writes it (eventTime, series, reportingController)."""
    return {"metadata": {"name": name, "namespace": ns}, "eventTime": "2026-12-01T03:00:00.000001Z",
            "series": {"count": count, "lastObservedTime": f"2026-12-01T03:0{count % 10}:00.000000Z"},
            "regarding": {"kind": "Pod", "namespace": ns, "name": "db-0", "uid": "uid-db-0", "apiVersion": "v1"},
            "reason": "FailedScheduling", "note": "0/3 nodes are available", "type": "Warning", "action": "Scheduling",
            "reportingController": "default-scheduler", "reportingInstance": "default-scheduler-cp-1"}


class Sink:
    """Collects emitted records; acks at once unless ``hold`` (then ``release_all`` acks)."""

    def __init__(self, hold: bool = False) -> None:
        self.records: list[dict[str, Any]] = []
        self.batches: list[Batch] = []
        self.hold = hold
        self.lock = threading.Lock()

    def __call__(self, batch: Batch) -> None:
        with self.lock:
            self.records.extend(batch.records)
            self.batches.append(batch)
        if not self.hold:
            batch.ack.release()

    def release_all(self) -> None:
        with self.lock:
            held, self.hold = list(self.batches), False
        for b in held:
            if b.ack.pending:
                b.ack.release()

    def keys(self) -> list[tuple[str, int]]:
        return [(r["event"]["name"], r["count"]) for r in self.records
                if r["reason"] not in ("EventsMayBeMissing", "Barrier")]

    def markers(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["reason"] == "EventsMayBeMissing"]


_barriers = itertools.count()


def barrier(api: K8sApiDouble, sink: Sink, timeout: float = 10.0) -> None:
    """Wait until everything the collector was sent before now is processed: a sentinel event came through
    (the watch and the emitter keep order), so "nothing else arrived" needs no sleep."""
    from tests.conftest import wait_for

    name = f"barrier-{next(_barriers)}"
    api.put("v1", "events", core_event(name, reason="Barrier"))
    assert wait_for(lambda: any(r["event"]["name"] == name for r in list(sink.records)), timeout), name


def collector(double: K8sApiDouble, token: str = "test-token", **options: Any) -> KubernetesEventsInput:
    """An Events input on the double; ``clock``/``wall`` go to the plugin's context, the rest are options."""
    context = {k: options.pop(k) for k in ("clock", "wall") if k in options}
    values = {"watch_timeout": "60s", "checkpoint_interval": "50ms", "retry_period": "50ms", **options}
    opts = KubernetesEventsInput.Options.from_mapping(values, Located("<test>", 0, ""), "")
    config = ApiConfig(server=double.url, token=TokenSource(token=token), namespace="logging")
    return KubernetesEventsInput(opts, api_config=config, **context)
