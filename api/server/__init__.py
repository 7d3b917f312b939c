"""The API server: Falcon app over the Raft-replicated store (imports store and consensus)."""

from .master import Master, MasterSettings, run_master

__all__ = ["Master", "MasterSettings", "run_master"]
