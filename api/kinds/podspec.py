"""The pod template: `PodSpec` and its containers, volumes, probes and scheduling constraints.

Pods, ReplicaSets and Deployments share it, so its schema, defaults, validation and `describe`
section live here once; `minik8s.api.kinds.pod` and the workload kinds use them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from minik8s.api import schema
from minik8s.api.describe import Lines, format_time
from minik8s.api.fields import Causes
from minik8s.api.names import DNS_LABEL, DNS_SUBDOMAIN, PORT_NAME, label_key_problems
from minik8s.api.quantity import parse_quantity
from minik8s.api.tables import dig

from .defaulting import child, default, dicts

Obj = dict[str, Any]

PROTOCOLS = ("TCP", "UDP", "SCTP")
RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")

schema.define(schema.CORE, {
    "PodTemplateSpec": {"metadata": "ObjectMeta", "spec": "PodSpec"},
    "PodSpec": {"containers": "[Container/name]", "initContainers": "[Container/name]",
                "ephemeralContainers": "[Container/name]", "volumes": "[Volume/name]", "restartPolicy": "str",
                "terminationGracePeriodSeconds": "int", "activeDeadlineSeconds": "int", "dnsPolicy": "str",
                "dnsConfig": "PodDNSConfig", "nodeSelector": "map", "serviceAccountName": "str",
                "serviceAccount": "str", "automountServiceAccountToken": "bool", "nodeName": "str",
                "hostNetwork": "bool", "hostPID": "bool", "hostIPC": "bool", "shareProcessNamespace": "bool",
                "securityContext": "PodSecurityContext", "imagePullSecrets": "[LocalObjectReference/name]",
                "hostname": "str", "subdomain": "str", "affinity": "Affinity", "schedulerName": "str",
                "tolerations": "[Toleration]", "hostAliases": "[HostAlias/ip]", "priorityClassName": "str",
                "priority": "int", "readinessGates": "[PodReadinessGate]", "runtimeClassName": "str",
                "enableServiceLinks": "bool", "preemptionPolicy": "str", "setHostnameAsFQDN": "bool",
                "hostUsers": "bool", "os": "PodOS", "schedulingGates": "[PodSchedulingGate/name]",
                "resourceClaims": "[PodResourceClaim/name]", "overhead": "map:quantity",
                "topologySpreadConstraints": "[TopologySpreadConstraint/topologyKey]",
                "resources": "ResourceRequirements", "hostnameOverride": "str", "schedulingGroup": "obj",
                "evictionResponders": "[obj]"},
    "Container": {"name": "str", "image": "str", "command": "[str]", "args": "[str]", "workingDir": "str",
                  "ports": "[ContainerPort/containerPort]", "envFrom": "[EnvFromSource]", "env": "[EnvVar/name]",
                  "resources": "ResourceRequirements", "volumeMounts": "[VolumeMount/mountPath]",
                  "volumeDevices": "[VolumeDevice/devicePath]", "livenessProbe": "Probe", "readinessProbe": "Probe",
                  "startupProbe": "Probe", "lifecycle": "Lifecycle", "terminationMessagePath": "str",
                  "terminationMessagePolicy": "str", "imagePullPolicy": "str", "securityContext": "SecurityContext",
                  "restartPolicy": "str", "stdin": "bool", "stdinOnce": "bool", "tty": "bool",
                  "resizePolicy": "[ContainerResizePolicy]", "restartPolicyRules": "[ContainerRestartRule]"},
    "ContainerResizePolicy": {"resourceName": "str", "restartPolicy": "str"},
    "ContainerRestartRule": {"action": "str", "exitCodes": "ContainerRestartRuleOnExitCodes"},
    "ContainerRestartRuleOnExitCodes": {"operator": "str", "values": "[int]"},
    "ContainerPort": {"name": "str", "hostPort": "int", "containerPort": "int", "protocol": "str", "hostIP": "str"},
    "EnvVar": {"name": "str", "value": "str", "valueFrom": "EnvVarSource"},
    "EnvVarSource": {"fieldRef": "ObjectFieldSelector", "resourceFieldRef": "ResourceFieldSelector",
                     "configMapKeyRef": "ConfigMapKeySelector", "secretKeyRef": "SecretKeySelector",
                     "fileKeyRef": "FileKeySelector"},
    "ObjectFieldSelector": {"apiVersion": "str", "fieldPath": "str"},
    "ResourceFieldSelector": {"containerName": "str", "resource": "str", "divisor": "quantity"},
    "ConfigMapKeySelector": {"name": "str", "key": "str", "optional": "bool"},
    "SecretKeySelector": {"name": "str", "key": "str", "optional": "bool"},
    "FileKeySelector": {"key": "str", "optional": "bool", "path": "str", "volumeName": "str"},
    "EnvFromSource": {"prefix": "str", "configMapRef": "ConfigMapEnvSource", "secretRef": "SecretEnvSource"},
    "ConfigMapEnvSource": {"name": "str", "optional": "bool"},
    "SecretEnvSource": {"name": "str", "optional": "bool"},
    "Lifecycle": {"postStart": "LifecycleHandler", "preStop": "LifecycleHandler", "stopSignal": "str"},
    "LifecycleHandler": {"exec": "ExecAction", "httpGet": "HTTPGetAction", "tcpSocket": "TCPSocketAction",
                         "sleep": "SleepAction"},
    "SleepAction": {"seconds": "int"},
    "PodSecurityContext": {"seLinuxOptions": "SELinuxOptions", "runAsUser": "int", "runAsGroup": "int",
                           "runAsNonRoot": "bool", "supplementalGroups": "[int]", "fsGroup": "int",
                           "sysctls": "[Sysctl]", "fsGroupChangePolicy": "str", "seccompProfile": "SeccompProfile",
                           "appArmorProfile": "AppArmorProfile", "windowsOptions": "WindowsSecurityContextOptions",
                           "supplementalGroupsPolicy": "str", "seLinuxChangePolicy": "str"},
    "SELinuxOptions": {"user": "str", "role": "str", "type": "str", "level": "str"},
    "SeccompProfile": {"type": "str", "localhostProfile": "str"},
    "AppArmorProfile": {"type": "str", "localhostProfile": "str"},
    "Sysctl": {"name": "str", "value": "str"},
    "WindowsSecurityContextOptions": {"gmsaCredentialSpecName": "str", "gmsaCredentialSpec": "str",
                                      "runAsUserName": "str", "hostProcess": "bool"},
    "SecurityContext": {"capabilities": "Capabilities", "privileged": "bool", "seLinuxOptions": "SELinuxOptions",
                        "runAsUser": "int", "runAsGroup": "int", "runAsNonRoot": "bool",
                        "readOnlyRootFilesystem": "bool", "allowPrivilegeEscalation": "bool", "procMount": "str",
                        "seccompProfile": "SeccompProfile", "appArmorProfile": "AppArmorProfile",
                        "windowsOptions": "WindowsSecurityContextOptions"},
    "Capabilities": {"add": "[str]", "drop": "[str]"},
    "PodDNSConfig": {"nameservers": "[str]", "searches": "[str]", "options": "[PodDNSConfigOption]"},
    "PodDNSConfigOption": {"name": "str", "value": "str"},
    "PodOS": {"name": "str"},
    "PodResourceClaim": {"name": "str", "resourceClaimName": "str", "resourceClaimTemplateName": "str"},
    "Affinity": {"nodeAffinity": "NodeAffinity", "podAffinity": "PodAffinity", "podAntiAffinity": "PodAffinity"},
    "NodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": "NodeSelector",
                     "preferredDuringSchedulingIgnoredDuringExecution": "[PreferredSchedulingTerm]"},
    "NodeSelector": {"nodeSelectorTerms": "[NodeSelectorTerm]"},
    "NodeSelectorTerm": {"matchExpressions": "[NodeSelectorRequirement]", "matchFields": "[NodeSelectorRequirement]"},
    "NodeSelectorRequirement": {"key": "str", "operator": "str", "values": "[str]"},
    "PreferredSchedulingTerm": {"weight": "int", "preference": "NodeSelectorTerm"},
    "PodAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": "[PodAffinityTerm]",
                    "preferredDuringSchedulingIgnoredDuringExecution": "[WeightedPodAffinityTerm]"},
    "PodAffinityTerm": {"labelSelector": "LabelSelector", "namespaces": "[str]", "topologyKey": "str",
                        "namespaceSelector": "LabelSelector", "matchLabelKeys": "[str]",
                        "mismatchLabelKeys": "[str]"},
    "WeightedPodAffinityTerm": {"weight": "int", "podAffinityTerm": "PodAffinityTerm"},
    "TopologySpreadConstraint": {"maxSkew": "int", "topologyKey": "str", "whenUnsatisfiable": "str",
                                 "labelSelector": "LabelSelector", "minDomains": "int", "nodeAffinityPolicy": "str",
                                 "nodeTaintsPolicy": "str", "matchLabelKeys": "[str]"},
    "ResourceRequirements": {"limits": "map:quantity", "requests": "map:quantity", "claims": "[ResourceClaim/name]"},
    "ResourceClaim": {"name": "str", "request": "str"},
    "VolumeMount": {"name": "str", "readOnly": "bool", "mountPath": "str", "subPath": "str",
                    "mountPropagation": "str", "subPathExpr": "str", "recursiveReadOnly": "str",
                    "bindMountOptions": "[str]"},
    "VolumeDevice": {"name": "str", "devicePath": "str"},
    "Probe": {"exec": "ExecAction", "httpGet": "HTTPGetAction", "tcpSocket": "TCPSocketAction", "grpc": "GRPCAction",
              "initialDelaySeconds": "int", "timeoutSeconds": "int", "periodSeconds": "int",
              "successThreshold": "int", "failureThreshold": "int", "terminationGracePeriodSeconds": "int"},
    "ExecAction": {"command": "[str]"},
    "HTTPGetAction": {"path": "str", "port": "intstr", "host": "str", "scheme": "str", "httpHeaders": "[HTTPHeader]",
                      "protocol": "str"},
    "HTTPHeader": {"name": "str", "value": "str"},
    "GRPCAction": {"port": "int", "service": "str", "mode": "str"},
    "TCPSocketAction": {"port": "intstr", "host": "str"},
    "Volume": {"name": "str", "emptyDir": "EmptyDirVolumeSource", "hostPath": "HostPathVolumeSource",
               "configMap": "ConfigMapVolumeSource", "secret": "SecretVolumeSource",
               "persistentVolumeClaim": "PersistentVolumeClaimVolumeSource", "projected": "ProjectedVolumeSource",
               "downwardAPI": "DownwardAPIVolumeSource", "nfs": "NFSVolumeSource", "csi": "CSIVolumeSource",
               "image": "ImageVolumeSource", "gcePersistentDisk": "obj", "awsElasticBlockStore": "obj",
               "gitRepo": "obj", "iscsi": "obj", "glusterfs": "obj", "rbd": "obj", "flexVolume": "obj",
               "cinder": "obj", "cephfs": "obj", "flocker": "obj", "fc": "obj", "azureFile": "obj",
               "vsphereVolume": "obj", "quobyte": "obj", "azureDisk": "obj", "photonPersistentDisk": "obj",
               "portworxVolume": "obj", "scaleIO": "obj", "storageos": "obj", "ephemeral": "obj"},
    "NFSVolumeSource": {"server": "str", "path": "str", "readOnly": "bool"},
    "CSIVolumeSource": {"driver": "str", "readOnly": "bool", "fsType": "str", "volumeAttributes": "map",
                        "nodePublishSecretRef": "LocalObjectReference"},
    "ImageVolumeSource": {"reference": "str", "pullPolicy": "str"},
    "PersistentVolumeClaimVolumeSource": {"claimName": "str", "readOnly": "bool"},
    "ProjectedVolumeSource": {"sources": "[VolumeProjection]", "defaultMode": "int", "defaultUser": "int"},
    "VolumeProjection": {"secret": "SecretProjection", "configMap": "ConfigMapProjection",
                         "downwardAPI": "DownwardAPIProjection",
                         "serviceAccountToken": "ServiceAccountTokenProjection", "clusterTrustBundle": "obj",
                         "podCertificate": "obj"},
    "SecretProjection": {"name": "str", "items": "[KeyToPath]", "optional": "bool"},
    "ConfigMapProjection": {"name": "str", "items": "[KeyToPath]", "optional": "bool"},
    "DownwardAPIProjection": {"items": "[DownwardAPIVolumeFile]"},
    "DownwardAPIVolumeSource": {"items": "[DownwardAPIVolumeFile]", "defaultMode": "int", "defaultUser": "int"},
    "DownwardAPIVolumeFile": {"path": "str", "fieldRef": "ObjectFieldSelector",
                              "resourceFieldRef": "ResourceFieldSelector", "mode": "int", "user": "int"},
    "ServiceAccountTokenProjection": {"audience": "str", "expirationSeconds": "int", "path": "str", "user": "int"},
    "EmptyDirVolumeSource": {"medium": "str", "sizeLimit": "quantity", "mode": "int"},
    "HostPathVolumeSource": {"path": "str", "type": "str"},
    "ConfigMapVolumeSource": {"name": "str", "items": "[KeyToPath]", "defaultMode": "int", "optional": "bool",
                              "defaultUser": "int"},
    "SecretVolumeSource": {"secretName": "str", "items": "[KeyToPath]", "defaultMode": "int", "optional": "bool",
                           "defaultUser": "int"},
    "KeyToPath": {"key": "str", "path": "str", "mode": "int", "user": "int"},
    "LocalObjectReference": {"name": "str"},
    "ObjectReference": {"kind": "str", "namespace": "str", "name": "str", "uid": "str", "apiVersion": "str",
                        "resourceVersion": "str", "fieldPath": "str"},
    "Toleration": {"key": "str", "operator": "str", "value": "str", "effect": "str", "tolerationSeconds": "int"},
    "HostAlias": {"ip": "str", "hostnames": "[str]"},
    "PodReadinessGate": {"conditionType": "str"},
    "PodSchedulingGate": {"name": "str"},
})

_POD_SPEC_DEFAULTS = {
    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
    "schedulerName": "default-scheduler",
}
_PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
_CONTAINER_DEFAULTS = {"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}


# ---- defaults -----------------------------------------------------------------------------------

def default_pull_policy(image: Any) -> str:
    """Kubernetes' `imagePullPolicy` default: Always for an image tagged `latest`, or with neither tag nor
    digest (Docker then pulls `latest`), else IfNotPresent."""
    if not isinstance(image, str) or not image:
        return "IfNotPresent"
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.rpartition(":")[2] if ":" in last else ""
    if not tag:
        return "IfNotPresent" if digest else "Always"
    return "Always" if tag == "latest" else "IfNotPresent"


def default_pod_spec(spec: Obj) -> None:
    """Kubernetes' defaults of a pod spec and its containers (in place)."""
    for key, value in _POD_SPEC_DEFAULTS.items():
        default(spec, key, value)
    for volume in dicts(spec.get("volumes")):
        for kind in ("configMap", "secret", "downwardAPI", "projected"):
            if isinstance(volume.get(kind), dict):
                default(volume[kind], "defaultMode", 0o644)
    for container in dicts(spec.get("containers")) + dicts(spec.get("initContainers")):
        default(container, "imagePullPolicy", default_pull_policy(container.get("image")))
        for key, value in _CONTAINER_DEFAULTS.items():
            default(container, key, value)
        _default_handlers(container)
        for port in dicts(container.get("ports")):
            default(port, "protocol", "TCP")
        resources = child(container, "resources")
        if resources is not None and isinstance(resources.get("limits"), dict) and resources["limits"]:
            if (requests := child(resources, "requests")) is not None:
                for name, limit in resources["limits"].items():  # requests default to limits
                    default(requests, name, limit)


def _default_handlers(container: Obj) -> None:
    """Probe timings (SetDefaults_Probe) and httpGet's scheme and path, in probes and lifecycle hooks."""
    handlers = []
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(probe := container.get(kind), dict):
            for key, value in _PROBE_DEFAULTS.items():
                default(probe, key, value)
            handlers.append(probe)
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        handlers += [h for h in (lifecycle.get("postStart"), lifecycle.get("preStop")) if isinstance(h, dict)]
    for handler in handlers:
        if isinstance(action := handler.get("httpGet"), dict):
            default(action, "scheme", "HTTP")
            if not action.get("path"):
                action["path"] = "/"


# ---- validation ---------------------------------------------------------------------------------

def validate_pod_spec(c: Causes, path: str, spec: Obj, restart_policies: Iterable[str]) -> None:
    """What is wrong with a pod spec at `path` (a pod's `spec`, a template's `spec.template.spec`)."""
    volumes: set[str] = set()
    for p, volume in c.objects(f"{path}.volumes", spec.get("volumes")):
        c.name(f"{p}.name", volume.get("name"), DNS_LABEL, required=True, seen=volumes)
    names: set[str] = set()
    for p, container in c.objects(f"{path}.containers", spec.get("containers"), required=True):
        _container(c, p, container, volumes, names)
    for p, container in c.objects(f"{path}.initContainers", spec.get("initContainers")):
        _container(c, p, container, volumes, names)
    c.choice(f"{path}.restartPolicy", spec.get("restartPolicy"), restart_policies)
    c.choice(f"{path}.dnsPolicy", spec.get("dnsPolicy"), DNS_POLICIES)
    _dns_config(c, path, spec)
    c.string_map(f"{path}.nodeSelector", spec.get("nodeSelector"))
    c.integer(f"{path}.terminationGracePeriodSeconds", spec.get("terminationGracePeriodSeconds"), minimum=0)
    c.integer(f"{path}.activeDeadlineSeconds", spec.get("activeDeadlineSeconds"), minimum=1)
    c.name(f"{path}.nodeName", spec.get("nodeName"), DNS_SUBDOMAIN)
    c.string(f"{path}.schedulerName", spec.get("schedulerName"))
    for p, toleration in c.objects(f"{path}.tolerations", spec.get("tolerations")):
        c.choice(f"{p}.operator", toleration.get("operator"), ("Equal", "Exists"))
        c.choice(f"{p}.effect", toleration.get("effect"), ("NoSchedule", "PreferNoSchedule", "NoExecute"))
    if (affinity := c.object(f"{path}.affinity", spec.get("affinity"))) is not None:
        _affinity(c, f"{path}.affinity", affinity)


MAX_DNS_NAMESERVERS, MAX_DNS_SEARCHES, MAX_DNS_SEARCH_CHARS = 3, 32, 2048


def _dns_config(c: Causes, path: str, spec: Obj) -> None:
    """`dnsConfig` as validatePodDNSConfig checks it (and its presence for dnsPolicy None)."""
    none = spec.get("dnsPolicy") == "None"
    if none and spec.get("dnsConfig") is None:
        c.required(f"{path}.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None")
    config = c.object(f"{path}.dnsConfig", spec.get("dnsConfig"))
    if config is None:
        return
    p = f"{path}.dnsConfig"
    nameservers = c.strings(f"{p}.nameservers", config.get("nameservers"))
    if none and not nameservers:
        c.required(f"{p}.nameservers", "must provide at least one DNS nameserver when `dnsPolicy` is None")
    if len(nameservers) > MAX_DNS_NAMESERVERS:
        c.invalid(f"{p}.nameservers", nameservers, f"must not have more than {MAX_DNS_NAMESERVERS} nameservers")
    for i, nameserver in enumerate(nameservers):
        c.ip(f"{p}.nameservers[{i}]", nameserver, required=True)
    searches = c.strings(f"{p}.searches", config.get("searches"))
    if len(searches) > MAX_DNS_SEARCHES:
        c.invalid(f"{p}.searches", searches, f"must not have more than {MAX_DNS_SEARCHES} search paths")
    if len(" ".join(searches)) > MAX_DNS_SEARCH_CHARS:
        c.invalid(f"{p}.searches", searches, f"must not have more than {MAX_DNS_SEARCH_CHARS} characters "
                                             "(including spaces) in the search list")
    for i, search in enumerate(searches):
        if search != ".":  # a trailing dot is allowed, as kube-apiserver allows it
            c.name(f"{p}.searches[{i}]", search.removesuffix("."), DNS_SUBDOMAIN, required=True)
    for at, option in c.objects(f"{p}.options", config.get("options")):
        if not c.string(f"{at}.name", option.get("name")):
            c.required(at, "must not be empty")
        c.string(f"{at}.value", option.get("value"))


def _affinity(c: Causes, path: str, affinity: Obj) -> None:
    """Node and pod (anti-)affinity as `ValidateAffinity` checks them."""
    node = c.object(f"{path}.nodeAffinity", affinity.get("nodeAffinity")) or {}
    required_path = f"{path}.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    required = c.object(required_path, node.get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is not None:
        terms = c.array(f"{required_path}.nodeSelectorTerms", required.get("nodeSelectorTerms"))
        if not terms:
            c.required(f"{required_path}.nodeSelectorTerms", "must have at least one node selector term")
        for p, term in c.objects(f"{required_path}.nodeSelectorTerms", terms):
            _node_selector_term(c, p, term)
    preferred_path = f"{path}.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution"
    for p, preferred in c.objects(preferred_path, node.get("preferredDuringSchedulingIgnoredDuringExecution")):
        c.integer(f"{p}.weight", preferred.get("weight"), minimum=1, maximum=100, required=True)
        if (term := c.object(f"{p}.preference", preferred.get("preference"), required=True)) is not None:
            _node_selector_term(c, f"{p}.preference", term)
    for kind in ("podAffinity", "podAntiAffinity"):
        pod = c.object(f"{path}.{kind}", affinity.get(kind)) or {}
        for p, term in c.objects(f"{path}.{kind}.requiredDuringSchedulingIgnoredDuringExecution",
                                 pod.get("requiredDuringSchedulingIgnoredDuringExecution")):
            _pod_affinity_term(c, p, term)
        for p, weighted in c.objects(f"{path}.{kind}.preferredDuringSchedulingIgnoredDuringExecution",
                                     pod.get("preferredDuringSchedulingIgnoredDuringExecution")):
            c.integer(f"{p}.weight", weighted.get("weight"), minimum=1, maximum=100, required=True)
            term = c.object(f"{p}.podAffinityTerm", weighted.get("podAffinityTerm"), required=True)
            if term is not None:
                _pod_affinity_term(c, f"{p}.podAffinityTerm", term)


_NODE_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")


def _node_selector_term(c: Causes, path: str, term: Obj) -> None:
    for p, requirement in c.objects(f"{path}.matchExpressions", term.get("matchExpressions")):
        operator, values = c.requirement(p, requirement, _NODE_OPERATORS)
        if operator in ("Gt", "Lt") and (len(values) != 1 or not values[0].lstrip("-").isdigit()):
            c.required(f"{p}.values", "must be specified single value when `operator` is 'Lt' or 'Gt'")
    for p, requirement in c.objects(f"{path}.matchFields", term.get("matchFields")):
        if c.string(f"{p}.key", requirement.get("key"), required=True) not in (None, "metadata.name"):
            c.invalid(f"{p}.key", requirement.get("key"), "not a valid field selector key")
        operator = c.choice(f"{p}.operator", requirement.get("operator"), ("In", "NotIn"), required=True)
        if operator and len(c.strings(f"{p}.values", requirement.get("values"))) != 1:
            c.required(f"{p}.values", "must be only one value when `operator` is 'In' or 'NotIn' for node field "
                                      "selector")


def _pod_affinity_term(c: Causes, path: str, term: Obj) -> None:
    key = c.string(f"{path}.topologyKey", term.get("topologyKey"), required=True)
    for problem in label_key_problems(key) if key else ():
        c.invalid(f"{path}.topologyKey", key, problem)
    c.strings(f"{path}.namespaces", term.get("namespaces"))


def _container(c: Causes, path: str, container: Obj, volumes: set[str], names: set[str]) -> None:
    c.name(f"{path}.name", container.get("name"), DNS_LABEL, required=True, seen=names)
    c.string(f"{path}.image", container.get("image"), required=True)
    c.choice(f"{path}.imagePullPolicy", container.get("imagePullPolicy"), ("Always", "IfNotPresent", "Never"))
    c.strings(f"{path}.command", container.get("command"))
    c.strings(f"{path}.args", container.get("args"))
    for p, port in c.objects(f"{path}.ports", container.get("ports")):
        c.integer(f"{p}.containerPort", port.get("containerPort"), minimum=1, maximum=65535, required=True)
        c.integer(f"{p}.hostPort", port.get("hostPort"), minimum=1, maximum=65535)
        c.choice(f"{p}.protocol", port.get("protocol"), PROTOCOLS)
        c.name(f"{p}.name", port.get("name"), PORT_NAME)
        c.ip(f"{p}.hostIP", port.get("hostIP"))
    validate_env(c, f"{path}.env", container.get("env"))
    validate_resources(c, f"{path}.resources", container.get("resources"))
    for p, mount in c.objects(f"{path}.volumeMounts", container.get("volumeMounts")):
        volume = c.string(f"{p}.name", mount.get("name"), required=True)
        if volume and volume not in volumes:
            c.not_found(f"{p}.name", volume)
        c.string(f"{p}.mountPath", mount.get("mountPath"), required=True)
        c.boolean(f"{p}.readOnly", mount.get("readOnly"))


def validate_env(c: Causes, path: str, value: Any) -> None:
    """A list of `EnvVar`s (a container's `env`, a Function's `spec.env`)."""
    for p, env in c.objects(path, value):
        c.string(f"{p}.name", env.get("name"), required=True)
        c.string(f"{p}.value", env.get("value"))
        c.object(f"{p}.valueFrom", env.get("valueFrom"))


def validate_resources(c: Causes, path: str, value: Any) -> None:
    """`ResourceRequirements`: quantities that parse and are not negative, requests within limits."""
    resources = c.object(path, value) or {}
    limits = _quantities(c, f"{path}.limits", resources.get("limits"))
    requests = _quantities(c, f"{path}.requests", resources.get("requests"))
    for name, (raw, request) in requests.items():
        if name in limits and request > limits[name][1]:
            limit = limits[name][0]
            c.invalid(f"{path}.requests[{name}]", raw, f"must be less than or equal to {name} limit of {limit}")


def _quantities(c: Causes, path: str, value: Any) -> dict[str, tuple[Any, float]]:
    """The valid quantities of a resource list, as name → (as written, parsed)."""
    parsed: dict[str, tuple[Any, float]] = {}
    for name, raw in (c.object(path, value) or {}).items():
        try:
            quantity = parse_quantity(raw)
        except ValueError as err:
            c.invalid(f"{path}[{name}]", raw, str(err))
            continue
        if quantity < 0:
            c.invalid(f"{path}[{name}]", raw, "must be greater than or equal to 0")
        parsed[name] = (raw, quantity)
    return parsed


# ---- describe -----------------------------------------------------------------------------------

def _describe_container_state(out: Lines, level: int, title: str, state: Obj | None) -> None:
    """`State:` / `Last State:` of a container with the details of that state."""
    state = state or {}
    if "running" in state:
        out.add(level, f"{title}:", "Running")
        out.add(level + 1, "Started:", format_time(dig(state, "running", "startedAt")))
    elif "terminated" in state:
        term = state["terminated"] or {}
        out.add(level, f"{title}:", "Terminated")
        out.add(level + 1, "Reason:", term.get("reason", ""))
        out.add(level + 1, "Exit Code:", term.get("exitCode", 0))
        out.add(level + 1, "Started:", format_time(term.get("startedAt")))
        out.add(level + 1, "Finished:", format_time(term.get("finishedAt")))
    elif "waiting" in state:
        out.add(level, f"{title}:", "Waiting")
        out.add(level + 1, "Reason:", dig(state, "waiting", "reason", default=""))
    elif title == "State":
        out.add(level, f"{title}:", "Waiting")


def _probe_line(probe: Obj) -> str:
    """A probe as `kubectl describe` prints it: `http-get http://:8080/ready delay=0s timeout=1s period=10s ...`."""
    if isinstance(action := probe.get("exec"), dict):
        what = f"exec [{' '.join(map(str, action.get('command') or []))}]"
    elif isinstance(action := probe.get("httpGet"), dict):
        scheme = str(action.get("scheme") or "HTTP").lower()
        what = f"http-get {scheme}://{action.get('host', '')}:{action.get('port')}{action.get('path', '/')}"
    elif isinstance(action := probe.get("tcpSocket"), dict):
        what = f"tcp-socket {action.get('host', '')}:{action.get('port')}"
    elif isinstance(action := probe.get("grpc"), dict):
        what = f"grpc <pod>:{action.get('port')} {action.get('service', '')}".rstrip()
    else:
        what = "unknown"
    return (f"{what} delay={probe.get('initialDelaySeconds', 0)}s timeout={probe.get('timeoutSeconds', 1)}s "
            f"period={probe.get('periodSeconds', 10)}s #success={probe.get('successThreshold', 1)} "
            f"#failure={probe.get('failureThreshold', 3)}")


def _env_value(var: Obj) -> str:
    """An env var's value, or where it comes from, as `kubectl describe` says it."""
    if "value" in var or not isinstance(source := var.get("valueFrom"), dict):
        return str(var.get("value", ""))
    if isinstance(ref := source.get("configMapKeyRef"), dict):
        return (f"<set to the key '{ref.get('key')}' of config map '{ref.get('name')}'>  "
                f"Optional: {str(bool(ref.get('optional'))).lower()}")
    if isinstance(ref := source.get("secretKeyRef"), dict):
        return (f"<set to the key '{ref.get('key')}' in secret '{ref.get('name')}'>  "
                f"Optional: {str(bool(ref.get('optional'))).lower()}")
    if isinstance(ref := source.get("fieldRef"), dict):
        return f"({ref.get('apiVersion', 'v1')}:{ref.get('fieldPath')})"
    if isinstance(ref := source.get("resourceFieldRef"), dict):
        return f"{ref.get('resource')} ({ref.get('containerName') or 'this container'})"
    return "<set from a source>"


def describe_containers(out: Lines, level: int, containers: list[Obj], statuses: list[Obj] | None, *,
                        title: str = "Containers") -> None:
    """The `Containers:` (or `Init Containers:`) section; `statuses` is None for a pod template (no runtime state)."""
    by_name = {s.get("name"): s for s in statuses or []}
    out.add(level, f"{title}:")
    for container in containers:
        out.add(level + 1, f"{container.get('name', '')}:")
        out.add(level + 2, "Image:", container.get("image", ""))
        ports = [f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in container.get("ports") or []]
        out.add(level + 2, "Port:" if len(ports) < 2 else "Ports:", ", ".join(ports) or "<none>")
        if container.get("command"):
            out.add(level + 2, "Command:", " ".join(container["command"]))
        if container.get("args"):
            out.add(level + 2, "Args:", " ".join(container["args"]))
        if statuses is not None:
            status = by_name.get(container.get("name"), {})
            _describe_container_state(out, level + 2, "State", status.get("state"))
            _describe_container_state(out, level + 2, "Last State", status.get("lastState"))
            out.add(level + 2, "Ready:", bool(status.get("ready")))
            out.add(level + 2, "Restart Count:", status.get("restartCount", 0))
        for kind in ("Liveness", "Readiness", "Startup"):
            if isinstance(probe := container.get(f"{kind.lower()}Probe"), dict):
                out.add(level + 2, f"{kind}:", _probe_line(probe))
        sources = [s for s in container.get("envFrom") or [] if isinstance(s, dict)]
        if sources:
            out.add(level + 2, "Environment Variables from:")
            for source in sources:
                kind, ref = (("ConfigMap", source["configMapRef"]) if isinstance(source.get("configMapRef"), dict)
                             else ("Secret", source.get("secretRef") or {}))
                prefix = f"  with prefix '{source['prefix']}'" if source.get("prefix") else ""
                out.add(level + 3, str(ref.get("name", "")),
                        f"{kind}{prefix}  Optional: {str(bool(ref.get('optional'))).lower()}")
        env = container.get("env") or []
        if not env:
            out.add(level + 2, "Environment:", "<none>")
            continue
        out.add(level + 2, "Environment:")
        for var in env:
            out.add(level + 3, f"{var.get('name', '')}:", _env_value(var))
