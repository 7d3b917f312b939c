"""The node proxy: Services (ClusterIP, NodePort) programmed into nftables by every node agent.

kube-proxy's nftables mode is the model: one table of its own (`ip minik8s`), a verdict map from
service address/port to one chain per Service port, `numgen random` DNAT to an endpoint, written
as atomic `nft -f -` transactions — a full one at start-up, then only what changed. The modules,
in the order data flows through them:

| module | job |
|---|---|
| `model` | Services and EndpointSlices parsed (defensively) into `ServicePort`s and `Endpoint`s |
| `categorize` | which endpoints each traffic policy uses (ready, else serving-terminating; local) |
| `names` | chain and set names |
| `rules` | the chains, affinity sets and map elements of one Service port (pure) |
| `table` | the fixed part of the table: hooks, maps, masquerading, rejects |
| `ruleset` | all ports' rules merged; which ports changed |
| `transaction` | full and partial nft scripts (pure) |
| `nft`, `conntrack` | running `nft` and `conntrack` |
| `proxier` | informers, the sync thread, rate limiting, retries |
"""

from __future__ import annotations

from .conntrack import Conntrack
from .nft import Nft, NftError
from .proxier import Proxier, ProxySettings, SyncResult, new_proxier

__all__ = ["Conntrack", "Nft", "NftError", "Proxier", "ProxySettings", "SyncResult", "new_proxier"]
