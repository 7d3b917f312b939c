"""Cluster DNS served by every node agent on a node-local address (like NodeLocal DNSCache).

`records` keeps what the answers are made of (fed by informers: Services, EndpointSlices, Pods,
Namespaces, Ingresses), `resolver` answers one query from it as CoreDNS' kubernetes plugin does,
`forward` relays names outside the cluster to the node host's resolvers, `server` serves UDP and
TCP on port 53 with an answer cache, `interface` puts the address on a dummy link, and `feed`
wires informers to the records.
"""
