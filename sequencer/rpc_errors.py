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


# anvil answers a call that halts the EVM (eth_call, eth_estimateGas, eth_createAccessList) with
# -32603 "EVM error <Halt>": a fault of the request, not of the engine. geth answers -32000 in these
# words (core/vm/errors.go); a halt not listed keeps anvil's name, lower-cased.
_EVM_HALTS = {
    "OutOfGas": "out of gas",
    "MemoryOOG": "out of gas",
    "MemoryLimitOOG": "out of gas",
    "PrecompileOOG": "out of gas",
    "InvalidOperandOOG": "out of gas",
    "StackUnderflow": "stack underflow",
    "StackOverflow": "stack limit reached 1024",
    "InvalidFEOpcode": "invalid opcode: INVALID",
    "OpcodeNotFound": "invalid opcode",
    "InvalidJump": "invalid jump destination",
    "CallTooDeep": "max call depth exceeded",
    "CreateContractSizeLimit": "max code size exceeded",
    "CreateInitCodeSizeLimit": "max initcode size exceeded",
    "CreateContractStartingWithEF": "invalid code: must not begin with 0xef",
    "CreateCollision": "contract address collision",
    "StateChangeDuringStaticCall": "write protection",
    "OutOfOffset": "return data out of bounds",
    "NonceOverflow": "nonce uint64 overflow",
    "OutOfFunds": "insufficient balance for transfer",
    "PrecompileError": "precompile error",
}
_EVM_ERROR = "EVM error "


def engine_answer_error(error: object) -> RpcError:
    """The error a client is answered with for an engine's JSON-RPC error `error` (its `error`
    member). An EVM halt of the call is the request's fault: -32000 in geth's words. Any other code
    passes through `answer_code`."""
    err = error if isinstance(error, dict) else {}
    code, message = err.get("code"), str(err.get("message", ""))
    if code == ERR_INTERNAL and message.startswith(_EVM_ERROR):
        halt = message[len(_EVM_ERROR) :].split("(", 1)[0].strip()
        return RpcError(ERR_SERVER, _EVM_HALTS.get(halt, halt.lower() or "execution halted"))
    return RpcError(answer_code(code), message, err.get("data"))


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
