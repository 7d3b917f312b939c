"""Watches (both styles) and bad input against real masters."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from .cluster import Cluster, configmap

CM = "/api/v1/namespaces/default/configmaps"


def _stream_events(cluster: Cluster, index: int, rv: int, count: int, timeout: int = 10) -> list[dict]:
    """Read `count` events from a streaming watch starting after `rv`."""
    url = f"{cluster.masters[index].url}{CM}?watch=true&resourceVersion={rv}&timeoutSeconds={timeout}"
    events = []
    with cluster.session.get(url, stream=True, timeout=timeout + 5) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            assert line, "watch streams must not send blank keep-alive lines"
            events.append(json.loads(line))
            if len(events) >= count:
                break
    return events


def test_watch_stream_resumes_on_another_master_without_gaps(cluster3: Cluster) -> None:
    """A watch from N sees every later change once, in order, also after reconnecting to another master."""
    start = int(cluster3.get(0, CM).json()["metadata"]["resourceVersion"])
    for n in range(20):
        assert cluster3.post(n % 3, CM, configmap(f"cm-{n}")).status_code == 201
    first = _stream_events(cluster3, 0, start, 10)
    resume_from = int(first[-1]["object"]["metadata"]["resourceVersion"])
    for n in range(20, 30):
        assert cluster3.post(n % 3, CM, configmap(f"cm-{n}")).status_code == 201
    second = _stream_events(cluster3, 1, resume_from, 20)
    revisions = [int(e["object"]["metadata"]["resourceVersion"]) for e in first + second]
    names = [e["object"]["metadata"]["name"] for e in first + second]
    assert revisions == sorted(revisions) and len(set(revisions)) == 30
    assert names == [f"cm-{n}" for n in range(30)]
    assert all(e["type"] == "ADDED" for e in first + second)


def test_watch_stream_from_zero_sends_synthetic_added(cluster1: Cluster) -> None:
    """resourceVersion=0 first replays current objects as ADDED, then live changes."""
    cluster1.post(0, CM, configmap("before"))
    url = f"{cluster1.masters[0].url}{CM}?watch=true&resourceVersion=0&timeoutSeconds=5"
    with cluster1.session.get(url, stream=True, timeout=10) as resp:
        lines = resp.iter_lines()
        first = json.loads(next(lines))
        assert first["type"] == "ADDED" and first["object"]["metadata"]["name"] == "before"
        cluster1.post(0, CM, configmap("after"))
        second = json.loads(next(lines))
        assert second["object"]["metadata"]["name"] == "after"


def test_watch_long_poll_returns_events_and_next_revision(cluster3: Cluster) -> None:
    """Long-poll answers at once when events exist, else when the first arrives; M is the next revision."""
    rv = int(cluster3.get(0, CM).json()["metadata"]["resourceVersion"])
    cluster3.post(1, CM, configmap("lp-1"))
    body = cluster3.get(2, f"{CM}?watch=true&longPoll=true&resourceVersion={rv}&timeoutSeconds=5").json()
    assert body["kind"] == "WatchEventList"
    assert [e["object"]["metadata"]["name"] for e in body["items"]] == ["lp-1"]
    nxt = body["metadata"]["resourceVersion"]
    empty = cluster3.get(2, f"{CM}?watch=true&longPoll=true&resourceVersion={nxt}&timeoutSeconds=1")
    # other kinds may be written meanwhile (the masters' Leases, the kubernetes Service's endpoints):
    # no ConfigMap event, and a next revision that never goes back
    assert empty.json()["items"] == [] and int(empty.headers["X-Minik8s-Revision"]) >= int(nxt)
    assert empty.json()["metadata"]["resourceVersion"] == empty.headers["X-Minik8s-Revision"]


def test_watch_below_compacted_floor_is_410(tmp_path: Path) -> None:
    """Below the compacted floor: long-poll gets HTTP 410 Expired; streaming gets one ERROR 410 event."""
    cluster = Cluster(tmp_path / "c", 1, extra_args=["--event-window", "10"])
    try:
        cluster.start()
        cluster.wait_ready()
        for n in range(30):
            cluster.post(0, CM, configmap(f"c{n}"))
        resp = cluster.get(0, f"{CM}?watch=true&longPoll=true&resourceVersion=1&timeoutSeconds=1")
        assert resp.status_code == 410 and resp.json()["reason"] == "Expired"
        events = _stream_events(cluster, 0, 1, 1)
        assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410
    finally:
        cluster.stop()


def test_bad_input_is_rejected_with_status_and_changes_nothing(tmp_path: Path) -> None:
    """Malformed 400, invalid 422 with field, unknown 404, stale 409, too large 413, no token 401."""
    cluster = Cluster(tmp_path / "c", 1, extra_args=["--max-body-bytes", "65536"])
    try:
        cluster.start()
        cluster.wait_ready()
        url = cluster.masters[0].url
        before = cluster.get(0, CM).json()["metadata"]["resourceVersion"]
        s = cluster.session

        malformed = s.post(url + CM, data=b'{"kind": "ConfigMap", ', headers={"Content-Type": "application/json"})
        assert malformed.status_code == 400 and malformed.json()["reason"] == "BadRequest"

        bad_name = s.post(url + CM, json=configmap("Not_Valid"))
        assert bad_name.status_code == 422 and bad_name.json()["reason"] == "Invalid"
        assert bad_name.json()["details"]["causes"][0]["field"] == "metadata.name"

        no_containers = s.post(url + "/api/v1/namespaces/default/pods",
                               json={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}})
        assert no_containers.status_code == 422
        assert any(c["field"] == "spec.containers" for c in no_containers.json()["details"]["causes"])

        unknown = s.get(url + "/api/v1/namespaces/default/widgets")
        assert unknown.status_code == 404 and unknown.json()["reason"] == "NotFound"

        too_big = s.post(url + CM, json=configmap("big", "x" * 70_000))
        assert too_big.status_code == 413 and too_big.json()["reason"] == "RequestEntityTooLarge"

        no_token = requests.get(url + CM, timeout=5)
        wrong_token = requests.get(url + CM, headers={"Authorization": "Bearer nope"}, timeout=5)
        assert no_token.status_code == 401 and wrong_token.status_code == 401
        assert requests.get(url + "/healthz", timeout=5).status_code == 200

        assert cluster.get(0, CM).json()["metadata"]["resourceVersion"] == before, "bad input changed the store"

        created = cluster.post(0, CM, configmap("ok")).json()
        fresh = dict(created, data={"v": "2"})
        assert s.put(f"{url}{CM}/ok", json=fresh).status_code == 200
        stale = s.put(f"{url}{CM}/ok", json=dict(created, data={"v": "3"}))
        assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
        assert cluster.get(0, f"{CM}/ok").json()["data"] == {"v": "2"}
    finally:
        cluster.stop()


def test_watch_long_poll_never_goes_backwards(cluster1: Cluster) -> None:
    """Asking a replica for a revision it has not reached yet answers nothing new with M >= N."""
    current = int(cluster1.get(0, CM).json()["metadata"]["resourceVersion"])
    ahead = current + 5
    body = cluster1.get(0, f"{CM}?watch=true&longPoll=true&resourceVersion={ahead}&timeoutSeconds=1").json()
    assert body["items"] == [] and int(body["metadata"]["resourceVersion"]) >= ahead


def test_watch_with_selector_sees_objects_enter_and_leave(cluster1: Cluster) -> None:
    """A label-selected watch gets ADDED when an object starts matching and DELETED when it stops."""
    rv = cluster1.get(0, CM).json()["metadata"]["resourceVersion"]
    created = cluster1.post(0, CM, configmap("sel")).json()
    url = f"{cluster1.masters[0].url}{CM}/sel"
    labelled = cluster1.session.put(url, json=dict(created, metadata=dict(created["metadata"], labels={"app": "x"})))
    assert labelled.status_code == 200
    unlabelled = cluster1.session.put(url, json=dict(labelled.json(), metadata=dict(
        labelled.json()["metadata"], labels={"app": "y"})))
    assert unlabelled.status_code == 200
    body = cluster1.get(0, f"{CM}?watch=true&longPoll=true&resourceVersion={rv}&timeoutSeconds=1"
                           f"&labelSelector=app%3Dx").json()
    assert [(e["type"], e["object"]["metadata"]["labels"]["app"]) for e in body["items"]] == [
        ("ADDED", "x"), ("DELETED", "y")]
