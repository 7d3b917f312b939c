"""The ingress proxy of a node: nginx on port 80 of the node host, serving the Ingresses of our class.

- `model`: Ingresses, IngressClasses, Services and EndpointSlices to `Routes` (pure, checked);
- `nginxconf`: `Routes` to an nginx.conf nothing in an object can inject into (pure);
- `nginx`: the nginx master process (test, graceful reload, stop, adoption);
- `proxy`: `IngressProxy`, the controller the node agent runs.
"""

from minik8s.node.ingress.model import CONTROLLER, Routes, build_routes
from minik8s.node.ingress.nginx import Nginx, NginxConfigError, NginxError, stop_leftover
from minik8s.node.ingress.nginxconf import ProxySettings, render
from minik8s.node.ingress.proxy import IngressProxy, IngressSettings

__all__ = [
    "CONTROLLER",
    "IngressProxy",
    "IngressSettings",
    "Nginx",
    "NginxConfigError",
    "NginxError",
    "ProxySettings",
    "Routes",
    "build_routes",
    "render",
    "stop_leftover",
]
