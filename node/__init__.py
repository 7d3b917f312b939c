"""The node agent: runs the pods bound to this node (kubelet), networking, heartbeats."""
