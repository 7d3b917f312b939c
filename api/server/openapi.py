"""OpenAPI v3 documents for the served resources, as kubectl reads them.

kubectl uses `/openapi/v3` for three things: to learn that the server validates fields itself
(a PATCH operation declaring the `fieldValidation` query parameter, so kubectl sends
`fieldValidation=Strict` instead of validating on the client), to compute client-side `apply`
patches (schemas carrying `x-kubernetes-patch-merge-key` / `x-kubernetes-patch-strategy`, found
through `x-kubernetes-group-version-kind`) and for `kubectl explain`.

Schemas are written in a compact notation (`_TYPES`) and expanded once at registration. Field
types: `str int bool num time` scalars, `intstr` (int-or-string), `quantity` (a resource quantity:
a string such as "500m", or a number), `map` (string to string), `map:quantity`, `obj` (free-form),
`[T]` a list, `[T/key]` a list merged by `key`,
`[T/]` a list merged as a set; a capitalised name refers to another schema (looked up in its own
package, then core/v1, then meta/v1). Every object keeps unknown fields
(`x-kubernetes-preserve-unknown-fields`): the descriptions are partial and must never make a
client reject a valid object. Kinds without a description get a free-form `spec` and `status`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import falcon

from minik8s.api import errors
from minik8s.api.kinds import RESOURCES, ResourceType

from .discovery import subresource, subresource_kind

Json = dict[str, Any]

_META = "io.k8s.apimachinery.pkg.apis.meta.v1"
_CORE = "io.k8s.api.core.v1"
_REF = "#/components/schemas/"

_COND = "[Condition/type]"
_TYPES: dict[str, dict[str, dict[str, str]]] = {
    _META: {
        "ObjectMeta": {"name": "str", "generateName": "str", "namespace": "str", "uid": "str",
                       "resourceVersion": "str", "generation": "int", "creationTimestamp": "time",
                       "deletionTimestamp": "time", "deletionGracePeriodSeconds": "int", "labels": "map",
                       "annotations": "map", "ownerReferences": "[OwnerReference/uid]", "finalizers": "[str/]",
                       "managedFields": "[ManagedFieldsEntry]", "selfLink": "str"},
        "ManagedFieldsEntry": {"manager": "str", "operation": "str", "apiVersion": "str", "time": "time",
                               "fieldsType": "str", "fieldsV1": "obj", "subresource": "str"},
        "Condition": {"type": "str", "status": "str", "reason": "str", "message": "str",
                      "lastTransitionTime": "time", "lastProbeTime": "time", "lastHeartbeatTime": "time",
                      "lastUpdateTime": "time", "observedGeneration": "int"},
        "DeleteOptions": {"kind": "str", "apiVersion": "str", "gracePeriodSeconds": "int",
                          "preconditions": "Preconditions", "orphanDependents": "bool", "propagationPolicy": "str",
                          "dryRun": "[str]"},
        "Preconditions": {"uid": "str", "resourceVersion": "str"},
        "OwnerReference": {"apiVersion": "str", "kind": "str", "name": "str", "uid": "str", "controller": "bool",
                           "blockOwnerDeletion": "bool"},
        "ListMeta": {"resourceVersion": "str", "continue": "str", "remainingItemCount": "int"},
        "LabelSelector": {"matchLabels": "map", "matchExpressions": "[LabelSelectorRequirement]"},
        "LabelSelectorRequirement": {"key": "str", "operator": "str", "values": "[str]"},
    },
    _CORE: {
        "Namespace": {"spec": "NamespaceSpec", "status": "NamespaceStatus"},
        "NamespaceSpec": {"finalizers": "[str]"},
        "NamespaceStatus": {"phase": "str", "conditions": _COND},
        "Pod": {"spec": "PodSpec", "status": "PodStatus"},
        "PodTemplateSpec": {"metadata": "ObjectMeta", "spec": "PodSpec"},
        "PodSpec": {"containers": "[Container/name]", "initContainers": "[Container/name]",
                    "ephemeralContainers": "[Container/name]", "volumes": "[Volume/name]", "restartPolicy": "str",
                    "terminationGracePeriodSeconds": "int", "activeDeadlineSeconds": "int", "dnsPolicy": "str",
                    "dnsConfig": "PodDNSConfig", "nodeSelector": "map", "serviceAccountName": "str",
                    "serviceAccount": "str", "automountServiceAccountToken": "bool", "nodeName": "str",
                    "hostNetwork": "bool", "hostPID": "bool", "hostIPC": "bool", "shareProcessNamespace": "bool",
                    "securityContext": "PodSecurityContext", "imagePullSecrets": "[LocalObjectReference/name]",
                    "hostname": "str", "subdomain": "str", "affinity": "Affinity", "schedulerName": "str",
                    "tolerations": "[Toleration]",
                    "hostAliases": "[HostAlias/ip]", "priorityClassName": "str", "priority": "int",
                    "readinessGates": "[PodReadinessGate]", "runtimeClassName": "str", "enableServiceLinks": "bool",
                    "preemptionPolicy": "str", "setHostnameAsFQDN": "bool", "hostUsers": "bool", "os": "PodOS",
                    "schedulingGates": "[PodSchedulingGate/name]", "resourceClaims": "[PodResourceClaim/name]",
                    "overhead": "map:quantity", "topologySpreadConstraints": "[TopologySpreadConstraint/topologyKey]"},
        "Container": {"name": "str", "image": "str", "command": "[str]", "args": "[str]", "workingDir": "str",
                      "ports": "[ContainerPort/containerPort]", "envFrom": "[EnvFromSource]",
                      "env": "[EnvVar/name]", "resources": "ResourceRequirements",
                      "volumeMounts": "[VolumeMount/mountPath]", "volumeDevices": "[VolumeDevice/devicePath]",
                      "livenessProbe": "Probe", "readinessProbe": "Probe", "startupProbe": "Probe",
                      "lifecycle": "Lifecycle", "terminationMessagePath": "str", "terminationMessagePolicy": "str",
                      "imagePullPolicy": "str", "securityContext": "SecurityContext", "restartPolicy": "str",
                      "stdin": "bool", "stdinOnce": "bool", "tty": "bool",
                      "resizePolicy": "[ContainerResizePolicy]"},
        "ContainerResizePolicy": {"resourceName": "str", "restartPolicy": "str"},
        "ContainerPort": {"name": "str", "hostPort": "int", "containerPort": "int", "protocol": "str",
                          "hostIP": "str"},
        "EnvVar": {"name": "str", "value": "str", "valueFrom": "EnvVarSource"},
        "EnvVarSource": {"fieldRef": "ObjectFieldSelector", "resourceFieldRef": "ResourceFieldSelector",
                         "configMapKeyRef": "ConfigMapKeySelector", "secretKeyRef": "SecretKeySelector"},
        "ObjectFieldSelector": {"apiVersion": "str", "fieldPath": "str"},
        "ResourceFieldSelector": {"containerName": "str", "resource": "str", "divisor": "quantity"},
        "ConfigMapKeySelector": {"name": "str", "key": "str", "optional": "bool"},
        "SecretKeySelector": {"name": "str", "key": "str", "optional": "bool"},
        "EnvFromSource": {"prefix": "str", "configMapRef": "ConfigMapEnvSource", "secretRef": "SecretEnvSource"},
        "ConfigMapEnvSource": {"name": "str", "optional": "bool"},
        "SecretEnvSource": {"name": "str", "optional": "bool"},
        "Lifecycle": {"postStart": "LifecycleHandler", "preStop": "LifecycleHandler"},
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
        "NodeSelectorTerm": {"matchExpressions": "[NodeSelectorRequirement]",
                             "matchFields": "[NodeSelectorRequirement]"},
        "NodeSelectorRequirement": {"key": "str", "operator": "str", "values": "[str]"},
        "PreferredSchedulingTerm": {"weight": "int", "preference": "NodeSelectorTerm"},
        "PodAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": "[PodAffinityTerm]",
                        "preferredDuringSchedulingIgnoredDuringExecution": "[WeightedPodAffinityTerm]"},
        "PodAffinityTerm": {"labelSelector": "LabelSelector", "namespaces": "[str]", "topologyKey": "str",
                            "namespaceSelector": "LabelSelector", "matchLabelKeys": "[str]",
                            "mismatchLabelKeys": "[str]"},
        "WeightedPodAffinityTerm": {"weight": "int", "podAffinityTerm": "PodAffinityTerm"},
        "TopologySpreadConstraint": {"maxSkew": "int", "topologyKey": "str", "whenUnsatisfiable": "str",
                                     "labelSelector": "LabelSelector", "minDomains": "int",
                                     "nodeAffinityPolicy": "str", "nodeTaintsPolicy": "str",
                                     "matchLabelKeys": "[str]"},
        "ResourceRequirements": {"limits": "map:quantity", "requests": "map:quantity",
                                 "claims": "[ResourceClaim/name]"},
        "VolumeMount": {"name": "str", "readOnly": "bool", "mountPath": "str", "subPath": "str",
                        "mountPropagation": "str", "subPathExpr": "str", "recursiveReadOnly": "str"},
        "Probe": {"exec": "ExecAction", "httpGet": "HTTPGetAction", "tcpSocket": "TCPSocketAction",
                  "grpc": "GRPCAction",
                  "initialDelaySeconds": "int", "timeoutSeconds": "int", "periodSeconds": "int",
                  "successThreshold": "int", "failureThreshold": "int", "terminationGracePeriodSeconds": "int"},
        "ExecAction": {"command": "[str]"},
        "HTTPGetAction": {"path": "str", "port": "intstr", "host": "str", "scheme": "str",
                          "httpHeaders": "[HTTPHeader]"},
        "HTTPHeader": {"name": "str", "value": "str"},
        "GRPCAction": {"port": "int", "service": "str"},
        "TCPSocketAction": {"port": "intstr", "host": "str"},
        "Volume": {"name": "str", "emptyDir": "EmptyDirVolumeSource", "hostPath": "HostPathVolumeSource",
                   "configMap": "ConfigMapVolumeSource",
                   "secret": "SecretVolumeSource", "persistentVolumeClaim": "PersistentVolumeClaimVolumeSource",
                   "projected": "ProjectedVolumeSource", "downwardAPI": "DownwardAPIVolumeSource",
                   "nfs": "NFSVolumeSource", "csi": "CSIVolumeSource", "image": "ImageVolumeSource",
                   **{source: "obj" for source in (  # the other sources: objects, their fields not described
                       "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "iscsi", "glusterfs", "rbd",
                       "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile", "vsphereVolume", "quobyte",
                       "azureDisk", "photonPersistentDisk", "portworxVolume", "scaleIO", "storageos", "ephemeral")}},
        "NFSVolumeSource": {"server": "str", "path": "str", "readOnly": "bool"},
        "CSIVolumeSource": {"driver": "str", "readOnly": "bool", "fsType": "str", "volumeAttributes": "map",
                            "nodePublishSecretRef": "LocalObjectReference"},
        "ImageVolumeSource": {"reference": "str", "pullPolicy": "str"},
        "PersistentVolumeClaimVolumeSource": {"claimName": "str", "readOnly": "bool"},
        "ProjectedVolumeSource": {"sources": "[VolumeProjection]", "defaultMode": "int"},
        "VolumeProjection": {"secret": "SecretProjection", "configMap": "ConfigMapProjection",
                             "downwardAPI": "DownwardAPIProjection",
                             "serviceAccountToken": "ServiceAccountTokenProjection", "clusterTrustBundle": "obj"},
        "SecretProjection": {"name": "str", "items": "[KeyToPath]", "optional": "bool"},
        "ConfigMapProjection": {"name": "str", "items": "[KeyToPath]", "optional": "bool"},
        "DownwardAPIProjection": {"items": "[DownwardAPIVolumeFile]"},
        "DownwardAPIVolumeSource": {"items": "[DownwardAPIVolumeFile]", "defaultMode": "int"},
        "DownwardAPIVolumeFile": {"path": "str", "fieldRef": "ObjectFieldSelector",
                                  "resourceFieldRef": "ResourceFieldSelector", "mode": "int"},
        "ServiceAccountTokenProjection": {"audience": "str", "expirationSeconds": "int", "path": "str"},
        "EmptyDirVolumeSource": {"medium": "str", "sizeLimit": "quantity"},
        "HostPathVolumeSource": {"path": "str", "type": "str"},
        "ConfigMapVolumeSource": {"name": "str", "items": "[KeyToPath]", "defaultMode": "int", "optional": "bool"},
        "SecretVolumeSource": {"secretName": "str", "items": "[KeyToPath]", "defaultMode": "int",
                               "optional": "bool"},
        "KeyToPath": {"key": "str", "path": "str", "mode": "int"},
        "LocalObjectReference": {"name": "str"},
        "Toleration": {"key": "str", "operator": "str", "value": "str", "effect": "str",
                       "tolerationSeconds": "int"},
        "PodStatus": {"phase": "str", "conditions": _COND, "message": "str", "reason": "str",
                      "nominatedNodeName": "str", "hostIP": "str", "podIP": "str", "podIPs": "[PodIP/ip]",
                      "hostIPs": "[HostIP/ip]", "startTime": "time", "initContainerStatuses": "[ContainerStatus]",
                      "containerStatuses": "[ContainerStatus]", "ephemeralContainerStatuses": "[ContainerStatus]",
                      "qosClass": "str"},
        "PodIP": {"ip": "str"},
        "HostIP": {"ip": "str"},
        "HostAlias": {"ip": "str", "hostnames": "[str]"},
        "PodReadinessGate": {"conditionType": "str"},
        "PodSchedulingGate": {"name": "str"},
        "VolumeDevice": {"name": "str", "devicePath": "str"},
        "ResourceClaim": {"name": "str", "request": "str"},
        "ContainerStatus": {"name": "str", "state": "ContainerState", "lastState": "ContainerState", "ready": "bool",
                            "restartCount": "int", "image": "str", "imageID": "str", "containerID": "str",
                            "started": "bool"},
        "ContainerState": {"waiting": "ContainerStateWaiting", "running": "ContainerStateRunning",
                           "terminated": "ContainerStateTerminated"},
        "ContainerStateWaiting": {"reason": "str", "message": "str"},
        "ContainerStateRunning": {"startedAt": "time"},
        "ContainerStateTerminated": {"exitCode": "int", "signal": "int", "reason": "str", "message": "str",
                                     "startedAt": "time", "finishedAt": "time", "containerID": "str"},
        "Binding": {"target": "ObjectReference"},
        "ObjectReference": {"kind": "str", "namespace": "str", "name": "str", "uid": "str", "apiVersion": "str",
                            "resourceVersion": "str", "fieldPath": "str"},
        "Service": {"spec": "ServiceSpec", "status": "ServiceStatus"},
        "ServiceStatus": {"loadBalancer": "LoadBalancerStatus", "conditions": _COND},
        "LoadBalancerStatus": {"ingress": "[LoadBalancerIngress]"},
        "LoadBalancerIngress": {"ip": "str", "hostname": "str", "ipMode": "str", "ports": "[PortStatus]"},
        "PortStatus": {"port": "int", "protocol": "str", "error": "str"},
        "SessionAffinityConfig": {"clientIP": "ClientIPConfig"},
        "ClientIPConfig": {"timeoutSeconds": "int"},
        "ServiceSpec": {"ports": "[ServicePort/port]", "selector": "map", "clusterIP": "str", "clusterIPs": "[str]",
                        "type": "str", "externalIPs": "[str]", "sessionAffinity": "str", "loadBalancerIP": "str",
                        "loadBalancerSourceRanges": "[str]", "externalName": "str", "externalTrafficPolicy": "str",
                        "internalTrafficPolicy": "str", "publishNotReadyAddresses": "bool",
                        "sessionAffinityConfig": "SessionAffinityConfig", "ipFamilies": "[str]",
                        "ipFamilyPolicy": "str", "healthCheckNodePort": "int", "allocateLoadBalancerNodePorts": "bool",
                        "loadBalancerClass": "str", "trafficDistribution": "str"},
        "ServicePort": {"name": "str", "protocol": "str", "appProtocol": "str", "port": "int", "targetPort": "intstr",
                        "nodePort": "int"},
        "Endpoints": {"subsets": "[EndpointSubset]"},
        "EndpointSubset": {"addresses": "[EndpointAddress]", "notReadyAddresses": "[EndpointAddress]",
                           "ports": "[EndpointPort]"},
        "EndpointAddress": {"ip": "str", "hostname": "str", "nodeName": "str", "targetRef": "ObjectReference"},
        "EndpointPort": {"name": "str", "port": "int", "protocol": "str", "appProtocol": "str"},
        "Node": {"spec": "NodeSpec", "status": "NodeStatus"},
        "NodeSpec": {"podCIDR": "str", "podCIDRs": "[str/]", "providerID": "str", "unschedulable": "bool",
                     "taints": "[Taint]", "externalID": "str", "configSource": "obj"},
        "Taint": {"key": "str", "value": "str", "effect": "str", "timeAdded": "time"},
        "NodeStatus": {"capacity": "map:quantity", "allocatable": "map:quantity", "phase": "str", "conditions": _COND,
                       "addresses": "[NodeAddress/type]", "daemonEndpoints": "NodeDaemonEndpoints",
                       "nodeInfo": "NodeSystemInfo", "images": "[ContainerImage]", "volumesInUse": "[str]",
                       "volumesAttached": "[AttachedVolume]", "config": "obj", "runtimeHandlers": "[obj]",
                       "features": "obj"},
        "ContainerImage": {"names": "[str]", "sizeBytes": "int"},
        "AttachedVolume": {"name": "str", "devicePath": "str"},
        "NodeAddress": {"type": "str", "address": "str"},
        "NodeDaemonEndpoints": {"kubeletEndpoint": "DaemonEndpoint"},
        "DaemonEndpoint": {"Port": "int"},
        "NodeSystemInfo": {key: "str" for key in (
            "machineID", "systemUUID", "bootID", "kernelVersion", "osImage", "containerRuntimeVersion",
            "kubeletVersion", "kubeProxyVersion", "operatingSystem", "architecture")},
        "Event": {"involvedObject": "ObjectReference", "reason": "str", "message": "str", "source": "EventSource",
                  "firstTimestamp": "time", "lastTimestamp": "time", "count": "int", "type": "str",
                  "eventTime": "time", "series": "EventSeries", "action": "str", "related": "ObjectReference",
                  "reportingComponent": "str", "reportingInstance": "str"},
        "EventSource": {"component": "str", "host": "str"},
        "EventSeries": {"count": "int", "lastObservedTime": "time"},
        "ConfigMap": {"immutable": "bool", "data": "map", "binaryData": "map"},
    },
    "io.k8s.api.apps.v1": {
        "Deployment": {"spec": "DeploymentSpec", "status": "DeploymentStatus"},
        "DeploymentSpec": {"replicas": "int", "selector": "LabelSelector", "template": "PodTemplateSpec",
                           "strategy": "DeploymentStrategy", "minReadySeconds": "int", "revisionHistoryLimit": "int",
                           "paused": "bool", "progressDeadlineSeconds": "int"},
        "DeploymentStrategy": {"type": "str", "rollingUpdate": "RollingUpdateDeployment"},
        "RollingUpdateDeployment": {"maxUnavailable": "intstr", "maxSurge": "intstr"},
        "DeploymentStatus": {"observedGeneration": "int", "replicas": "int", "updatedReplicas": "int",
                             "readyReplicas": "int", "availableReplicas": "int", "unavailableReplicas": "int",
                             "conditions": _COND, "collisionCount": "int"},
        "ReplicaSet": {"spec": "ReplicaSetSpec", "status": "ReplicaSetStatus"},
        "ReplicaSetSpec": {"replicas": "int", "minReadySeconds": "int", "selector": "LabelSelector",
                           "template": "PodTemplateSpec"},
        "ReplicaSetStatus": {"replicas": "int", "fullyLabeledReplicas": "int", "readyReplicas": "int",
                             "availableReplicas": "int", "observedGeneration": "int", "conditions": _COND},
    },
    "io.k8s.api.autoscaling.v1": {
        "Scale": {"spec": "ScaleSpec", "status": "ScaleStatus"},
        "ScaleSpec": {"replicas": "int"},
        "ScaleStatus": {"replicas": "int", "selector": "str"},
    },
    "io.k8s.api.autoscaling.v2": {
        "HorizontalPodAutoscaler": {"spec": "HorizontalPodAutoscalerSpec", "status": "HorizontalPodAutoscalerStatus"},
        "HorizontalPodAutoscalerSpec": {"scaleTargetRef": "CrossVersionObjectReference", "minReplicas": "int",
                                        "maxReplicas": "int", "metrics": "[MetricSpec]",
                                        "behavior": "HorizontalPodAutoscalerBehavior"},
        "HorizontalPodAutoscalerBehavior": {"scaleUp": "HPAScalingRules", "scaleDown": "HPAScalingRules"},
        "HPAScalingRules": {"stabilizationWindowSeconds": "int", "selectPolicy": "str",
                            "policies": "[HPAScalingPolicy]"},
        "HPAScalingPolicy": {"type": "str", "value": "int", "periodSeconds": "int"},
        "CrossVersionObjectReference": {"kind": "str", "name": "str", "apiVersion": "str"},
        "MetricSpec": {"type": "str", "resource": "ResourceMetricSource", "pods": "PodsMetricSource",
                       "object": "ObjectMetricSource", "external": "ExternalMetricSource",
                       "containerResource": "ContainerResourceMetricSource"},
        "ResourceMetricSource": {"name": "str", "target": "MetricTarget"},
        "ContainerResourceMetricSource": {"name": "str", "container": "str", "target": "MetricTarget"},
        "PodsMetricSource": {"metric": "MetricIdentifier", "target": "MetricTarget"},
        "ExternalMetricSource": {"metric": "MetricIdentifier", "target": "MetricTarget"},
        "ObjectMetricSource": {"describedObject": "CrossVersionObjectReference", "metric": "MetricIdentifier",
                               "target": "MetricTarget"},
        "MetricIdentifier": {"name": "str", "selector": "LabelSelector"},
        "MetricTarget": {"type": "str", "value": "quantity", "averageValue": "quantity", "averageUtilization": "int"},
        "HorizontalPodAutoscalerStatus": {"observedGeneration": "int", "lastScaleTime": "time",
                                          "currentReplicas": "int", "desiredReplicas": "int",
                                          "currentMetrics": "[MetricStatus]", "conditions": _COND},
        "MetricStatus": {"type": "str", "resource": "ResourceMetricStatus", "pods": "PodsMetricStatus",
                         "object": "ObjectMetricStatus", "external": "ExternalMetricStatus",
                         "containerResource": "ContainerResourceMetricStatus"},
        "ResourceMetricStatus": {"name": "str", "current": "MetricValueStatus"},
        "ContainerResourceMetricStatus": {"name": "str", "container": "str", "current": "MetricValueStatus"},
        "PodsMetricStatus": {"metric": "MetricIdentifier", "current": "MetricValueStatus"},
        "ExternalMetricStatus": {"metric": "MetricIdentifier", "current": "MetricValueStatus"},
        "ObjectMetricStatus": {"describedObject": "CrossVersionObjectReference", "metric": "MetricIdentifier",
                               "current": "MetricValueStatus"},
        "MetricValueStatus": {"value": "quantity", "averageValue": "quantity", "averageUtilization": "int"},
    },
    "io.k8s.api.coordination.v1": {
        "Lease": {"spec": "LeaseSpec"},
        "LeaseSpec": {"holderIdentity": "str", "leaseDurationSeconds": "int", "acquireTime": "time",
                      "renewTime": "time", "leaseTransitions": "int"},
    },
    "io.k8s.api.networking.v1": {
        "Ingress": {"spec": "IngressSpec", "status": "IngressStatus"},
        "IngressStatus": {"loadBalancer": "IngressLoadBalancerStatus"},
        "IngressLoadBalancerStatus": {"ingress": "[IngressLoadBalancerIngress]"},
        "IngressLoadBalancerIngress": {"ip": "str", "hostname": "str", "ports": "[IngressPortStatus]"},
        "IngressPortStatus": {"port": "int", "protocol": "str", "error": "str"},
        "IngressSpec": {"ingressClassName": "str", "defaultBackend": "IngressBackend", "tls": "[IngressTLS]",
                        "rules": "[IngressRule]"},
        "IngressBackend": {"service": "IngressServiceBackend", "resource": "TypedLocalObjectReference"},
        "TypedLocalObjectReference": {"apiGroup": "str", "kind": "str", "name": "str"},
        "IngressServiceBackend": {"name": "str", "port": "ServiceBackendPort"},
        "ServiceBackendPort": {"name": "str", "number": "int"},
        "IngressTLS": {"hosts": "[str]", "secretName": "str"},
        "IngressRule": {"host": "str", "http": "HTTPIngressRuleValue"},
        "HTTPIngressRuleValue": {"paths": "[HTTPIngressPath]"},
        "HTTPIngressPath": {"path": "str", "pathType": "str", "backend": "IngressBackend"},
    },
}

_INT_OR_STRING: Json = {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
_ATOMS: dict[str, Json] = {
    "str": {"type": "string"},
    "int": {"type": "integer", "format": "int64"},
    "bool": {"type": "boolean"},
    "num": {"type": "number", "format": "double"},
    "time": {"type": "string", "format": "date-time"},
    "intstr": _INT_OR_STRING,
    "quantity": _INT_OR_STRING,
    "map": {"type": "object", "additionalProperties": {"type": "string"}},
    "map:quantity": {"type": "object", "additionalProperties": _INT_OR_STRING},
    "obj": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
}
_LIST = re.compile(r"^\[(?P<item>[^/\]]+)(?P<merge>/(?P<key>\w*))?\]$")

# ---- schemas ------------------------------------------------------------------------------------


def package_of(group: str, version: str) -> str:
    """The schema-name prefix of a group-version: `io.k8s.api.apps.v1`; other domains reversed."""
    if not group:
        return f"io.k8s.api.core.{version}"
    if "." not in group or group.endswith(".k8s.io"):
        return f"io.k8s.api.{group.split('.')[0]}.{version}"
    return ".".join(reversed(group.split("."))) + f".{version}"


def _qualify(name: str, package: str) -> str:
    for candidate in (package, _CORE, _META):
        if name in _TYPES.get(candidate, {}):
            return f"{candidate}.{name}"
    raise KeyError(f"openapi: schema {name!r} (used in {package}) is not described")


def _field(expr: str, package: str) -> Json:
    if expr in _ATOMS:
        return dict(_ATOMS[expr])
    match = _LIST.match(expr)
    if match is None:
        return {"$ref": _REF + _qualify(expr, package)}
    schema: Json = {"type": "array", "items": _field(match["item"], package)}
    if match["merge"]:
        schema["x-kubernetes-patch-strategy"] = "merge"
        if match["key"]:
            schema["x-kubernetes-patch-merge-key"] = match["key"]
    return schema


def _object(fields: dict[str, str], package: str) -> Json:
    return {"type": "object", "properties": {name: _field(expr, package) for name, expr in fields.items()},
            "x-kubernetes-preserve-unknown-fields": True}


def _gvk(group: str, version: str, kind: str) -> Json:
    return {"group": group, "version": version, "kind": kind}


def _kind_schema(group: str, version: str, kind: str, fields: dict[str, str]) -> Json:
    package = package_of(group, version)
    schema = _object({"apiVersion": "str", "kind": "str", "metadata": "ObjectMeta", **fields}, package)
    schema["x-kubernetes-group-version-kind"] = [_gvk(group, version, kind)]
    return schema


def _list_schema(rt: ResourceType) -> Json:
    schema = _object({"apiVersion": "str", "kind": "str", "metadata": "ListMeta"}, _META)
    schema["properties"]["items"] = {"type": "array", "items": {"$ref": _REF + _name(rt.group, rt.version, rt.kind)}}
    schema["x-kubernetes-group-version-kind"] = [_gvk(rt.group, rt.version, f"{rt.kind}List")]
    return schema


def _name(group: str, version: str, kind: str) -> str:
    return f"{package_of(group, version)}.{kind}"


def _kinds(resources: Sequence[ResourceType]) -> set[tuple[str, str, str]]:
    """Every (group, version, kind) a response carries: the resources and their subresources' kinds."""
    own = {(rt.group, rt.version, rt.kind) for rt in resources}
    return own | {subresource_kind(rt, sub) for rt in resources for sub in rt.subresources}


def _all_schemas(resources: Sequence[ResourceType]) -> dict[str, Json]:
    schemas = {f"{package}.{name}": _object(fields, package)
               for package, types in _TYPES.items() for name, fields in types.items()}
    for group, version, kind in _kinds(resources):
        fields = _TYPES.get(package_of(group, version), {}).get(kind, {"spec": "obj", "status": "obj"})
        schemas[_name(group, version, kind)] = _kind_schema(group, version, kind, fields)
    for rt in resources:
        schemas[_name(rt.group, rt.version, f"{rt.kind}List")] = _list_schema(rt)
    return schemas


# ---- paths --------------------------------------------------------------------------------------

_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_LIST_PARAMS = ("labelSelector", "fieldSelector", "resourceVersion", "limit", "continue", "watch",
                "allowWatchBookmarks", "timeoutSeconds")
_PARAM_TYPES = {"limit": "integer", "timeoutSeconds": "integer", "watch": "boolean", "allowWatchBookmarks": "boolean",
                "force": "boolean"}
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml")
_LOG_PARAMS = ("container", "follow", "previous", "sinceSeconds", "tailLines", "timestamps")
# verb → (HTTP method, x-kubernetes-action, on the collection?); `watch` is a list parameter, not a path
_VERBS = {"list": ("get", "list", True), "create": ("post", "post", True),
          "deletecollection": ("delete", "deletecollection", True), "get": ("get", "get", False),
          "update": ("put", "put", False), "patch": ("patch", "patch", False), "delete": ("delete", "delete", False)}


def _query(names: Sequence[str]) -> list[Json]:
    return [{"name": n, "in": "query", "schema": {"type": _PARAM_TYPES.get(n, "string")}} for n in names]


def _path_params(namespaced: bool, named: bool) -> list[Json]:
    names = (["namespace"] if namespaced else []) + (["name"] if named else [])
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]


def _json_content(ref: str) -> Json:
    return {"application/json": {"schema": {"$ref": _REF + ref}}}


def _operation(action: str, op_id: str, gvk: Json, body: str, response: str) -> Json:
    op: Json = {"operationId": op_id, "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,
                "responses": {"200": {"description": "OK", "content": _json_content(response)}}}
    if action in ("post", "put"):
        op["parameters"] = _query(_WRITE_PARAMS)
        op["requestBody"] = {"required": True, "content": _json_content(body)}
    elif action == "patch":
        op["parameters"] = _query((*_WRITE_PARAMS, "force"))
        op["requestBody"] = {"required": True,
                             "content": {t: {"schema": {"type": "object"}} for t in _PATCH_TYPES}}
    elif action == "list":
        op["parameters"] = _query(_LIST_PARAMS)
    if action == "post":
        op["responses"]["201"] = op["responses"]["200"]
    return op


def _resource_paths(rt: ResourceType) -> Iterator[tuple[str, Json]]:
    """(URL template, path item) for the resource, its subresources and its all-namespaces list."""
    base = rt.collection_path("{namespace}")
    scope = "Namespaced" if rt.namespaced else ""
    gvk = _gvk(rt.group, rt.version, rt.kind)
    kind, kind_list = _name(rt.group, rt.version, rt.kind), _name(rt.group, rt.version, f"{rt.kind}List")
    for collection, url in ((True, base), (False, f"{base}/{{name}}")):
        item: Json = {"parameters": _path_params(rt.namespaced, not collection)}
        for verb in (v for v in rt.verbs if v in _VERBS and _VERBS[v][2] == collection):
            method, action, _ = _VERBS[verb]
            response = kind_list if action in ("list", "deletecollection") else kind
            item[method] = _operation(action, f"{action}{scope}{rt.kind}", gvk, kind, response)
        yield url, item
    if rt.namespaced and "list" in rt.verbs:
        list_op = _operation("list", f"list{rt.kind}ForAllNamespaces", gvk, kind, kind_list)
        yield rt.collection_path(), {"parameters": [], "get": list_op}
    for sub in rt.subresources:
        yield f"{base}/{{name}}/{sub}", _subresource_item(rt, sub, scope)


def _subresource_item(rt: ResourceType, sub: str, scope: str) -> Json:
    group, version, kind = subresource_kind(rt, sub)
    gvk, name = _gvk(group, version, kind), _name(group, version, kind)
    item: Json = {"parameters": _path_params(rt.namespaced, True)}
    for verb in subresource(sub).verbs:
        method, action, _ = _VERBS[verb]
        item[method] = _operation(action, f"{action}{scope}{rt.kind}{sub.title()}", gvk, name, name)
    if sub == "log":
        item["get"]["parameters"] = _query(_LOG_PARAMS)
        item["get"]["responses"]["200"]["content"] = {"text/plain": {"schema": {"type": "string"}}}
    return item


# ---- documents ----------------------------------------------------------------------------------

def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref.removeprefix(_REF)
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _closure(roots: Sequence[str], schemas: dict[str, Json]) -> dict[str, Json]:
    """The named schemas and every schema they reference, sorted by name."""
    found: dict[str, Json] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name not in found:
            found[name] = schemas[name]
            pending.extend(_refs(found[name]))
    return dict(sorted(found.items()))


def _document(rts: Sequence[ResourceType], schemas: dict[str, Json]) -> Json:
    paths = dict(sorted(p for rt in rts for p in _resource_paths(rt)))
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0-minik8s"}, "paths": paths,
            "components": {"schemas": _closure(list(_refs(paths)), schemas)}}


def build_documents(resources: Sequence[ResourceType] = RESOURCES) -> dict[str, Json]:
    """OpenAPI v3 document per group-version, keyed like the index: `api/v1`, `apis/apps/v1`."""
    schemas = _all_schemas(resources)
    by_gv: dict[str, list[ResourceType]] = {}
    for rt in resources:
        by_gv.setdefault(rt.group_version_prefix.lstrip("/"), []).append(rt)
    return {gv: _document(rts, schemas) for gv, rts in by_gv.items()}


# ---- OpenAPI v2 ---------------------------------------------------------------------------------
#
# kube-apiserver always serves `/openapi/v2`, and kubectl depends on it for kinds the v3 documents
# do not describe: `kubectl apply -f` of such a kind (a StatefulSet, an autoscaling/v1 HPA, a CRD's
# kind) first asks whether the server validates it (v3, then v2 when the group-version has no v3
# document), then validates it on the client against v2 — skipping kinds v2 does not describe
# either — and only then maps the kind through discovery, which prints `no matches for kind "X" in
# version "G/V"` / `ensure CRDs are installed first`. With a 404 here kubectl stopped at "failed to
# download openapi" instead. So v2 is served, describing no kinds: the v3 documents stay the only
# description of the served ones (they declare server-side field validation, so kubectl never
# validates them against v2).

# kubectl asks for `...spec.v2@v1.0+protobuf`; kube-apiserver answers with this name (Go's mime
# parser rejects the `@` in a Content-Type)
OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _pb_bytes(field: int, value: bytes) -> bytes:
    """One length-delimited protobuf field (wire type 2)."""
    length, varint = len(value), bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        varint.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes([field << 3 | 2]) + bytes(varint) + value


_V2_INFO = {"title": "Kubernetes", "version": "v1.32.0-minik8s"}
# gnostic openapi_v2.Document: swagger = 1, info = 2 (Info: title = 1, version = 2), paths = 8
_V2_PROTOBUF = (_pb_bytes(1, b"2.0")
                + _pb_bytes(2, _pb_bytes(1, _V2_INFO["title"].encode()) + _pb_bytes(2, _V2_INFO["version"].encode()))
                + _pb_bytes(8, b""))
_V2_JSON = json.dumps({"swagger": "2.0", "info": _V2_INFO, "paths": {}, "definitions": {}},
                      separators=(",", ":")).encode()


# ---- the Falcon resource ------------------------------------------------------------------------

class _OpenAPI:
    """Serves the index and the per-group-version documents, all encoded once."""

    def __init__(self, resources: Sequence[ResourceType]) -> None:
        self._bodies: dict[str, tuple[bytes, str]] = {}
        for gv, doc in build_documents(resources).items():
            body = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
            self._bodies[gv] = (body, hashlib.sha256(body).hexdigest())
        index = {"paths": {gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash={digest}"}
                           for gv, (_, digest) in self._bodies.items()}}
        self._index = json.dumps(index, separators=(",", ":")).encode()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type, resp.data = "application/json", self._index
        resp.cache_control = ("no-cache", "private")

    def on_get_v2(self, req: falcon.Request, resp: falcon.Response) -> None:
        if "protobuf" in (req.get_header("Accept") or ""):
            resp.content_type, resp.data = OPENAPI_V2_PROTOBUF, _V2_PROTOBUF
        else:
            resp.content_type, resp.data = "application/json", _V2_JSON
        resp.cache_control = ("no-cache", "private")

    def on_get_core(self, req: falcon.Request, resp: falcon.Response, version: str) -> None:
        self._send(req, resp, f"api/{version}")

    def on_get_group(self, req: falcon.Request, resp: falcon.Response, group: str, version: str) -> None:
        self._send(req, resp, f"apis/{group}/{version}")

    def _send(self, req: falcon.Request, resp: falcon.Response, gv: str) -> None:
        if gv not in self._bodies:
            raise errors.NotFoundError(f"the server could not find the requested resource ({req.path})")
        body, digest = self._bodies[gv]
        resp.content_type, resp.data, resp.etag = "application/json", body, digest
        fresh = req.get_param("hash") == digest
        resp.cache_control = ("public", "immutable", "max-age=31536000") if fresh else ("no-cache", "private")


def register_openapi(app: falcon.App, resources: Sequence[ResourceType] = RESOURCES) -> None:
    """Route `/openapi/v3` (the index), `/openapi/v3/api/<v>` and `/openapi/v3/apis/<g>/<v>` on `app`.

    `/openapi/v2` is a document without kinds (see `OPENAPI_V2_PROTOBUF`): kubectl relies on v3 for
    the served kinds and names an unserved kind instead of failing to download OpenAPI.
    """
    openapi = _OpenAPI(resources)
    app.add_route("/openapi/v2", openapi, suffix="v2")
    app.add_route("/openapi/v3", openapi)
    app.add_route("/openapi/v3/api/{version}", openapi, suffix="core")
    app.add_route("/openapi/v3/apis/{group}/{version}", openapi, suffix="group")
