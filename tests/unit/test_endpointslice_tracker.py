"""The EndpointSlice controller waits for its cache to show its own writes before acting again."""

from __future__ import annotations

from minik8s.api.client import ApiClient
from minik8s.controllers import endpointslice
from minik8s.controllers.endpointslice import EndpointSliceController


def _slice(name: str, rv: int) -> dict:
    return {"metadata": {"name": name, "resourceVersion": str(rv)}}


def test_cache_must_show_writes_and_deletes(monkeypatch) -> None:
    controller = EndpointSliceController(ApiClient("http://127.0.0.1:9"))
    now = [100.0]
    monkeypatch.setattr(endpointslice.time, "monotonic", lambda: now[0])
    key = "default/web"
    assert controller._cache_caught_up(key, [])
    controller._remember(key, "web-a", 7)
    controller._remember(key, "web-old", None)
    assert not controller._cache_caught_up(key, [_slice("web-old", 3)])  # neither the create nor the delete seen
    assert not controller._cache_caught_up(key, [_slice("web-a", 6)])  # an older version of web-a
    assert controller._cache_caught_up(key, [_slice("web-a", 7)])
    controller._remember(key, "web-b", 9)  # deleted by someone else before the cache ever showed it
    assert not controller._cache_caught_up(key, [])
    now[0] += endpointslice.CACHE_LAG_LIMIT + 1
    assert controller._cache_caught_up(key, [])  # forgotten after the limit
