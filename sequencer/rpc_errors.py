"""JSON-RPC error codes, `RpcError`, and the one mapping of domain errors onto them.

Owns the codes (JSON-RPC 2.0's standard ones, geth's -32000 for transaction-pool and server
errors, -32005 for limits), `answer_code`, which maps any code a peer (an engine, another
sequencer) hands back onto one a client may be given, and `as_rpc_error`, which gives the domain's
errors (`refusals`, `engine`) their codes at the RPC edge. It never builds HTTP answers (`rpc`).
"""

from __future__ import annotations

from typing import Any

from sequencer.engine import EngineError
from sequencer.refusals import Refused, Unavailable

PARSE_ERROR = -32700  # the body is not JSON, or deeper than the nesting limit
INVALID_REQUEST = -32600  # JSON, but not a JSON-RPC request (or an unknown path, a full batch)
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602  # every parameter the sequencer refuses before using it
ERR_INTERNAL = -32603  # a fault of the sequencer or of its engines, never of the request
ERR_SERVER = -32000  # geth's code for every transaction-pool error, and for refused writes
LIMIT_EXCEEDED = -32005  # rate and connection limits (EIP-1474's "limit exceeded")

# The codes JSON-RPC 2.0 reserves for itself, and the server-error range -32000..-32099.
STANDARD_CODES = frozenset({PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS})
SERVER_ERROR_RANGE = range(-32099, -31999)


class RpcError(Exception):
    """A JSON-RPC error answer: standard code and message (geth's words where it has them)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def answer_code(code: object) -> int:
    """The code to answer with for a code relayed from a peer (an engine, another sequencer).

    Standard codes, server errors (-32000..-32099) and application codes outside the reserved
    range -32768..-32000 pass unchanged (anvil's 3 for a revert, EIP-1193's 4xxx). Anything else
    (not an int, a bool, a reserved code JSON-RPC does not define) becomes -32603.
    """
    if not isinstance(code, int) or isinstance(code, bool):
        return ERR_INTERNAL
    if code in STANDARD_CODES or code == ERR_INTERNAL or code in SERVER_ERROR_RANGE:
        return code
    if -32768 <= code <= -32000 or not -(2**31) <= code < 2**31:
        return ERR_INTERNAL
    return code


def as_rpc_error(exc: BaseException) -> RpcError | None:
    """The JSON-RPC error a failed request is answered with, or None for an unexpected fault
    (answered -32603 "internal error" and logged by `rpc`). `Refused`: -32000 in the domain's
    words (geth's for the transaction pool); `Unavailable` and a fault of an engine or of the
    L1: -32603; an `RpcError` (raised at the edge, or a peer's relayed answer): its own code,
    kept only if a client may be given it (`answer_code`)."""
    if isinstance(exc, RpcError):
        return RpcError(answer_code(exc.code), str(exc.message), exc.data)
    if isinstance(exc, Refused):
        return RpcError(ERR_SERVER, exc.message, exc.data)
    if isinstance(exc, Unavailable):
        return RpcError(ERR_INTERNAL, exc.message, exc.data)
    if isinstance(exc, EngineError):
        return RpcError(ERR_INTERNAL, f"engine unavailable: {exc}")
    return None
