"""Fault injection scenarios against a running `minik8s up` cluster (see `chaos.cli`)."""
