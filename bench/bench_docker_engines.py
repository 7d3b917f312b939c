"""Pod start on a per-node engine (`minik8s up --runtime docker`) vs the machine's engine, and pull times.

    python bench/bench_docker_engines.py DOCKER_HOST REGISTRY [N]

DOCKER_HOST: a node engine's socket (unix:///run/mk<id>/node-0/docker.sock, from `up`'s cluster.json);
REGISTRY: the cluster's registry (host:port). Pod start = sandbox + one busybox container started through
the docker runtime (network_mode none on both engines, so only the engine differs), N times, p50.
Pulls: busybox and nginx removed from the node engine, then pulled from REGISTRY (Docker Hub names via
the mirror), 3 times each, p50.
"""

from __future__ import annotations

import statistics
import sys
import time

import docker

from minik8s.node.runtime.base import ContainerConfig, SandboxConfig
from minik8s.node.runtime.docker import DockerRuntime


def pod_start(runtime: DockerRuntime, n: int) -> float:
    times = []
    for i in range(n):
        began = time.perf_counter()
        sandbox = runtime.run_pod_sandbox(SandboxConfig(pod_uid=f"bench-{i}", pod_name=f"bench-{i}",
                                                        namespace="bench", hostname=f"bench-{i}"))
        cid = runtime.create_container(sandbox, ContainerConfig(name="c", image="minik8s/busybox:1.35",
                                                                command=["sleep", "3600"]))
        runtime.start_container(cid)
        times.append(time.perf_counter() - began)
        runtime.stop_pod_sandbox(sandbox)
        runtime.remove_pod_sandbox(sandbox)
    return statistics.median(times)


def pulls(client: docker.DockerClient, runtime: DockerRuntime, image: str) -> float:
    times = []
    for _ in range(3):
        try:
            client.images.remove(image, force=True)
        except docker.errors.ImageNotFound:
            pass
        began = time.perf_counter()
        runtime.pull_image(image)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    host, registry = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    node_client = docker.DockerClient(base_url=host)
    node = DockerRuntime(node_client, pod_network=True)
    machine = DockerRuntime(docker.from_env(), pod_network=True)
    print(f"pod start p50 (n={n}): node engine {pod_start(node, n) * 1000:.0f} ms, "
          f"machine engine {pod_start(machine, n) * 1000:.0f} ms")
    for image in ("minik8s/busybox:1.35", "nginx:1.14.2"):
        print(f"pull {image} from {registry} (p50 of 3): {pulls(node_client, node, image) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
