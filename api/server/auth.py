"""Bearer-token authentication from a Kubernetes static token file.

Format, one line each: `token,user,uid[,"group1,group2"]` (CSV, like kube-apiserver's
`--token-auth-file`). Health and version endpoints stay open so probes and kubectl's first
`GET /version` work without credentials.
"""

from __future__ import annotations

import csv
import hmac
from dataclasses import dataclass

import falcon

from minik8s.api import errors

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/livez", "/version"})


@dataclass(frozen=True)
class User:
    name: str
    uid: str
    groups: tuple[str, ...]


def load_token_file(path: str) -> dict[str, User]:
    """Parse a static token file; raises ValueError naming the bad line."""
    users: dict[str, User] = {}
    with open(path, newline="") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) < 3:
                raise ValueError(f"{path}:{number}: expected token,user,uid[,\"groups\"]")
            groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
            users[row[0].strip()] = User(row[1].strip(), row[2].strip(), groups)
    if not users:
        raise ValueError(f"{path}: no tokens")
    return users


class TokenAuth:
    """Falcon middleware: 401 unless the request carries a known bearer token."""

    def __init__(self, users: dict[str, User]) -> None:
        self._users = users

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.path in OPEN_PATHS:
            return
        header = req.get_header("Authorization", default="")
        scheme, _, token = header.partition(" ")
        user = self._lookup(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise errors.UnauthorizedError("Unauthorized")
        req.context.user = user

    def _lookup(self, token: str) -> User | None:
        for known, user in self._users.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return user
        return None
