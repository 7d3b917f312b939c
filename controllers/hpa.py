"""The horizontal pod autoscaler controller: keep resource use per pod at the HPA's target.

Every `sync_period` seconds (kube-controller-manager's `--horizontal-pod-autoscaler-sync-period`,
default 15 s) each HorizontalPodAutoscaler is reconciled like `reconcileAutoscaler` in
`pkg/controller/podautoscaler/horizontal.go`:

1. read the target's `scale` subresource (current replicas and the pods' label selector);
   failing that: AbleToScale=False `FailedGetScale`;
2. outside [minReplicas, maxReplicas] the count is brought inside; a target at 0 replicas is not
   autoscaled (ScalingActive=False `ScalingDisabled`); otherwise each metric proposes a count from
   the pods (informer cache) and their `metrics.k8s.io` PodMetrics (`replica_calculator`: `cpu`
   and `memory`, `Utilization` and `AverageValue`, also per container), the largest proposal wins
   (ScalingActive=True `ValidMetricFound`), and `hpa_scaling` applies stabilization windows, the
   `behavior` policies and the min/max clamps (AbleToScale and ScalingLimited reasons);
3. a different count is written to the `scale` subresource with a `SuccessfulRescale` event
   (`New size: N; reason: cpu resource utilization (percentage of request) above target`);
4. the status (`currentReplicas`, `desiredReplicas`, `currentMetrics`, `lastScaleTime`,
   `observedGeneration`, conditions) is written when it changed.

`Pods`, `Object` and `External` metrics need the custom and external metrics APIs, which minik8s
does not serve: such a metric is invalid (ScalingActive=False), as upstream without an adapter.
The recommendation and scale-event history lives in this process (a new leader starts afresh, as
upstream does). Unlike upstream, a change of an HPA's spec (its generation) is acted on at once
instead of at the next period.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from minik8s.api import errors, selectors
from minik8s.api.client import ApiClient
from minik8s.api.events import EventRecorder
from minik8s.api.informer import Informer
from minik8s.api.kinds import by_kind, resolve
from minik8s.api.kinds.metrics import parse_go_duration
from minik8s.api.quantity import format_milli, milli_value
from minik8s.api.reconcile import Controller, Result
from minik8s.api.timefmt import format_time, parse_time
from minik8s.controllers import hpa_scaling
from minik8s.controllers.hpa_scaling import DOWNSCALE_STABILIZATION, ScalingHistory
from minik8s.controllers.replica_calculator import (PodMetric, Proposal, ReplicaCalculationError, Settings,
                                                    plain_replicas, resource_replicas)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "horizontal-pod-autoscaler"
_HPAS, _PODS, _POD_METRICS = resolve("horizontalpodautoscalers"), resolve("pods"), resolve("pods.metrics.k8s.io")
_UNSERVED = {"Pods": "FailedGetPodsMetric", "Object": "FailedGetObjectMetric", "External": "FailedGetExternalMetric"}


@dataclass(frozen=True)
class HpaSettings:
    """The controller's flags (kube-controller-manager's `--horizontal-pod-autoscaler-*`)."""

    sync_period: float = 15.0
    downscale_stabilization: float = DOWNSCALE_STABILIZATION
    calculation: Settings = field(default_factory=Settings)  # tolerance, CPU initialization, readiness delay


class MetricError(Exception):
    """No count could be proposed: `reason` is the ScalingActive reason and the event's; the
    `metric_statuses` computed meanwhile are still reported."""

    def __init__(self, reason: str, message: str, metric_statuses: list[Obj] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.metric_statuses = metric_statuses


def set_condition(status: Obj, kind: str, value: str, reason: str, message: str, now: str) -> None:
    """`setConditionInList`: add or update one condition; its transition time moves only with its status."""
    conditions = status.setdefault("conditions", [])
    existing = next((c for c in conditions if c.get("type") == kind), None)
    if existing is None:
        existing = {"type": kind}
        conditions.append(existing)
    if existing.get("status") != value:
        existing["lastTransitionTime"] = now
    existing.update(status=value, reason=reason, message=message)


class HorizontalPodAutoscalerController(Controller):
    """Scales the targets of HorizontalPodAutoscalers (see the module docstring)."""

    _hpas: Informer
    _pods: Informer

    def __init__(self, client: ApiClient, settings: HpaSettings | None = None, *,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time) -> None:
        super().__init__(client, name="horizontal-pod-autoscaler", clock=clock)
        self.settings = settings or HpaSettings()
        self.wall_clock = wall_clock
        self.events = EventRecorder(client, component=COMPONENT)
        self._histories: dict[str, ScalingHistory] = {}
        self._synced: dict[str, tuple[float, int]] = {}  # key -> (monotonic time, generation) of the last sync
        self._selectors: dict[str, selectors.LabelSelector] = {}

    def setup(self) -> None:
        self._hpas = self.watch(_HPAS)
        self._pods = self.watch(_PODS, key=lambda _: None)  # a cache to read pods from; pods trigger nothing
        self._histories, self._synced, self._selectors = {}, {}, {}

    def reconcile(self, key: str) -> Result | None:
        hpa = self._hpas.get(key)
        if hpa is None:  # deleted: forget it
            for memory in (self._histories, self._synced, self._selectors):
                memory.pop(key, None)
            return None
        period = self.settings.sync_period
        generation = hpa["metadata"].get("generation", 0)
        last = self._synced.get(key)
        since = self.clock() - last[0] if last else period
        if last is not None and last[1] == generation and since < period:
            return Result(requeue_after=period - since)  # an update of our own, or a resync: wait for the period
        self._synced[key] = (self.clock(), generation)
        try:
            self._reconcile_autoscaler(key, copy.deepcopy(hpa))
        except errors.ApiError as exc:
            log.warning("%s: %s", key, exc.message)
        return Result(requeue_after=period)

    # ---- one sync --------------------------------------------------------------------------------

    def _reconcile_autoscaler(self, key: str, hpa: Obj) -> None:
        before = copy.deepcopy(hpa.get("status") or {})
        status = hpa["status"] = copy.deepcopy(before)
        now, stamp = self.wall_clock(), format_time(self.wall_clock())
        spec, meta = hpa.get("spec") or {}, hpa["metadata"]
        ref = spec.get("scaleTargetRef") or {}
        namespace = meta.get("namespace")
        target = by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        try:
            if target is None or "scale" not in target.subresources:
                group = ref.get("apiVersion", "").rpartition("/")[0]
                raise errors.NotFoundError(f'no matches for kind "{ref.get("kind")}" in group "{group}"')
            scale = self.client.scale(target, ref.get("name", ""), namespace=namespace)
        except errors.ApiError as exc:
            self.events.record(hpa, reason="FailedGetScale", message=exc.message, event_type="Warning")
            set_condition(status, "AbleToScale", "False", "FailedGetScale",
                          f"the HPA controller was unable to get the target's current scale: {exc.message}", stamp)
            self._write_status(hpa, before)
            return
        set_condition(status, "AbleToScale", "True", "SucceededGetScale",
                      "the HPA controller was able to get the target's current scale", stamp)
        current = int((scale.get("spec") or {}).get("replicas") or 0)
        history = self._histories.setdefault(key, ScalingHistory())
        history.record_initial(current, now)
        minimum, maximum = spec.get("minReplicas") or 1, spec.get("maxReplicas") or 1
        metric_statuses: list[Obj] | None = None
        reason, rescale, desired = "", True, 0
        if current == 0 and minimum != 0:
            rescale = False
            set_condition(status, "ScalingActive", "False", "ScalingDisabled",
                          "scaling is disabled since the replica count of the target is zero", stamp)
        elif current > maximum:
            reason, desired = "Current number of replicas above Spec.MaxReplicas", maximum
        elif current < minimum:
            reason, desired = "Current number of replicas below Spec.MinReplicas", minimum
        else:
            try:
                proposal, metric, metric_statuses = self._replicas_for_metrics(key, hpa, scale, current, now, stamp)
            except MetricError as exc:
                self._set_status(hpa, current, status.get("desiredReplicas", 0), exc.metric_statuses, False, now)
                self._write_status(hpa, before)
                self.events.record(hpa, reason="FailedComputeMetricsReplicas", message=str(exc), event_type="Warning")
                return
            desired = proposal
            if desired > current:
                reason = f"{metric} above target"
            elif desired < current:
                reason = "All metrics below target"
            normalized = hpa_scaling.normalize(history, spec.get("behavior"), current=current, desired=desired,
                                               min_replicas=minimum, max_replicas=maximum, now=now,
                                               downscale_window=self.settings.downscale_stabilization)
            set_condition(status, "AbleToScale", "True", normalized.able_reason, normalized.able_message, stamp)
            set_condition(status, "ScalingLimited", "True" if normalized.limited else "False",
                          normalized.limited_reason, normalized.limited_message, stamp)
            desired = normalized.replicas
            rescale = desired != current
        if rescale:
            try:
                self.client.scale(target, ref.get("name", ""), namespace=namespace, replicas=desired)
            except errors.ApiError as exc:
                self.events.record(hpa, reason="FailedRescale", event_type="Warning",
                                   message=f"New size: {desired}; reason: {reason}; error: {exc.message}")
                set_condition(status, "AbleToScale", "False", "FailedUpdateScale",
                              f"the HPA controller was unable to update the target scale: {exc.message}", stamp)
                self._set_status(hpa, current, status.get("desiredReplicas", 0), metric_statuses, False, now)
                self._write_status(hpa, before)
                return
            set_condition(status, "AbleToScale", "True", "SucceededRescale",
                          f"the HPA controller was able to update the target scale to {desired}", stamp)
            self.events.record(hpa, reason="SuccessfulRescale", message=f"New size: {desired}; reason: {reason}")
            hpa_scaling.record_scale(history, spec.get("behavior"), previous=current, new=desired, now=now)
            log.info("%s: rescaled %s from %d to %d: %s", key, ref.get("name"), current, desired, reason)
        else:
            desired = current
        self._set_status(hpa, current, desired, metric_statuses, rescale, now)
        self._write_status(hpa, before)

    def _set_status(self, hpa: Obj, current: int, desired: int, metrics: list[Obj] | None, rescaled: bool,
                    now: float) -> None:
        """`setStatus`: the counts, the metrics and (after a rescale) the scale time; conditions stay."""
        old = hpa["status"]
        status: Obj = {"observedGeneration": hpa["metadata"].get("generation", 0), "currentReplicas": current,
                       "desiredReplicas": desired}
        last = format_time(now) if rescaled else old.get("lastScaleTime")
        if last:
            status["lastScaleTime"] = last
        if metrics:
            status["currentMetrics"] = metrics
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        hpa["status"] = status

    def _write_status(self, hpa: Obj, before: Obj) -> None:
        """Write the status when it changed (unconditionally: only this controller writes it)."""
        if hpa["status"] == before:
            return
        meta = hpa["metadata"]
        body = {"apiVersion": _HPAS.api_version, "kind": _HPAS.kind, "status": hpa["status"],
                "metadata": {"name": meta["name"], "namespace": meta.get("namespace")}}
        try:
            self.client.update_status(body)
        except errors.ApiError as exc:
            self.events.record(hpa, reason="FailedUpdateStatus", message=exc.message, event_type="Warning")
            log.warning("updating the status of HPA %s failed: %s", meta["name"], exc.message)

    # ---- metrics -------------------------------------------------------------------------------

    def _replicas_for_metrics(self, key: str, hpa: Obj, scale: Obj, current: int, now: float,
                              stamp: str) -> tuple[int, str, list[Obj]]:
        """`computeReplicasForMetrics`: the largest proposal of the valid metrics, its name, and every
        metric's status; MetricError (with the statuses) when no count may be acted on."""
        status, specs = hpa["status"], (hpa.get("spec") or {}).get("metrics") or []
        pods, selector = self._selected_pods(key, hpa, scale, stamp)
        statuses: list[Obj] = [{"type": ""} for _ in specs]
        replicas, metric, invalid, first = 0, "", 0, None
        for i, spec in enumerate(specs):
            try:
                proposal, name, statuses[i] = self._replicas_for_metric(hpa, spec, pods, selector, current, now)
            except MetricError as exc:
                self.events.record(hpa, reason=exc.reason, message=str(exc), event_type="Warning")
                invalid += 1
                first = first or exc
                continue
            if replicas == 0 or proposal > replicas:
                replicas, metric = proposal, name
        if invalid >= len(specs) or (invalid and replicas < current):
            assert first is not None or not specs
            reason = first.reason if first else "InvalidMetricSourceType"
            detail = str(first) if first else "no metrics to compute a replica count from"
            set_condition(status, "ScalingActive", "False", reason,
                          f"the HPA was unable to compute the replica count: {detail}", stamp)
            raise MetricError(reason, f"invalid metrics ({invalid} invalid out of {len(specs)}), first error is: "
                                      f"{detail}", statuses)
        set_condition(status, "ScalingActive", "True", "ValidMetricFound",
                      f"the HPA was able to successfully calculate a replica count from {metric}", stamp)
        return replicas, metric, statuses

    def _selected_pods(self, key: str, hpa: Obj, scale: Obj, stamp: str) -> tuple[list[Obj], str]:
        """`validateAndParseSelector`: the pods the target's selector selects (from the cache), and the selector."""
        raw = (scale.get("status") or {}).get("selector") or ""
        namespace = hpa["metadata"].get("namespace")
        problem: tuple[str, str, str] | None = None
        if not raw:
            problem = ("SelectorRequired", "InvalidSelector", "the HPA target's scale is missing a selector")
            message = "selector is required"
        else:
            try:
                selector = selectors.parse_label_selector(raw)
            except errors.ApiError as exc:
                message = f"couldn't convert selector into a corresponding internal selector object: {exc.message}"
                problem = ("InvalidSelector", "InvalidSelector", message)
        if problem is None:
            self._selectors[key] = selector
            pods = [p for p in self._pods.list() if p["metadata"].get("namespace") == namespace
                    and selector.matches(p["metadata"].get("labels") or {})]
            others = sorted(k for k, s in self._selectors.items() if k != key and k.startswith(f"{namespace}/")
                            and any(s.matches(p["metadata"].get("labels") or {}) for p in pods))
            if not others:
                return pods, raw
            message = f"pods by selector {raw} are controlled by multiple HPAs: [{' '.join([key, *others])}]"
            problem = ("AmbiguousSelector", "AmbiguousSelector", message)
        event_reason, condition_reason, condition_message = problem
        self.events.record(hpa, reason=event_reason, message=message, event_type="Warning")
        set_condition(hpa["status"], "ScalingActive", "False", condition_reason, condition_message, stamp)
        raise MetricError(condition_reason, message)

    def _replicas_for_metric(self, hpa: Obj, spec: Obj, pods: list[Obj], selector: str, current: int,
                             now: float) -> tuple[int, str, Obj]:
        """`computeReplicasForMetric` for one MetricSpec: (proposal, metric name, MetricStatus)."""
        kind = spec.get("type")
        if kind in _UNSERVED:
            raise MetricError(_UNSERVED[kind], f"unable to get {kind.lower()} metric: the custom and external metrics "
                                               f"APIs are not served by minik8s")
        if kind not in ("Resource", "ContainerResource"):
            raise MetricError("InvalidMetricSourceType", f'unknown metric source type "{kind}"')
        key = "resource" if kind == "Resource" else "containerResource"
        source = spec.get(key) or {}
        name, container = source.get("name", ""), source.get("container", "") if key == "containerResource" else ""
        reason = "FailedGetResourceMetric" if kind == "Resource" else "FailedGetContainerResourceMetric"
        target = source.get("target") or {}
        what = f"{name} resource metric value" if kind == "Resource" else f"{container} container metric value"
        try:
            metrics = self._pod_metrics(hpa["metadata"].get("namespace"), selector, name, container)
            settings = self.settings.calculation
            if target.get("averageValue") is not None:
                proposal: Proposal = plain_replicas(current, milli_value(target["averageValue"]), name, pods, metrics,
                                                    now=now, settings=settings)
                current_value: Obj = {"averageValue": format_milli(proposal.usage)}
                metric_name = f"{name} resource"
            elif target.get("averageUtilization") is not None:
                proposal = resource_replicas(current, target["averageUtilization"], name, pods, metrics, now=now,
                                             container=container, settings=settings)
                current_value = {"averageUtilization": proposal.utilization,
                                 "averageValue": format_milli(proposal.usage)}
                metric_name = (f"{name} resource utilization (percentage of request)" if kind == "Resource" else
                               f"{name} container resource utilization (percentage of request)")
            else:
                raise ReplicaCalculationError("invalid resource metric source: neither an average utilization target "
                                              "nor an average value (usage) target was set")
        except (ReplicaCalculationError, ValueError) as exc:
            raise MetricError(reason, f"failed to get {what}: {exc}") from exc
        status: Obj = {"name": name, "current": current_value}
        if container:
            status["container"] = container
        return proposal.replicas, metric_name, {"type": kind, key: status}

    def _pod_metrics(self, namespace: str | None, selector: str, resource: str,
                     container: str) -> dict[str, PodMetric]:
        """The selected pods' usage of `resource` (milli-units) from metrics.k8s.io, as upstream's
        resource metrics client reads it: a pod lacking the container or the resource is left out."""
        try:
            items = self.client.list(_POD_METRICS, namespace=namespace, label_selector=selector).get("items") or []
        except errors.ApiError as exc:
            raise ReplicaCalculationError(f"unable to get metrics for resource {resource}: unable to fetch metrics "
                                          f"from resource metrics API: {exc.message}") from exc
        out = {}
        for item in items:
            name = (item.get("metadata") or {}).get("name")
            usage = [c.get("usage") or {} for c in item.get("containers") or []
                     if not container or c.get("name") == container]
            if not usage or any(resource not in u for u in usage):
                continue
            stamp = parse_time(item.get("timestamp"))
            out[name] = PodMetric(sum(milli_value(u[resource]) for u in usage),
                                  stamp.timestamp() if stamp else 0.0, parse_go_duration(item.get("window") or "0"))
        if not out:
            raise ReplicaCalculationError(f"unable to get metrics for resource {resource}: no metrics returned from "
                                          "resource metrics API")
        return out
