"""Leader election on a coordination.k8s.io/v1 Lease, against the API-server double (tests/drivers/k8s_api.py
stands in for a real API server, which cannot run here). Time is an injected clock: no test sleeps."""

from __future__ import annotations

import pytest

from podlog.k8s.client import KubeClient
from podlog.k8s.config import ApiConfig, TokenSource
from podlog.k8s.lease import Lease
from tests.drivers.k8s_api import K8sApiDouble

LEASES = ("coordination.k8s.io/v1", "leases")


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api():
    with K8sApiDouble() as double:
        double.put(*LEASES, {"metadata": {"name": "events", "namespace": "logging"}, "spec": {}})
        yield double


def candidate(api: K8sApiDouble, identity: str, clock: Clock, token: str = "test-token") -> Lease:
    client = KubeClient(ApiConfig(server=api.url, token=TokenSource(token=token)))
    return Lease(client, "logging", "events", identity, duration=15, renew_deadline=10, clock=clock)


def spec(api: K8sApiDouble) -> dict:
    return api.get(*LEASES, "events", "logging")["spec"]


def test_one_holder_until_the_lease_expires_on_the_others_clock(api):
    clock = Clock()
    a, b = candidate(api, "a", clock), candidate(api, "b", clock)
    assert a.try_acquire_or_renew() and not b.try_acquire_or_renew()
    assert spec(api)["holderIdentity"] == "a" and spec(api)["leaseDurationSeconds"] == 15
    for _ in range(10):  # a renews every 2s: b never takes over
        clock.now += 2
        assert a.try_acquire_or_renew() and not b.try_acquire_or_renew()
    clock.now += 14  # a stopped renewing: not yet expired on b's clock...
    assert not b.try_acquire_or_renew()
    clock.now += 1.5  # ...now 15.5s since b saw the last change
    assert b.try_acquire_or_renew()
    assert spec(api)["holderIdentity"] == "b" and spec(api)["leaseTransitions"] == 1
    assert not a.try_acquire_or_renew() and not a.holding  # a's renewal meets b's write (409), a steps aside


def test_a_race_for_a_free_lease_has_one_winner(api):
    clock = Clock()
    a, b = candidate(api, "a", clock), candidate(api, "b", clock)
    a._obj = b._obj = api.get(*LEASES, "events", "logging")  # both read the free Lease at the same version
    assert a._judge(a._obj, None) is True
    assert b._judge(b._obj, None) is False  # same resourceVersion, written already: 409 Conflict
    assert spec(api)["holderIdentity"] == "a"


def test_release_hands_over_at_once_with_annotations(api):
    clock = Clock()
    a, b = candidate(api, "a", clock), candidate(api, "b", clock)
    assert a.try_acquire_or_renew({"podlog.io/x": "1"})
    assert not b.try_acquire_or_renew()
    assert a.release({"podlog.io/x": "2"})
    assert "holderIdentity" not in spec(api)
    assert b.try_acquire_or_renew()  # no waiting for the duration
    assert b.annotations["podlog.io/x"] == "2"


def test_a_holder_that_cannot_renew_steps_down_before_the_lease_expires(api):
    clock = Clock()
    a = candidate(api, "a", clock)
    assert a.try_acquire_or_renew()
    api.stop()  # the API server is gone
    a.client._pool.clear()  # and so is the kept-alive connection to it
    clock.now += 5
    assert a.try_acquire_or_renew()  # within renew_deadline: still the holder
    clock.now += 5.5
    assert not a.try_acquire_or_renew() and not a.holding  # 10.5s without renewal < 15s lease duration


def test_a_missing_lease_is_created_and_a_forbidden_create_is_reported(api):
    clock = Clock()
    api.remove(*LEASES, "events", "logging")
    api.tokens["no-create"] = {("get", "leases"), ("update", "leases")}
    limited = candidate(api, "a", clock, token="no-create")
    assert not limited.try_acquire_or_renew()  # 403 on create: not the holder, no crash
    assert candidate(api, "b", clock).try_acquire_or_renew()
    assert spec(api)["holderIdentity"] == "b"


def test_renewal_costs_one_request(api):
    clock = Clock()
    a = candidate(api, "a", clock)
    assert a.try_acquire_or_renew()
    before = api.count()
    for _ in range(5):
        clock.now += 2
        assert a.try_acquire_or_renew()
    assert api.count() - before == 5 and api.count("update", "leases") >= 5
