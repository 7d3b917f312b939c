"""Raft (pysyncobj) replication of the store: durable journal, snapshots, barrier, status."""

from .node import Consensus, ConsensusError, ConsensusSettings, StartupCheckError

__all__ = ["Consensus", "ConsensusError", "ConsensusSettings", "StartupCheckError"]
