"""Container image references read the way Docker and the kubelet read them (pure).

`nginx` is `docker.io/library/nginx:latest`; `10.200.3.1:5000/team/app:1` is repository
`team/app` on registry `10.200.3.1:5000`; a first path component counts as a registry host only
when it has a `.` or a `:`, or is `localhost` (distribution's `ParseNormalizedNamed`). The
kubelet needs the normalized name to pick registry credentials (`credentials`) and the tag to
tell whether `imagePullPolicy` defaults to Always; the docker runtime needs repository and tag
apart for a pull.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DOCKER_HUB", "ImageRef", "parse_image"]

DOCKER_HUB = "docker.io"


@dataclass(frozen=True)
class ImageRef:
    """One parsed reference: `registry/repository[:tag][@digest]`."""

    registry: str  # "docker.io" for Docker Hub
    repository: str  # "library/nginx" for "nginx"
    tag: str | None  # None when absent (Docker then means "latest", unless there is a digest)
    digest: str | None

    @property
    def name(self) -> str:
        """The normalized name without tag or digest (`docker.io/library/nginx`), as credentials match it."""
        return f"{self.registry}/{self.repository}"

    @property
    def effective_tag(self) -> str | None:
        """The tag Docker pulls: the given one, `latest` when neither tag nor digest is given."""
        if self.tag is None and self.digest is None:
            return "latest"
        return self.tag


def parse_image(image: str) -> ImageRef:
    """Parse `image` like Docker (see the module docstring); ValueError for an empty reference."""
    if not image or image != image.strip():
        raise ValueError(f"invalid image reference {image!r}")
    rest, _, digest = image.partition("@")
    head, slash, tail = rest.partition("/")
    if slash and ("." in head or ":" in head or head == "localhost"):
        registry, path = head, tail
    else:
        registry, path = DOCKER_HUB, rest
    if registry == "index.docker.io":
        registry = DOCKER_HUB
    last_slash = path.rfind("/")
    colon = path.rfind(":")
    tag = None
    if colon > last_slash:
        path, tag = path[:colon], path[colon + 1:]
    if not path or (tag is not None and not tag) or (digest == "" and "@" in image):
        raise ValueError(f"invalid image reference {image!r}")
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return ImageRef(registry=registry, repository=path, tag=tag, digest=digest or None)
