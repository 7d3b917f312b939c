"""The master's function relay: which nodes it tries, in which order, and how fresh its view is."""

from __future__ import annotations

from typing import Any

from minik8s.api.server.invoke import VIEW_SECONDS, InvokeRelay

Obj = dict[str, Any]


def node(name: str, ready: bool = True) -> Obj:
    return {"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready",
                                                                  "status": "True" if ready else "False"}]}}


def instance(name: str, node_name: str, function: str = "fn") -> Obj:
    return {"metadata": {"name": name, "labels": {"minik8s.io/function": function}},
            "spec": {"nodeName": node_name}, "status": {"phase": "Running"}}


class Registry:
    def __init__(self) -> None:
        self.nodes = [node("a"), node("b"), node("c"), node("down", ready=False)]
        self.pods = [instance("fn-1", "b"), instance("other-1", "c", function="other")]
        self.lists = 0

    def list(self, rt: Any, namespace: str | None) -> tuple[list[Obj], int]:
        self.lists += 1
        return (self.nodes if rt.plural == "nodes" else self.pods), 1


def names(nodes: list[Obj]) -> list[str]:
    return [n["metadata"]["name"] for n in nodes]


def test_ready_nodes_running_an_instance_come_first_and_the_rest_take_turns() -> None:
    relay = InvokeRelay(Registry(), "token")  # type: ignore[arg-type]
    orders = [names(relay._candidates("default", "fn", None)) for _ in range(2)]
    assert all(order[0] == "b" and sorted(order) == ["a", "b", "c"] for order in orders)
    assert orders[0][1:] != orders[1][1:]


def test_a_call_id_picks_the_same_order_on_every_master() -> None:
    first = InvokeRelay(Registry(), "token")  # type: ignore[arg-type]
    second = InvokeRelay(Registry(), "token")  # type: ignore[arg-type]
    orders = {tuple(names(relay._candidates("default", "fn", "id-1"))) for relay in (first, second)}
    assert len(orders) == 1 and "down" not in orders.pop()
    spread = {names(first._candidates("default", "fn", f"id-{i}"))[0] for i in range(30)}
    assert spread == {"a", "b", "c"}  # ids spread over the nodes, whatever runs the instances


def test_the_view_of_nodes_and_instances_is_read_again_after_a_second() -> None:
    registry, now = Registry(), [100.0]
    relay = InvokeRelay(registry, "token")  # type: ignore[arg-type]
    relay.clock = lambda: now[0]
    relay._candidates("default", "fn", None)
    relay._candidates("default", "fn", None)
    assert registry.lists == 2  # nodes and pods, once
    registry.pods = [instance("fn-2", "c")]
    now[0] += VIEW_SECONDS
    assert names(relay._candidates("default", "fn", None))[0] == "c" and registry.lists == 4
