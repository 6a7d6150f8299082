"""JSON-RPC over HTTP (aiohttp, and a fast path of its own for whole plain POSTs): one
Ethereum endpoint per rollup, plus the seq_* methods.

Owns the wire: `/<chain_id>` is a standard Ethereum endpoint for that rollup (reads proxied to
its engine; `eth_sendRawTransaction` and `eth_getTransactionCount(.., "pending")` answered by the
sequencer), `/` serves the seq_* methods for every rollup, `/metrics` is Prometheus text. It
follows JSON-RPC 2.0 to the letter: every body is answered with JSON-RPC (-32700 for one that
is not JSON, not UTF-8 or nested deeper than `max_json_depth`; -32600 for what is not a request),
notifications (no `id`) get no answer, the id is echoed wherever the body could be read, no
answer holds NaN or Infinity, and every user number is bounded before use (-32602). It enforces
the body size, batch length, per-client rate and connection limits and the idle, header, body
and write timeouts (`HttpFront`); a request can never crash the service. It holds no state of
its own besides the rate buckets (a client's bucket is forgotten once idle long enough to be
full again) and the count of open connections per client address.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import gc
import http
import inspect
import json
import logging
import math
import re
import signal
import socket
import struct
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import uvloop
from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE

from sequencer.config import ServiceConfig, load_manifest_checked
from sequencer.engine import EngineError
from sequencer.faults import hooks_from_env
from sequencer.journal import BlockSummary, Journal
from sequencer.leader import FORWARDED_HEADER, forwarded_by, forwards
from sequencer.metrics import Metrics, setup_logging
from sequencer.rpc_errors import (
    ERR_INTERNAL,
    INVALID_PARAMS,
    INVALID_REQUEST,
    LIMIT_EXCEEDED,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    RpcError,
    as_rpc_error,
    engine_answer_error,
)
from sequencer.service import Sequencer

log = logging.getLogger("sequencer.rpc")

# The largest number a parameter may carry: block numbers, indexes, chain ids and deadlines are
# stored as SQLite INTEGER (signed 64-bit) and signed as ABI uint64, so 2^63 - 1 fits both.
MAX_QUANTITY = 2**63 - 1
MAX_QUANTITY_HEX_DIGITS = 16
MAX_SUMMARY_BLOCKS = 10_000  # seq_getBlockSummaries: blocks per call
MAX_FORCED_PLACEMENTS = 1_000  # seq_getForcedPlacements: placements per call (and the default)
MAX_TRANSACTIONS_BYTES = 1 << 20  # seq_getBlockTransactions: raw bytes per answer (about)


def _block_transactions(journal: Journal, chain: int, first: int, last: int) -> dict[str, Any]:
    """seq_getBlockTransactions' answer (see `Journal.raws_in_range`)."""
    found, through = journal.raws_in_range(chain, first, last, MAX_TRANSACTIONS_BYTES)
    return {
        "blocks": [
            {"blockNumber": n, "transactions": ["0x" + r.hex() for r in raws]} for n, raws in found
        ],
        "through": through,  # the last block covered (less than `last`: ask again after it)
    }


# Read methods served from the rollup's engine, unchanged.
PROXIED = frozenset(
    {
        "eth_chainId",
        "eth_blockNumber",
        "eth_getBalance",
        "eth_call",
        "eth_estimateGas",
        "eth_createAccessList",
        "eth_getCode",
        "eth_getStorageAt",
        "eth_getProof",
        "eth_getTransactionByHash",
        "eth_getTransactionReceipt",
        "eth_getTransactionByBlockNumberAndIndex",
        "eth_getTransactionByBlockHashAndIndex",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_getBlockReceipts",
        "eth_getBlockTransactionCountByNumber",
        "eth_getBlockTransactionCountByHash",
        "eth_getLogs",
        "eth_gasPrice",
        "eth_maxPriorityFeePerGas",
        "eth_blobBaseFee",
        "eth_feeHistory",
        "eth_syncing",
        "net_version",
        "net_listening",
        "web3_clientVersion",
        "web3_sha3",
    }
)
# Answered from the endpoint's chain id, without asking the engine.
CHAIN_ID_METHODS = frozenset({"eth_chainId", "net_version"})
HEX_RE = re.compile(r"^0x[0-9a-fA-F]*$")
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
CHAIN_KEY_RE = re.compile(r"^[0-9]{1,19}$")  # ASCII digits only (str.isdigit takes "²")


# --- parameters, in geth's words ---


def _arg(params: list[Any], i: int, want: int) -> Any:
    if len(params) > want:
        raise RpcError(INVALID_PARAMS, f"too many arguments, want at most {want}")
    if i >= len(params):
        raise RpcError(INVALID_PARAMS, f"missing value for required argument {i}")
    return params[i]


def hex_bytes(params: list[Any], i: int, want: int) -> bytes:
    value = _arg(params, i, want)
    if not isinstance(value, str):
        raise RpcError(
            INVALID_PARAMS,
            f"invalid argument {i}: json: cannot unmarshal non-string into Go value of type "
            "hexutil.Bytes",
        )
    if not value.startswith(("0x", "0X")):
        raise RpcError(INVALID_PARAMS, f"invalid argument {i}: hex string without 0x prefix")
    if len(value) % 2:
        raise RpcError(INVALID_PARAMS, f"invalid argument {i}: hex string of odd length")
    if not HEX_RE.match("0x" + value[2:]):
        raise RpcError(INVALID_PARAMS, f"invalid argument {i}: invalid hex string")
    return bytes.fromhex(value[2:])


def hash32(params: list[Any], i: int, want: int) -> bytes:
    value = hex_bytes(params, i, want)
    if len(value) != 32:
        raise RpcError(
            INVALID_PARAMS,
            f"invalid argument {i}: hex string has length {2 * len(value)}, want 64 for "
            "common.Hash",
        )
    return value


def address(params: list[Any], i: int, want: int) -> str:
    value = _arg(params, i, want)
    if not isinstance(value, str) or not ADDRESS_RE.match(value):
        raise RpcError(
            INVALID_PARAMS, f"invalid argument {i}: hex string has wrong length for common.Address"
        )
    return value


def quantity(params: list[Any], i: int, want: int, limit: int = MAX_QUANTITY) -> int:
    """A non-negative integer (a JSON number or 0x-hex), at most `limit` (2^63 - 1: what the
    journal and an ABI uint64 can hold); anything else is -32602 before it is used."""
    value = _arg(params, i, want)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        number = value
    elif isinstance(value, str) and HEX_RE.match(value) and len(value) > 2:
        digits = value[2:].lstrip("0") or "0"
        if len(digits) > MAX_QUANTITY_HEX_DIGITS:
            raise RpcError(INVALID_PARAMS, f"invalid argument {i}: quantity above {limit}")
        number = int(digits, 16)
    else:
        raise RpcError(INVALID_PARAMS, f"invalid argument {i}: invalid quantity")
    if number > limit:
        raise RpcError(INVALID_PARAMS, f"invalid argument {i}: quantity above {limit}")
    return number


def _reword(i: int, check: Callable[[], Any], what: str = "") -> Any:
    """`check()`, with its -32602 naming argument `i` (and the field `what`)."""
    try:
        return check()
    except RpcError as exc:
        detail = re.sub(r"^invalid argument \d+: ", "", exc.message)
        where = f"{what}: " if what else ""
        raise RpcError(INVALID_PARAMS, f"invalid argument {i}: {where}{detail}") from None


def bundle_params(params: list[Any]) -> tuple[dict[int, list[bytes]], str, int]:
    """`[{"txs": {"<chainId>": ["0x<raw>", ...], ...}, "beneficiary": "0x..", "deadline": n}]`.

    Chain ids are decimal strings of ASCII digits and, like the deadline (an L1 block number),
    at most 2^63 - 1. Whether the deadline is acceptable is the bundle book's rule."""
    arg = _arg(params, 0, 1)
    if not isinstance(arg, dict) or not isinstance(arg.get("txs"), dict):
        raise RpcError(INVALID_PARAMS, "invalid argument 0: want {txs, beneficiary, deadline}")
    txs: dict[int, list[bytes]] = {}
    for key, raws in arg["txs"].items():
        if not CHAIN_KEY_RE.match(key) or int(key) > MAX_QUANTITY or not isinstance(raws, list):
            raise RpcError(INVALID_PARAMS, "invalid argument 0: txs maps chain ids to raw txs")
        txs[int(key)] = [
            _reword(0, functools.partial(hex_bytes, [raw], 0, 1), "txs") for raw in raws
        ]
    beneficiary = _reword(0, lambda: address([arg.get("beneficiary")], 0, 1), "beneficiary")
    deadline = _reword(0, lambda: quantity([arg.get("deadline")], 0, 1), "deadline")
    return txs, beneficiary, deadline


# --- the seq_* methods: per method its parameters, handler and view ---


def _as_is(seq: Sequencer, result: Any) -> Any:
    return result


@dataclass(frozen=True)
class SeqMethod:
    """One seq_* method. `parse(params, chain_id)` reads the request's parameters (`chain_id`: the
    rollup of the path, None at `/`) into the handler's arguments, -32602 for bad ones;
    `handle(seq, *args)` does the work (a coroutine function or a plain one); `view(seq, result)`
    is the JSON answer (wrapped in `_nullable`: null for None). Adding a method is one entry of
    `SEQ_METHODS`."""

    parse: Callable[[list[Any], int | None], tuple[Any, ...]]
    handle: Callable[..., Any]
    view: Callable[[Sequencer, Any], Any] = _as_is


def _nullable(view: Callable[[Sequencer, Any], Any]) -> Callable[[Sequencer, Any], Any]:
    return lambda seq, result: None if result is None else view(seq, result)


def _one_hash(params: list[Any], chain_id: int | None) -> tuple[Any, ...]:
    return (hash32(params, 0, 1),)


def _no_params(params: list[Any], chain_id: int | None) -> tuple[Any, ...]:
    return ()


def _preconfirmation(seq: Sequencer, chain_id: int | None, tx_hash: bytes) -> Any:
    """A promise: None for an unknown hash, a bundle leg (its promise is the bundle receipt), a
    relay or a forced transaction (its place is the L1 queue's; see seq_getBlockHeader)."""
    record = seq.preconf(tx_hash)
    if record is None or not record.promised:
        return None
    return None if chain_id is not None and record.chain_id != chain_id else record


def _block_header_params(params: list[Any], chain_id: int | None) -> tuple[Any, ...]:
    if chain_id is None:
        return quantity(params, 0, 2), quantity(params, 1, 2)
    return chain_id, quantity(params, 0, 1)


def _forced_placements_params(params: list[Any], chain_id: int | None) -> tuple[Any, ...]:
    """`[fromQueueIndex, limit?]`: `limit` 1..MAX_FORCED_PLACEMENTS, that maximum if left out."""
    first = quantity(params, 0, 2)
    if len(params) < 2:
        return first, MAX_FORCED_PLACEMENTS
    limit = quantity(params, 1, 2)
    if not 1 <= limit <= MAX_FORCED_PLACEMENTS:
        raise RpcError(
            INVALID_PARAMS,
            f"invalid argument 1: limit {limit}: want 1..{MAX_FORCED_PLACEMENTS} placements",
        )
    return first, limit


def _block_summaries_params(params: list[Any], chain_id: int | None) -> tuple[Any, ...]:
    chain, first, last = (quantity(params, i, 3) for i in range(3))
    if not first <= last < first + MAX_SUMMARY_BLOCKS:
        raise RpcError(
            INVALID_PARAMS,
            f"invalid block range {first}..{last}: at most {MAX_SUMMARY_BLOCKS} blocks",
        )
    return chain, first, last


def _placements_json(seq: Sequencer, placements: list[tuple[int, int, tuple[int, ...]]]) -> Any:
    return [
        {"chainId": chain, "blockNumber": number, "indexes": list(indexes)}
        for chain, number, indexes in placements
    ]


def _summaries_json(seq: Sequencer, summaries: list[BlockSummary]) -> Any:
    return [
        {
            "blockNumber": s.number,
            "blockHash": "0x" + s.block_hash.hex(),
            "txCount": s.tx_count,
            "bytes": s.size,
            "forced": s.forced,
            "deadline": s.deadline,
        }
        for s in summaries
    ]


SEQ_METHODS: dict[str, SeqMethod] = {
    "seq_sendRawTransaction": SeqMethod(
        lambda params, chain_id: (chain_id, hex_bytes(params, 0, 1)),
        lambda seq, chain_id, raw: seq.send_raw(chain_id, raw),
        lambda seq, record: seq.preconf_json(record),
    ),
    "seq_getPreconfirmation": SeqMethod(
        lambda params, chain_id: (chain_id, hash32(params, 0, 1)),
        _preconfirmation,
        _nullable(lambda seq, record: seq.preconf_json(record)),
    ),
    "seq_getBlockHeader": SeqMethod(
        _block_header_params, lambda seq, chain, number: seq.block_json(chain, number)
    ),
    "seq_status": SeqMethod(_no_params, lambda seq: seq.status()),
    "seq_getForcedPlacements": SeqMethod(
        _forced_placements_params,
        lambda seq, first, limit: seq.journal.forced_placed_from(first, limit),
        _placements_json,
    ),
    "seq_getBlockSummaries": SeqMethod(
        _block_summaries_params,
        lambda seq, chain, first, last: seq.journal.block_summaries(chain, first, last),
        _summaries_json,
    ),
    "seq_getBlockTransactions": SeqMethod(
        _block_summaries_params,  # the same range bound; the answer stops at about 1 MiB
        # read and hex-encoded in a worker thread: not on the event loop, between promises
        lambda seq, chain, first, last: asyncio.to_thread(
            _block_transactions, seq.journal, chain, first, last
        ),
    ),
    "seq_sendBundle": SeqMethod(
        lambda params, chain_id: bundle_params(params),
        lambda seq, txs, beneficiary, deadline: seq.bundle_book.submit(txs, beneficiary, deadline),
        lambda seq, bundle: {"bundleHash": "0x" + bundle.bundle_hash.hex()},
    ),
    "seq_getBundleReceipt": SeqMethod(
        _one_hash,
        lambda seq, bundle_hash: seq.journal.bundle(bundle_hash),
        _nullable(lambda seq, receipt: seq.bundle_book.receipt_json(receipt)),
    ),
    "seq_getBundleStatus": SeqMethod(
        _one_hash, lambda seq, bundle_hash: seq.bundle_book.status_json(bundle_hash)
    ),
}


# --- proxied reads: the numbers an engine is given are bounded first ---

MAX_FEE_HISTORY_BLOCKS = 1024  # geth's maxFeeHistory
MAX_REWARD_PERCENTILES = 100
# Positional arguments that are a block number or tag, per proxied method; `eth_getLogs`'s filter
# and `eth_feeHistory` are checked by `check_proxied` itself.
_BLOCK_ARGS: dict[str, tuple[int, ...]] = {
    "eth_getBalance": (1,),
    "eth_getCode": (1,),
    "eth_getTransactionCount": (1,),
    "eth_getStorageAt": (2,),
    "eth_getProof": (2,),
    "eth_call": (1,),
    "eth_estimateGas": (1,),
    "eth_createAccessList": (1,),
    "eth_getBlockByNumber": (0,),
    "eth_getBlockReceipts": (0,),
    "eth_getBlockTransactionCountByNumber": (0,),
    "eth_getTransactionByBlockNumberAndIndex": (0, 1),  # and the index
    "eth_getTransactionByBlockHashAndIndex": (1,),  # the index
}


def _block_number(params: list[Any], i: int) -> None:
    """A block number (or index) given as a number or 0x-hex is at most 2^63 - 1; a tag
    ("latest", ...), an EIP-1898 object's number and anything else the engine judges."""
    if i >= len(params):
        return
    value = params[i]
    if isinstance(value, dict) and "blockNumber" in value:
        value = value["blockNumber"]
    if (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and value.startswith("0x") and len(value) > 2
    ):
        quantity([value], 0, 1)  # -32602 "invalid argument 0: ..."; reworded below


def check_proxied(method: str, params: list[Any]) -> None:
    """-32602 for the numbers of a proxied read that are out of bounds, before the engine sees
    them: anvil aborts (the whole process) on `eth_feeHistory` with a block count >= 2^64."""
    for i in _BLOCK_ARGS.get(method, ()):
        _reword(i, functools.partial(_block_number, params, i))
    if method == "eth_getLogs" and params and isinstance(params[0], dict):
        for key in ("fromBlock", "toBlock"):
            _reword(0, functools.partial(_block_number, [params[0].get(key)], 0), key)
    if method == "eth_feeHistory":
        _reword(0, lambda: quantity(params, 0, 3, limit=MAX_FEE_HISTORY_BLOCKS))
        _reword(1, lambda: _block_number(params, 1))
        rewards = params[2] if len(params) > 2 else []
        if not isinstance(rewards, list) or len(rewards) > MAX_REWARD_PERCENTILES:
            raise RpcError(
                INVALID_PARAMS,
                f"invalid argument 2: at most {MAX_REWARD_PERCENTILES} reward percentiles",
            )


# Proxied reads that run a call on the engine, with the gas of their call object (argument 0).
GAS_CAPPED = frozenset({"eth_call", "eth_estimateGas", "eth_createAccessList"})


def cap_gas(method: str, params: list[Any], cap: int) -> list[Any]:
    """`params` with the call object's gas at most `cap` (geth's --rpc.gascap): a call naming
    more gas runs with `cap` (an engine spends a call's gas in CPU, and mines nothing
    meanwhile). A call naming none runs with the engine's block gas limit, as before (its
    balance check against gas x price stays the engine's); a gas the engine cannot read is
    left for it to refuse, in its words."""
    if method not in GAS_CAPPED or not params or not isinstance(params[0], dict):
        return params
    call = params[0]
    gas = call.get("gas")
    if isinstance(gas, int) and not isinstance(gas, bool) and gas >= 0:
        asked = gas
    elif isinstance(gas, str) and len(gas) > 2 and HEX_RE.match(gas):
        asked = int(gas[2:], 16)  # hex: linear in its length, which the body bounds
    else:
        return params
    if asked <= cap:
        return params
    return [{**call, "gas": hex(cap)}, *params[1:]]


# --- the body: JSON, bounded ---

# A JSON string, or an unterminated one up to the end of the body (so that every quote starts
# a match: one pass, linear even on a body of escaped quotes that never closes).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_OPEN_CLOSE = bytes.maketrans(b"{}", b"[]")


class BodyError(ValueError):
    """The body is not JSON the service reads: answered -32700."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400
        raise BodyError(f"number {text[:32]} out of range")
    return value


def _no_constant(name: str) -> float:
    raise BodyError(f"{name} is not JSON")


def nesting_exceeds(raw: bytes, limit: int) -> bool:
    """Whether arrays and objects in `raw` may nest deeper than `limit` (True for some bodies
    that are not JSON at all, which are parse errors anyway).

    Strings are cut out, then only the brackets kept; each pass of removing every empty pair
    "[]" takes exactly one level off, so `limit` passes empty the brackets of a body at most
    that deep. All C-speed byte operations (milliseconds for 4 MiB), and bounded whatever the
    body: json.loads recurses on the C stack once per level, up to the interpreter's recursion
    limit, which a library may have raised far past what a thread's stack holds.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:  # most single calls
        return False
    brackets = _JSON_STRING.sub(b"", raw).translate(_OPEN_CLOSE, _NOT_BRACKETS)
    if brackets.count(b"[") <= limit:
        return False
    for _ in range(limit):
        brackets = brackets.replace(b"[]", b"")
        if not brackets:
            return False
    return True


def parse_body(raw: bytes, max_depth: int) -> Any:
    """The JSON value of a request body, or BodyError: not UTF-8, arrays and objects nested
    deeper than `max_depth` (checked before parsing), not JSON, NaN or Infinity (not JSON,
    though Python reads them), a number beyond a double (1e400), an integer of more than 4300
    digits."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    if nesting_exceeds(raw, max_depth):
        raise BodyError(f"nested deeper than {max_depth}")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:  # cannot happen after the nesting check; never a 500 all the same
        raise BodyError(f"nested deeper than {max_depth}") from None
    except ValueError as exc:  # JSONDecodeError, BodyError, an integer of too many digits
        raise BodyError(str(exc).splitlines()[0][:200]) from None


def valid_id(rid: Any) -> bool:
    """JSON-RPC 2.0 §4: an id is a string, a number or null (never a bool, array or object)."""
    return (
        rid is None
        or isinstance(rid, str | float)
        or (isinstance(rid, int) and not isinstance(rid, bool))
    )


def encode_answer(body: Any) -> str:
    """The JSON text of an answer (or batch of answers). `allow_nan=False`: a result holding
    NaN or Infinity (from an engine) becomes -32603 for that call, never invalid JSON."""
    try:
        return json.dumps(body, allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        items = body if isinstance(body, list) else [body]
        safe = []
        for item in items:
            try:
                json.dumps(item, allow_nan=False)
                safe.append(item)
            except (ValueError, TypeError, RecursionError):
                rid = item.get("id") if isinstance(item, dict) else None
                safe.append(_error(ERR_INTERNAL, "internal error: answer not representable", rid))
        return json.dumps(safe if isinstance(body, list) else safe[0], allow_nan=False)


# --- rate limiting ---


@dataclass
class Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """A token bucket per client address: `rate` calls per second, bursts up to `burst`.

    A bucket left idle for `burst / rate` seconds is full again, the same as a new one: such
    buckets are forgotten (swept at most once per that interval), so the buckets held are those
    of the clients seen in the last two intervals at most.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.buckets: dict[str, Bucket] = {}
        self.refill_s = burst / rate if rate > 0 else float("inf")
        self._swept: float | None = None  # when idle buckets were last forgotten

    def allow(self, client: str, cost: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if self._swept is None:
            self._swept = now
        elif now - self._swept >= self.refill_s:
            self.sweep(now)
        bucket = self.buckets.get(client)
        if bucket is None:
            bucket = self.buckets[client] = Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens < cost:
            return False
        bucket.tokens -= cost
        return True

    def sweep(self, now: float) -> None:
        """Forget the buckets that have been idle long enough to be full again."""
        self._swept = now
        idle = [c for c, b in self.buckets.items() if now - b.stamp >= self.refill_s]
        for client in idle:
            del self.buckets[client]


# --- the server ---


def _error(code: int, message: str, rid: Any = None, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": rid, "error": err}


class RpcServer:
    """The HTTP front of a `Sequencer`."""

    def __init__(self, seq: Sequencer, config: ServiceConfig, metrics: Metrics) -> None:
        self.seq = seq
        self.config = config
        self.metrics = metrics
        self.limiter = RateLimiter(config.rate_per_client_per_s, config.rate_burst)
        self._proxy_limits: dict[int, asyncio.Semaphore] = {}

    def _proxy_slots(self, chain_id: int) -> asyncio.Semaphore:
        """The reads proxied to one engine at once: `proxied_in_flight`, the others waiting in
        order (a client's heavy calls cannot take all of an engine's threads and lock; the
        builder's own engine calls never wait here)."""
        slots = self._proxy_limits.get(chain_id)
        if slots is None:
            slots = self._proxy_limits[chain_id] = asyncio.Semaphore(self.config.proxied_in_flight)
        return slots

    def app(self) -> web.Application:
        app = web.Application(
            client_max_size=self.config.max_body_bytes, middlewares=[_mark_in_request]
        )
        app.router.add_post("/", self.handle)
        app.router.add_post("/{chain_id:[0-9]+}", self.handle)
        app.router.add_get("/metrics", self.handle_metrics)
        app.router.add_get("/health", self.handle_health)
        app.router.add_route("OPTIONS", "/{tail:.*}", self.handle_options)
        app.router.add_post("/{tail:.*}", self.handle)  # no such endpoint: answered -32600
        return app

    async def handle_metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": "text/plain"})

    async def handle_health(self, request: web.Request) -> web.Response:
        ok = self.seq.halted is None
        return web.json_response({"ok": ok, "halted": self.seq.halted}, status=200 if ok else 503)

    async def handle_options(self, request: web.Request) -> web.Response:
        return web.Response(headers=_CORS)

    def render(self, body: Any, status: int = 200) -> tuple[int, str | None]:
        """The HTTP status and JSON text of an answer: no text (and 204 unless refused) when
        every call was a notification (JSON-RPC 2.0 §4.1, §6: nothing at all, not an empty
        array). Counts the errors it carries."""
        if body is None or body == []:
            return (204 if status == 200 else status), None
        for item in body if isinstance(body, list) else [body]:
            if "error" in item:
                self.metrics.rpc_errors.labels(str(item["error"]["code"])).inc()
        return status, encode_answer(body)

    def _reply(self, body: Any, status: int = 200) -> web.Response:
        """The HTTP answer (aiohttp's): the JSON text, or an empty body (see `render`)."""
        status, text = self.render(body, status)
        if text is None:
            return web.Response(status=status, headers=_CORS)
        return web.Response(
            text=text, status=status, content_type="application/json", headers=_CORS
        )

    def endpoint(
        self, chain_digits: str | None, path: str
    ) -> tuple[int | None, RpcError | None, int]:
        """The rollup a POST is for (None at `/`), and the refusal and HTTP status of an unknown
        endpoint (-32600, 404: answered to every call of the body, with its id)."""
        if chain_digits is not None:
            chain_id = int(chain_digits) if len(chain_digits) <= 19 else -1
            if chain_id not in self.seq.chains:
                refused = RpcError(INVALID_REQUEST, f"no rollup with chain id {chain_digits[:24]}")
                return chain_id, refused, 404
            return chain_id, None, 200
        if path != "/":
            return None, RpcError(INVALID_REQUEST, f"no JSON-RPC endpoint at {path[:64]}"), 404
        return None, None, 200

    async def handle(self, request: web.Request) -> web.Response:
        chain_id, refused, status = self.endpoint(request.match_info.get("chain_id"), request.path)
        if (request.content_length or 0) > self.config.max_body_bytes:
            return self._reply(_error(INVALID_REQUEST, "content length too large"), 413)
        try:
            async with asyncio.timeout(self.config.body_timeout_s):
                raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._reply(_error(INVALID_REQUEST, "content length too large"), 413)
        except web.RequestPayloadError as exc:  # not the gzip or deflate it claims to be
            response = self._reply(_error(PARSE_ERROR, "parse error", data=str(exc)[:200]), 400)
            response.force_close()
            return response
        except TimeoutError:  # answer, then close at once (no lingering read of the rest)
            response = self._reply(
                _error(INVALID_REQUEST, "request body not received in time"), 408
            )
            response.force_close()
            await response.prepare(request)
            await response.write_eof()
            request.protocol.force_close()
            return response
        answer, status = await self.respond(
            chain_id,
            refused,
            status,
            raw,
            request.remote or "unknown",
            request.headers.get(FORWARDED_HEADER),
        )
        return self._reply(answer, status)

    async def respond(
        self,
        chain_id: int | None,
        refused: RpcError | None,
        status: int,
        raw: bytes,
        client: str,
        forwarded: str | None,
    ) -> tuple[Any, int]:
        """The JSON-RPC answer to a whole body (a call, a batch, or None for notifications) and
        its HTTP status, for either HTTP path (aiohttp's `handle` or the `_GuardedHandler`
        fast path). `refused`: the error every call gets instead (unknown endpoint)."""
        try:
            body = parse_body(raw, self.config.max_json_depth)
        except BodyError as exc:
            return _error(PARSE_ERROR, "parse error", data=str(exc)), 200
        forwarded_by.set(forwarded)  # seen by LeaderNode.forward
        if isinstance(body, list):
            if not body:
                return _error(INVALID_REQUEST, "empty batch"), 200
            if len(body) > self.config.max_batch_len:
                return (
                    _error(
                        INVALID_REQUEST,
                        f"batch too large: {len(body)} calls, limit {self.config.max_batch_len}",
                    ),
                    200,
                )
            if refused is None and not self.limiter.allow(client, len(body)):
                refused, status = RpcError(LIMIT_EXCEEDED, "limit exceeded"), 429
            if refused is None:
                await self.seq.turns.enter(len(body))
            answers = await asyncio.gather(*(self.call(chain_id, item, refused) for item in body))
            return [a for a in answers if a is not None], status
        if refused is None and not self.limiter.allow(client, 1):
            refused, status = RpcError(LIMIT_EXCEEDED, "limit exceeded"), 429
        if refused is None:
            await self.seq.turns.enter()
        return await self.call(chain_id, body, refused), status

    async def call(
        self, chain_id: int | None, item: Any, refused: RpcError | None = None
    ) -> dict[str, Any] | None:
        """One JSON-RPC call: its answer, or None for a notification (a request without `id`,
        which is still carried out). Never raises. `refused`: the error to answer instead of
        carrying the call out (unknown endpoint, rate limit)."""
        if not isinstance(item, dict):
            return _error(INVALID_REQUEST, "invalid request")
        rid = item.get("id")
        if not valid_id(rid):
            return _error(INVALID_REQUEST, "invalid request: id must be a string, number or null")
        method = item.get("method")
        if not isinstance(method, str) or item.get("jsonrpc", "2.0") != "2.0":
            return _error(INVALID_REQUEST, "invalid request", rid)
        answer = await self._answer(chain_id, method, item.get("params"), rid, refused)
        return answer if "id" in item else None

    async def _answer(
        self, chain_id: int | None, method: str, params: Any, rid: Any, refused: RpcError | None
    ) -> dict[str, Any]:
        if params is None:
            params = []
        if not isinstance(params, list):
            return _error(INVALID_PARAMS, "non-array args", rid)
        try:
            if refused is not None:
                raise refused
            result = await self.dispatch(chain_id, method, params)
            if result is None and self.seq.leader is not None:  # a promise of the leader's?
                result = await self.seq.leader.lookup(chain_id, method, params)
        except Exception as exc:  # noqa: BLE001 - a request must never take the service down
            error = as_rpc_error(exc)  # the one place a domain error gets its code
            if error is not None:
                return _error(error.code, error.message, rid, error.data)
            log.exception("internal error", extra={"event": "rpc_internal", "method": method[:64]})
            return _error(ERR_INTERNAL, "internal error", rid)
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    async def dispatch(self, chain_id: int | None, method: str, params: list[Any]) -> Any:
        seq = self.seq
        if seq.leader is not None and not seq.leader.accepting and forwards(method, params):
            return await seq.leader.forward(chain_id, method, params)  # to the term's leader
        spec = SEQ_METHODS.get(method)
        if spec is not None:
            result = spec.handle(seq, *spec.parse(params, chain_id))
            if inspect.isawaitable(result):
                result = await result
            return spec.view(seq, result)
        if chain_id is None:
            raise RpcError(
                METHOD_NOT_FOUND,
                f"the method {method[:128]} does not exist/is not available",
                "Ethereum methods are served per rollup at /<chain_id>",
            )
        if method == "eth_sendRawTransaction":
            record = await seq.send_raw(chain_id, hex_bytes(params, 0, 1))
            return "0x" + record.tx_hash.hex()
        if method in CHAIN_ID_METHODS:
            # The endpoint's own chain id (the engine's, checked at start), not an engine call:
            # clients ask it before nearly every request, and it stays right while an engine
            # is down.
            if params:
                raise RpcError(INVALID_PARAMS, "too many arguments, want at most 0")
            return hex(chain_id) if method == "eth_chainId" else str(chain_id)
        if method == "eth_getTransactionCount":
            who = address(params, 0, 2)
            tag = params[1] if len(params) > 1 else "latest"
            if tag == "pending":
                return hex(await seq.pending_nonce(chain_id, who))
        if method == "eth_accounts":
            return []
        if method == "eth_getTransactionByHash":
            pending = seq.pending_tx_json(hash32(params, 0, 1))
            if pending is not None and pending["chainId"] == hex(chain_id):
                return pending
        if method in PROXIED or method == "eth_getTransactionCount":
            check_proxied(method, params)
            params = cap_gas(method, params, self.config.rpc_gas_cap)
            async with self._proxy_slots(chain_id):
                answer = await seq.chains[chain_id].engine.request(method, params)
            if not isinstance(answer, dict):
                raise EngineError(f"{method}: the engine answered {str(answer)[:200]}")
            if "error" in answer:  # an EVM halt: -32000; else the engine's code (answer_code)
                raise engine_answer_error(answer["error"])
            return answer.get("result")
        raise RpcError(
            METHOD_NOT_FOUND, f"the method {method[:128]} does not exist/is not available"
        )


_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
}


# --- connections ---


class ConnectionGuard:
    """The open connections of each client address, at most `per_client` at once."""

    def __init__(self, per_client: int) -> None:
        self.per_client = per_client
        self.open: Counter[str] = Counter()

    def admit(self, client: str) -> bool:
        if self.open[client] >= self.per_client:
            return False
        self.open[client] += 1
        return True

    def release(self, client: str) -> None:
        self.open[client] -= 1
        if self.open[client] <= 0:
            del self.open[client]


# --- the fast path: a whole plain POST read and answered without aiohttp's request machinery ---

FAST_HEAD_MAX = 8192  # header bytes the fast path reads; a longer head goes to aiohttp
FAST_HEADERS_MAX = 64
_FAST_REQUEST_LINE = re.compile(rb"POST (/(?:[0-9]+)?) HTTP/1\.1\Z")
_FAST_HEADER = re.compile(
    rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*((?:[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?)?)[ \t]*\Z"
)
# Headers that change how the body is read or the connection is kept: aiohttp handles these.
_FAST_NOT = frozenset({b"transfer-encoding", b"content-encoding", b"expect", b"upgrade"})
_FAST_FORWARDED = FORWARDED_HEADER.lower().encode()
WAIT = object()  # `simple_post`: the headers are in and the body follows


@dataclass(frozen=True)
class SimplePost:
    """A whole JSON-RPC POST as the fast path reads it."""

    chain_digits: str | None  # the digits of `/<chain_id>`, None at `/`
    path: str
    forwarded: str | None  # FORWARDED_HEADER, if sent
    body: bytes


def simple_post(buf: bytes, max_body: int) -> SimplePost | object | None:
    """`buf` (everything a connection sent since its last answer) as one plain request: `POST /`
    or `POST /<digits>`, HTTP/1.1, well-formed header lines (each name once), a Content-Length of
    at most `max_body` and exactly that many body bytes after the head, nothing that changes how
    the body is read (chunked, compressed, 100-continue, upgrade) or closes the connection.
    WAIT while the head is incomplete (up to FAST_HEAD_MAX bytes) or complete with no body byte
    yet (clients write the head and the body apart); None for anything else, which aiohttp
    then reads from the first byte: a request it would refuse, a slow or pipelined body, ..."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return WAIT if len(buf) <= FAST_HEAD_MAX and b"POST /".startswith(buf[:6]) else None
    if end > FAST_HEAD_MAX:
        return None
    lines = buf[:end].split(b"\r\n")
    line = _FAST_REQUEST_LINE.match(lines[0])
    if line is None or len(lines) > FAST_HEADERS_MAX:
        return None
    seen: set[bytes] = set()
    length: int | None = None
    forwarded: str | None = None
    for raw in lines[1:]:
        header = _FAST_HEADER.match(raw)
        if header is None:
            return None
        name, value = header[1].lower(), header[2]
        if name in seen or name in _FAST_NOT:
            return None
        seen.add(name)
        if name == b"content-length":
            if not value.isdigit() or len(value) > 12:
                return None
            length = int(value)
        elif name == b"connection" and value.lower() != b"keep-alive":
            return None
        elif name == _FAST_FORWARDED:
            forwarded = value.decode("ascii")
    if length is None or length > max_body:
        return None
    body = buf[end + 4 :]
    if len(body) != length:
        return WAIT if not body else None
    path = line[1].decode("ascii")
    return SimplePost(path[1:] or None, path, forwarded, body)


_SERVER = SERVER_SOFTWARE
_CORS_LINES = "".join(f"{name}: {value}\r\n" for name, value in _CORS.items())
_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return _date_cache[1]


def http_answer(status: int, text: str | None) -> bytes:
    """The bytes aiohttp writes for `RpcServer._reply`'s answer (the same status line and
    headers, in its order)."""
    head = f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n{_CORS_LINES}"
    body = b""
    if text is not None:
        body = text.encode()
        head += f"Content-Type: application/json; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
    elif status != 204:
        head += "Content-Length: 0\r\n"
    head += f"Date: {_http_date()}\r\nServer: {_SERVER}\r\n\r\n"
    return head.encode() + body


class _GuardedHandler(web.RequestHandler):
    """aiohttp's connection handler with the connection cap and a header-read timeout.

    A connection over its client's cap is closed at once, before anything is read. The header
    timer starts with the first byte that arrives while no request of the connection is being
    handled, and closes the connection unless a request's headers are complete (its handler
    starts) within `header_timeout_s`. aiohttp's keep-alive timer (`idle_timeout_s`) closes a
    connection that has not completed a request that long after it opened or after its last
    answer, so bytes that arrive while a request runs (a partial pipelined request) are bounded
    by it. A client that stops reading its answers, so that they back up beyond the transport's
    write buffer for `write_timeout_s`, has its connection aborted (a close would wait for the
    buffer to drain, which it never does).
    """

    def __init__(
        self,
        manager: web.Server,
        *,
        guard: ConnectionGuard,
        header_timeout_s: float,
        write_timeout_s: float,
        loop: asyncio.AbstractEventLoop,
        rpc: RpcServer | None = None,
        fast_tasks: set[asyncio.Task] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(manager, loop=loop, **kwargs)
        self._rpc = rpc
        # what the connection sent since its last fast answer; None once aiohttp reads it
        self._fast_buf: bytearray | None = bytearray() if rpc is not None else None
        self._fast_task: asyncio.Task | None = None
        self._fast_tasks = fast_tasks if fast_tasks is not None else set()
        self._remote: str | None = None
        self._guard = guard
        self._header_timeout_s = header_timeout_s
        self._write_timeout_s = write_timeout_s
        self._write_timer: asyncio.TimerHandle | None = None
        self._event_loop = loop
        self._client: str | None = None  # counted in the guard while set
        self._header_timer: asyncio.TimerHandle | None = None
        self._in_request = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) and peer else "local"
        self._remote = str(peer[0]) if isinstance(peer, list | tuple) else None  # aiohttp's
        if self._guard.admit(client):
            self._client = client
        else:
            self._count_closed("over_cap")
            self.force_close()

    def _count_closed(self, reason: str) -> None:
        if self._rpc is not None:
            self._rpc.metrics.connections_closed.labels(reason).inc()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._client is not None:
            self._guard.release(self._client)
            self._client = None
        self._stop_header_timer()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self._event_loop.call_later(
                self._write_timeout_s, self._write_timeout
            )

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_timeout(self) -> None:
        self._write_timer = None
        transport = self.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:  # reset, and free the kernel's send buffer now (no FIN behind it)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._count_closed("write_timeout")
        transport.abort()  # connection_lost follows

    def data_received(self, data: bytes) -> None:
        if self._fast_buf is not None:
            if self._force_close or self._close:
                return
            self._fast_buf += data
            if self._fast_task is not None:  # answering: the rest waits (and the socket too)
                if self.transport is not None:
                    self.transport.pause_reading()
                return
        if self._header_timer is None and not self._in_request and self.transport is not None:
            self._header_timer = self._event_loop.call_later(
                self._header_timeout_s, self._header_timeout
            )
        if self._fast_buf is not None:
            self._fast_step()
        else:
            super().data_received(data)

    # The fast path. A connection's bytes are read here while each is one plain request
    # (`simple_post`), answered by `RpcServer.respond` and written in aiohttp's form
    # (`http_answer`); the first thing that is not goes to aiohttp, from its first byte, and
    # aiohttp reads the connection from then on. The connection's limits are the same: the
    # header timer runs until a head is complete, a request stops it and aiohttp's keep-alive
    # timer (restarted after each answer), bytes sent while a request runs wait unread, and
    # the body limit, timeouts and every answer of an unusual request are aiohttp's own.

    def _fast_step(self) -> None:
        assert self._fast_buf is not None and self._rpc is not None
        got = simple_post(bytes(self._fast_buf), self._rpc.config.max_body_bytes)
        if got is WAIT:
            return
        if not isinstance(got, SimplePost):
            self._fall_back()
            return
        self._fast_buf = bytearray()
        self.request_started()
        if self._keepalive_handle is not None:
            self._keepalive_handle.cancel()
            self._keepalive_handle = None
        task = self._event_loop.create_task(self._fast_answer(got))
        self._fast_task = task
        self._fast_tasks.add(task)
        task.add_done_callback(self._fast_tasks.discard)

    def _fall_back(self) -> None:
        """aiohttp reads this connection from now on, starting with the bytes held here."""
        held, self._fast_buf = bytes(self._fast_buf or b""), None
        if held:
            web.RequestHandler.data_received(self, held)

    async def _fast_answer(self, request: SimplePost) -> None:
        rpc = self._rpc
        assert rpc is not None
        try:
            chain_id, refused, status = rpc.endpoint(request.chain_digits, request.path)
            answer, status = await rpc.respond(
                chain_id,
                refused,
                status,
                request.body,
                self._remote or "unknown",
                request.forwarded,
            )
            reply = http_answer(*rpc.render(answer, status))
        except Exception:  # noqa: BLE001 - never a crash; aiohttp would answer 500
            log.exception("internal error", extra={"event": "rpc_internal"})
            self._fast_task = None
            self.request_done()
            self.force_close()
            return
        self._fast_task = None
        self.request_done()
        transport = self.transport
        if transport is None or transport.is_closing() or self._force_close:
            return
        transport.write(reply)
        if self._keepalive_timeout > 0:  # aiohttp's idle timer, from this answer
            if self._keepalive_handle is not None:
                self._keepalive_handle.cancel()
            close_time = self._event_loop.time() + self._keepalive_timeout
            self._next_keepalive_close_time = close_time
            self._keepalive_handle = self._event_loop.call_at(close_time, self._process_keepalive)
        transport.resume_reading()
        if self._fast_buf:  # sent while this request ran
            if self._header_timer is None:
                self._header_timer = self._event_loop.call_later(
                    self._header_timeout_s, self._header_timeout
                )
            self._fast_step()

    def request_started(self) -> None:
        self._in_request = True
        self._stop_header_timer()

    def request_done(self) -> None:
        self._in_request = False

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self._in_request:
            return
        if self._fast_buf and b"\r\n\r\n" in self._fast_buf:
            # a whole head and no body yet: aiohttp reads it (and answers a slow body 408)
            self._fall_back()
            return
        self._count_closed("header_timeout")
        self.force_close()


@web.middleware
async def _mark_in_request(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Tell the connection's handler that a request's headers are in (its header timer stops)."""
    protocol = request.protocol
    if not isinstance(protocol, _GuardedHandler):  # served by a plain aiohttp runner
        return await handler(request)
    protocol.request_started()
    try:
        return await handler(request)
    finally:
        protocol.request_done()


class HttpFront:
    """The listening socket of an `RpcServer`, with the connection limits of its config:
    `max_connections_per_client`, `idle_timeout_s` (aiohttp's keep-alive timeout),
    `header_timeout_s` and `write_timeout_s` (`_GuardedHandler`); `body_timeout_s` is the
    RpcServer's own."""

    BACKLOG = 1024  # connections the kernel queues before they are accepted

    def __init__(self, rpc: RpcServer) -> None:
        self.rpc = rpc
        self.guard = ConnectionGuard(rpc.config.max_connections_per_client)
        self.fast_tasks: set[asyncio.Task] = set()  # requests the fast path is answering
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.AbstractServer | None = None

    async def start(self, host: str, port: int) -> None:
        config = self.rpc.config
        self._runner = web.AppRunner(self.rpc.app(), access_log=None)
        await self._runner.setup()
        manager = self._runner.server
        assert manager is not None
        loop = asyncio.get_running_loop()

        def connection() -> _GuardedHandler:
            return _GuardedHandler(
                manager,
                guard=self.guard,
                header_timeout_s=config.header_timeout_s,
                write_timeout_s=config.write_timeout_s,
                loop=loop,
                rpc=self.rpc,
                fast_tasks=self.fast_tasks,
                keepalive_timeout=config.idle_timeout_s,
                access_log=None,
            )

        self._listener = await loop.create_server(
            connection, host, port, backlog=self.BACKLOG, reuse_address=True
        )

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        # Let the fast path's requests be answered, as aiohttp lets its handlers finish (and
        # those that kept alive connections bring meanwhile), for at most 15 s.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while self.fast_tasks and loop.time() < deadline:
            await asyncio.wait(set(self.fast_tasks), timeout=deadline - loop.time())
        if self._runner is not None:
            await self._runner.cleanup()  # closes the open connections
            self._runner = None


async def serve(config: ServiceConfig, on_ready: Callable[[str], None] | None = None) -> None:
    """Run the service until SIGINT or SIGTERM."""
    manifest = load_manifest_checked(config)
    signer = config.load_signer()
    domain = config.signing_domain(manifest)
    metrics = Metrics()
    seq = Sequencer(config, manifest, signer, domain, metrics, slot_hooks=hooks_from_env())
    await seq.start()
    front = HttpFront(RpcServer(seq, config, metrics))
    await front.start(config.host, config.port)
    url = f"http://{config.host}:{config.port}"
    log.info("listening", extra={"event": "listening", "url": url, "config": config.describe()})
    if on_ready is not None:
        on_ready(url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        while not stop.is_set() and seq.halted is None:
            try:
                await asyncio.wait_for(stop.wait(), timeout=0.5)
            except TimeoutError:
                pass
    finally:
        await front.stop()
        await seq.stop()
    if seq.halted is not None:
        raise SystemExit(f"sequencer halted: {seq.halted}")


def run(config: ServiceConfig, on_ready: Callable[[str], None] | None = None) -> None:
    setup_logging()
    # Fewer, later collections of the long-lived objects loaded at start: GC pauses show up as
    # pre-confirmation latency.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    # uvloop (libuv) runs the same coroutines with less CPU per request than asyncio's own loop
    # (about 8 % of the service's CPU per transaction in bench/ingest.py).
    uvloop.run(serve(config, on_ready))
