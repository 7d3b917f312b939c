"""Leadership terms for informer handlers that do more than enqueue.

A controller gets fresh informers, a fresh queue and fresh bookkeeping (expectations) each time
its master wins the controller-manager Lease. An informer of the previous term may still deliver
the events of its last long poll after `stop()`; a handler that updates bookkeeping must then do
nothing, or the new term would count, say, a creation twice. `Term.begin()` starts a term and
returns a wrapper that silences handlers once a later term began (the library's `enqueuer()`
does the same for handlers that only enqueue).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[..., None]


class Term:
    """The current leadership term of one controller."""

    def __init__(self) -> None:
        self._current = object()

    def begin(self) -> Callable[[Handler], Handler]:
        """Start a new term; the wrapper that makes a handler act only during it."""
        token = self._current = object()

        def during_this_term(handler: Handler) -> Handler:
            def guarded(*args: Any) -> None:
                if self._current is token:
                    handler(*args)
            return guarded

        return during_this_term
