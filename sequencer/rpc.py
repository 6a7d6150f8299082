"""JSON-RPC over HTTP (aiohttp): one Ethereum endpoint per rollup, plus the seq_* methods.

Owns the wire: `/<chain_id>` is a standard Ethereum endpoint for that rollup (reads proxied to
its engine; `eth_sendRawTransaction` and `eth_getTransactionCount(.., "pending")` answered by the
sequencer), `/` serves the seq_* methods for every rollup, `/metrics` is Prometheus text. It
enforces the body size, batch length and per-client rate limits, and turns every failure into a
JSON-RPC error with the standard code (-32700, -32600, -32601, -32602) or geth's words; a request
can never crash the service. It holds no state of its own besides the rate buckets (a client's
bucket is forgotten once idle long enough to be full again, so they stay bounded).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvloop
from aiohttp import web

from sequencer.config import ServiceConfig, load_manifest_checked
from sequencer.leader import FORWARDED_HEADER, NotAccepting, forwarded_by, forwards
from sequencer.metrics import Metrics, setup_logging
from sequencer.service import ERR_INTERNAL, EngineError, RpcError, Sequencer

log = logging.getLogger("sequencer.rpc")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
LIMIT_EXCEEDED = -32005
MAX_SUMMARY_BLOCKS = 10_000  # seq_getBlockSummaries: blocks per call

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
HEX_RE = re.compile(r"^0x[0-9a-fA-F]*$")
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")


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


def quantity(params: list[Any], i: int, want: int) -> int:
    value = _arg(params, i, want)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and HEX_RE.match(value) and len(value) > 2:
        return int(value, 16)
    raise RpcError(INVALID_PARAMS, f"invalid argument {i}: invalid quantity")


def bundle_params(params: list[Any]) -> tuple[dict[int, list[bytes]], str, int]:
    """`[{"txs": {"<chainId>": ["0x<raw>", ...], ...}, "beneficiary": "0x..", "deadline": n}]`."""
    arg = _arg(params, 0, 1)
    if not isinstance(arg, dict) or not isinstance(arg.get("txs"), dict):
        raise RpcError(INVALID_PARAMS, "invalid argument 0: want {txs, beneficiary, deadline}")
    txs: dict[int, list[bytes]] = {}
    for key, raws in arg["txs"].items():
        if not (isinstance(key, str) and key.isdigit()) or not isinstance(raws, list):
            raise RpcError(INVALID_PARAMS, "invalid argument 0: txs maps chain ids to raw txs")
        txs[int(key)] = [hex_bytes([raw], 0, 1) for raw in raws]
    beneficiary = address([arg.get("beneficiary")], 0, 1)
    deadline = quantity([arg.get("deadline")], 0, 1)
    return txs, beneficiary, deadline


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

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.max_body_bytes)
        app.router.add_post("/", self.handle)
        app.router.add_post("/{chain_id:[0-9]+}", self.handle)
        app.router.add_get("/metrics", self.handle_metrics)
        app.router.add_get("/health", self.handle_health)
        app.router.add_route("OPTIONS", "/{tail:.*}", self.handle_options)
        return app

    async def handle_metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": "text/plain"})

    async def handle_health(self, request: web.Request) -> web.Response:
        ok = self.seq.halted is None
        return web.json_response({"ok": ok, "halted": self.seq.halted}, status=200 if ok else 503)

    async def handle_options(self, request: web.Request) -> web.Response:
        return web.Response(headers=_CORS)

    def _reply(self, body: Any, status: int = 200) -> web.Response:
        if isinstance(body, dict) and "error" in body:
            self.metrics.rpc_errors.labels(str(body["error"]["code"])).inc()
        elif isinstance(body, list):
            for item in body:
                if "error" in item:
                    self.metrics.rpc_errors.labels(str(item["error"]["code"])).inc()
        return web.Response(
            text=json.dumps(body), status=status, content_type="application/json", headers=_CORS
        )

    async def handle(self, request: web.Request) -> web.Response:
        chain_id: int | None = None
        if "chain_id" in request.match_info:
            chain_id = int(request.match_info["chain_id"])
            if chain_id not in self.seq.chains:
                return self._reply(
                    _error(INVALID_REQUEST, f"no rollup with chain id {chain_id}"), 404
                )
        if (request.content_length or 0) > self.config.max_body_bytes:
            return self._reply(_error(INVALID_REQUEST, "content length too large"), 413)
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._reply(_error(INVALID_REQUEST, "content length too large"), 413)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return self._reply(_error(PARSE_ERROR, "parse error"))
        client = request.remote or "unknown"
        forwarded_by.set(request.headers.get(FORWARDED_HEADER))  # seen by LeaderNode.forward
        if isinstance(body, list):
            if not body:
                return self._reply(_error(INVALID_REQUEST, "empty batch"))
            if len(body) > self.config.max_batch_len:
                return self._reply(
                    _error(
                        INVALID_REQUEST,
                        f"batch too large: {len(body)} calls, limit {self.config.max_batch_len}",
                    )
                )
            if not self.limiter.allow(client, len(body)):
                return self._reply(_error(LIMIT_EXCEEDED, "limit exceeded"), 429)
            await self.seq.turns.enter(len(body))
            answers = await asyncio.gather(*(self.call(chain_id, item) for item in body))
            return self._reply([a for a in answers if a is not None])
        if not self.limiter.allow(client, 1):
            rid = body.get("id") if isinstance(body, dict) else None
            return self._reply(_error(LIMIT_EXCEEDED, "limit exceeded", rid), 429)
        await self.seq.turns.enter()
        answer = await self.call(chain_id, body)
        return self._reply(answer if answer is not None else [])

    async def call(self, chain_id: int | None, item: Any) -> dict[str, Any] | None:
        """One JSON-RPC call; never raises."""
        if not isinstance(item, dict):
            return _error(INVALID_REQUEST, "invalid request")
        rid = item.get("id")
        method = item.get("method")
        if not isinstance(method, str) or item.get("jsonrpc", "2.0") != "2.0":
            return _error(INVALID_REQUEST, "invalid request", rid)
        params = item.get("params", [])
        if params is None:
            params = []
        if not isinstance(params, list):
            return _error(INVALID_PARAMS, "non-array args", rid)
        try:
            result = await self.dispatch(chain_id, method, params)
            if result is None and self.seq.leader is not None:  # a promise of the leader's?
                result = await self.seq.leader.lookup(chain_id, method, params)
        except (RpcError, NotAccepting) as exc:
            return _error(exc.code, exc.message, rid, exc.data)
        except EngineError as exc:
            return _error(ERR_INTERNAL, f"engine unavailable: {exc}", rid)
        except Exception:  # noqa: BLE001 - a request must never take the service down
            log.exception("internal error", extra={"event": "rpc_internal", "method": method})
            return _error(ERR_INTERNAL, "internal error", rid)
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    async def dispatch(self, chain_id: int | None, method: str, params: list[Any]) -> Any:
        seq = self.seq
        if seq.leader is not None and not seq.leader.accepting and forwards(method, params):
            return await seq.leader.forward(chain_id, method, params)  # to the term's leader
        if method == "seq_sendRawTransaction":
            record = await seq.send_raw(chain_id, hex_bytes(params, 0, 1))
            return seq.preconf_json(record)
        if method == "seq_getPreconfirmation":
            record = seq.preconf(hash32(params, 0, 1))
            if (
                record is None
                or record.leg
                or record.forced
                or (chain_id is not None and record.chain_id != chain_id)
            ):
                return None  # unknown, a bundle leg (its promise is the bundle receipt), a relay
                # or a forced transaction (its place is the L1 queue's; see seq_getBlockHeader)
            return seq.preconf_json(record)
        if method == "seq_getBlockHeader":
            if chain_id is None:
                chain = quantity(params, 0, 2)
                number = quantity(params, 1, 2)
            else:
                chain, number = chain_id, quantity(params, 0, 1)
            return seq.block_json(chain, number)
        if method == "seq_status":
            return seq.status()
        if method == "seq_getForcedPlacements":
            return [
                {"chainId": chain, "blockNumber": number, "indexes": list(indexes)}
                for chain, number, indexes in seq.journal.forced_placed_from(quantity(params, 0, 1))
            ]
        if method == "seq_getBlockSummaries":
            chain, first, last = (quantity(params, i, 3) for i in range(3))
            if not first <= last < first + MAX_SUMMARY_BLOCKS:
                raise RpcError(
                    INVALID_PARAMS,
                    f"invalid block range {first}..{last}: at most {MAX_SUMMARY_BLOCKS} blocks",
                )
            return seq.journal.block_summaries(chain, first, last)
        if method == "seq_sendBundle":
            txs, beneficiary, deadline = bundle_params(params)
            bundle = await seq.bundle_book.submit(txs, beneficiary, deadline)
            return {"bundleHash": "0x" + bundle.bundle_hash.hex()}
        if method == "seq_getBundleReceipt":
            receipt = seq.journal.bundle(hash32(params, 0, 1))
            return seq.bundle_book.receipt_json(receipt) if receipt is not None else None
        if method == "seq_getBundleStatus":
            return seq.bundle_book.status_json(hash32(params, 0, 1))
        if chain_id is None:
            raise RpcError(
                METHOD_NOT_FOUND,
                f"the method {method} does not exist/is not available",
                "Ethereum methods are served per rollup at /<chain_id>",
            )
        if method == "eth_sendRawTransaction":
            record = await seq.send_raw(chain_id, hex_bytes(params, 0, 1))
            return "0x" + record.tx_hash.hex()
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
            answer = await seq.chains[chain_id].engine.request(method, params)
            if "error" in answer:
                err = answer["error"]
                raise RpcError(
                    err.get("code", ERR_INTERNAL), err.get("message", ""), err.get("data")
                )
            return answer.get("result")
        raise RpcError(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available")


_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
}


async def serve(config: ServiceConfig, on_ready: Callable[[str], None] | None = None) -> None:
    """Run the service until SIGINT or SIGTERM."""
    manifest = load_manifest_checked(config)
    signer = config.load_signer()
    domain = config.signing_domain(manifest)
    metrics = Metrics()
    seq = Sequencer(config, manifest, signer, domain, metrics)
    await seq.start()
    runner = web.AppRunner(RpcServer(seq, config, metrics).app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
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
        await runner.cleanup()
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
