"""Why the service does not do what a request asks, in the domain's terms (no wire codes here).

`Refused`: the request is refused as it stands (geth's transaction-pool words, a bundle the book
cannot take, a deadline that cannot be kept, backpressure); `Unavailable`: the sequencer cannot
serve it now for a reason of its own. Only the RPC edge turns them into JSON-RPC errors
(`rpc_errors.as_rpc_error`: -32000 and -32603).
"""

from __future__ import annotations

from typing import Any


class NotServed(Exception):
    """A request the service does not serve: `message` for the client, and `data`, the
    machine-readable detail it can act on (an earliest deadline, when to retry)."""

    def __init__(self, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    def __str__(self) -> str:
        return self.message


class Refused(NotServed):
    """The request is refused as it stands; the client may change it or retry."""


class Unavailable(NotServed):
    """The sequencer cannot serve the request now (an engine down, halted, an internal fault);
    never the request's fault."""
