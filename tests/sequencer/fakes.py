"""In-memory fakes of a rollup engine and of the L1, for unit tests of the middle layer.

`FakeEngine` is a small anvil (`--no-mining --order fifo`): accounts with nonces and balances, a
pool that refuses what anvil refuses (a nonce used, funds short, a wrong chain id, a duplicate),
`evm_mine` that executes the pool in arrival order (nonce by nonce, within the block gas limit
and the base fee, EIP-1559 base fees), blocks with hashes that commit to their transactions,
receipts, `anvil_rollback` with the state at each block, `txpool_status`. `FakeL1` answers
`eth_blockNumber`, `eth_getLogs` (logs added by the test) and `eth_call` to the contracts the test
registers (`inbox`: `forced_through()`; `registry`: `TERM_BLOCKS()`, `leader_of`, `jailed`, ...).
Both speak the `EngineClient` interface (`request`, `call`, `batch`, `send_in_order`), so the
service's code runs on them unchanged; `start_sequencer` starts a real `Sequencer` (real SQLite
journal under the test's tmp_path) on them, with the builder left to the test (`build_slot`).
"""

from __future__ import annotations

import asyncio
import copy
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from sequencer.config import ServiceConfig
from sequencer.engine import EngineError, EngineUnreachable
from sequencer.forced import FORCED_TOPIC
from sequencer.manifest import ChainEntry, ContractEntry, Manifest
from sequencer.mempool import TxRejected, decode_tx, next_base_fee
from sequencer.metrics import Metrics
from sequencer.service import Sequencer

GWEI = 10**9
GENESIS_TIME = 1_767_225_600
GAS_LIMIT = 30_000_000
# test-only keys of the rollups' users (funded on both fake engines by `start_sequencer`)
KEYS = ["0x" + f"{n:064x}" for n in range(0xA11CE, 0xA11CE + 8)]
ADDRESSES = [Account.from_key(k).address for k in KEYS]
SLASHER = "0x" + "5a" * 20


def _error(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


class FakeNode(ABC):
    """The JSON-RPC surface shared by the fakes: each fake's `handle(method, params)` returns a
    result or raises `RpcFault`; everything else is the `EngineClient` interface."""

    def __init__(self, chain_id: int, url: str) -> None:
        self.chain_id = chain_id
        self.url = url
        self.calls: list[str] = []  # every method asked, in order
        self.down = False  # True: no answer at all (EngineUnreachable), like a dead process
        self.fail: dict[str, dict[str, Any]] = {}  # method -> the error it answers (once)

    @abstractmethod
    def handle(self, method: str, params: list[Any]) -> Any:
        """The result of `method` on this node (FakeEngine, FakeL1)."""

    def answer(self, method: str, params: Any) -> dict[str, Any]:
        self.calls.append(method)
        if method in self.fail:
            return {"jsonrpc": "2.0", "id": 1, "error": self.fail.pop(method)}
        try:
            return {"jsonrpc": "2.0", "id": 1, "result": self.handle(method, list(params or []))}
        except RpcFault as exc:
            return {"jsonrpc": "2.0", "id": 1, "error": _error(exc.code, exc.message)}

    async def request(self, method: str, params: Any) -> dict[str, Any]:
        if self.down:
            raise EngineUnreachable(f"{method} on {self.url}: connection refused")
        return self.answer(method, params)

    async def call(self, method: str, params: list[Any] | None = None) -> Any:
        answer = await self.request(method, params or [])
        if "error" in answer:
            raise EngineError(f"{method} on {self.url}: {answer['error']}")
        return answer.get("result")

    async def batch(self, calls) -> list[dict[str, Any]]:
        if self.down:
            raise EngineUnreachable(f"batch on {self.url}: connection refused")
        return [self.answer(method, params) for method, params in calls]

    async def send_in_order(self, raws: list[bytes]) -> list[dict[str, Any]]:
        if self.down:
            raise EngineUnreachable(f"send to {self.url}: connection refused")
        return [self.answer("eth_sendRawTransaction", ["0x" + raw.hex()]) for raw in raws]

    async def close_pipe(self) -> None:
        return None


class RpcFault(Exception):
    """A JSON-RPC error answer of a fake node (code and message as anvil words them)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class FakeAccount:
    nonce: int = 0
    balance: int = 0
    code: str = "0x"


@dataclass
class _Block:
    number: int
    block_hash: bytes
    parent_hash: bytes
    timestamp: int
    base_fee: int
    gas_used: int
    gas_limit: int
    txs: list[bytes] = field(default_factory=list)  # hashes
    state: dict[str, FakeAccount] = field(default_factory=dict)  # accounts after this block

    def json(self) -> dict[str, Any]:
        return {
            "number": hex(self.number),
            "hash": "0x" + self.block_hash.hex(),
            "parentHash": "0x" + self.parent_hash.hex(),
            "timestamp": hex(self.timestamp),
            "baseFeePerGas": hex(self.base_fee),
            "gasUsed": hex(self.gas_used),
            "gasLimit": hex(self.gas_limit),
            "transactions": ["0x" + h.hex() for h in self.txs],
        }


def intrinsic_gas(data: bytes) -> int:
    return 21_000 + sum(16 if b else 4 for b in data)


class FakeEngine(FakeNode):
    """An in-memory rollup engine that behaves like anvil --no-mining --order fifo."""

    def __init__(
        self,
        chain_id: int,
        funded: dict[str, int] | None = None,
        gas_limit: int = GAS_LIMIT,
        base_fee: int = GWEI,
    ) -> None:
        super().__init__(chain_id, f"fake://engine/{chain_id}")
        state = {to_checksum_address(a): FakeAccount(balance=b) for a, b in (funded or {}).items()}
        genesis = _Block(
            0,
            keccak(b"genesis%d" % chain_id),
            bytes(32),
            GENESIS_TIME,
            base_fee,
            0,
            gas_limit,
            [],
            state,
        )
        self.blocks: list[_Block] = [genesis]
        self.pool: list[Any] = []  # decoded transactions, in arrival order
        self.receipts: dict[bytes, dict[str, Any]] = {}
        self.reverting: set[str] = set()  # calls to these addresses revert (status 0)
        self.next_base_fee: int | None = None  # anvil_setNextBlockBaseFeePerGas

    # --- state ---

    @property
    def head(self) -> _Block:
        return self.blocks[-1]

    def account(self, address: str, block: _Block | None = None) -> FakeAccount:
        state = (block or self.head).state
        return state.get(to_checksum_address(address), FakeAccount())

    def mined_txs(self) -> list[bytes]:
        return [h for b in self.blocks for h in b.txs]

    def _at(self, tag: Any) -> _Block:
        if tag in (None, "latest", "pending", "safe", "finalized"):
            return self.head
        if tag == "earliest":
            return self.blocks[0]
        number = int(tag, 16)
        if number >= len(self.blocks):
            raise RpcFault(-32000, "header not found")
        return self.blocks[number]

    def _base_fee(self) -> int:
        if self.next_base_fee is not None:
            return self.next_base_fee
        h = self.head
        if h.number == 0:  # as anvil: block 1 keeps the genesis base fee
            return h.base_fee
        return next_base_fee(h.base_fee, h.gas_used, h.gas_limit)

    # --- the pool ---

    def _send(self, raw_hex: str) -> str:
        try:
            tx = decode_tx(bytes.fromhex(raw_hex[2:]))
        except (TxRejected, ValueError) as exc:
            raise RpcFault(-32602, f"failed to decode signed transaction: {exc}") from None
        if tx.chain_id != self.chain_id:
            raise RpcFault(-32003, "invalid chain id for signer")
        if tx.tx_hash in self.receipts or any(p.tx_hash == tx.tx_hash for p in self.pool):
            raise RpcFault(-32003, "transaction already imported")
        account = self.account(tx.sender)
        if tx.nonce < account.nonce:
            raise RpcFault(-32003, "nonce too low")
        if account.balance < tx.max_cost:
            raise RpcFault(-32003, "insufficient funds for gas * price + value")
        if tx.gas < intrinsic_gas(tx.data):
            raise RpcFault(-32003, "intrinsic gas too low")
        self.pool.append(tx)
        return "0x" + tx.tx_hash.hex()

    def _status(self) -> dict[str, str]:
        nonces: dict[str, int] = {}
        pending = 0
        for tx in sorted(self.pool, key=lambda t: t.nonce):
            expected = nonces.get(tx.sender, self.account(tx.sender).nonce)
            if tx.nonce == expected:
                nonces[tx.sender] = expected + 1
                pending += 1
        return {"pending": hex(pending), "queued": hex(len(self.pool) - pending)}

    # --- mining ---

    def mine(self, timestamp: int | None = None) -> _Block:
        parent = self.head
        if timestamp is None:
            timestamp = parent.timestamp + 1
        if timestamp < parent.timestamp:
            raise RpcFault(-32000, f"timestamp {timestamp} before the parent's {parent.timestamp}")
        base_fee = self._base_fee()
        self.next_base_fee = None
        state = copy.deepcopy(parent.state)
        included: list[bytes] = []
        gas_used = 0
        progress = True
        while progress:  # fifo, each sender's transactions in nonce order
            progress = False
            for tx in list(self.pool):
                sender = state.setdefault(tx.sender, FakeAccount())
                if tx.nonce != sender.nonce or tx.fee_cap < base_fee:
                    continue
                used = intrinsic_gas(tx.data)
                if gas_used + tx.gas > parent.gas_limit or sender.balance < tx.max_cost:
                    continue
                price = min(tx.fee_cap, base_fee + tx.tip_cap)
                ok = tx.to is None or to_checksum_address(tx.to) not in self.reverting
                sender.nonce += 1
                sender.balance -= used * price + (tx.value if ok else 0)
                if ok and tx.to is not None:
                    state.setdefault(to_checksum_address(tx.to), FakeAccount()).balance += tx.value
                gas_used += used
                included.append(tx.tx_hash)
                self.pool.remove(tx)
                self.receipts[tx.tx_hash] = {
                    "transactionHash": "0x" + tx.tx_hash.hex(),
                    "blockNumber": hex(parent.number + 1),
                    "transactionIndex": hex(len(included) - 1),
                    "from": tx.sender,
                    "status": "0x1" if ok else "0x0",
                    "gasUsed": hex(used),
                    "logs": [],
                }
                progress = True
        number = parent.number + 1
        block_hash = keccak(
            parent.block_hash
            + number.to_bytes(8, "big")
            + timestamp.to_bytes(8, "big")
            + base_fee.to_bytes(32, "big")
            + b"".join(included)
        )
        block = _Block(
            number,
            block_hash,
            parent.block_hash,
            timestamp,
            base_fee,
            gas_used,
            parent.gas_limit,
            included,
            state,
        )
        self.blocks.append(block)
        return block

    def rollback(self, depth: int) -> None:
        if depth >= len(self.blocks):
            raise RpcFault(-32000, "rollback depth beyond genesis")
        for block in self.blocks[len(self.blocks) - depth :]:
            for h in block.txs:
                self.receipts.pop(h, None)
        del self.blocks[len(self.blocks) - depth :]

    # --- JSON-RPC ---

    def handle(self, method: str, params: list[Any]) -> Any:
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "eth_blockNumber":
            return hex(self.head.number)
        if method == "eth_getBlockByNumber":
            try:
                return self._at(params[0]).json()
            except RpcFault:
                return None
        if method == "eth_getBlockByHash":
            want = bytes.fromhex(params[0][2:])
            return next((b.json() for b in self.blocks if b.block_hash == want), None)
        if method == "eth_getTransactionCount":  # "pending" as "latest" (the service
            # answers "pending" itself and reads nonces at block numbers)
            return hex(
                self.account(params[0], self._at(params[1] if len(params) > 1 else None)).nonce
            )
        if method == "eth_getBalance":
            return hex(
                self.account(params[0], self._at(params[1] if len(params) > 1 else None)).balance
            )
        if method == "eth_getCode":
            return self.account(params[0], self._at(params[1] if len(params) > 1 else None)).code
        if method == "eth_sendRawTransaction":
            return self._send(params[0])
        if method == "txpool_status":
            return self._status()
        if method == "anvil_dropAllTransactions":
            self.pool.clear()
            return None
        if method == "evm_mine":
            opts = params[0] if params else {}
            self.mine(opts.get("timestamp") if isinstance(opts, dict) else None)
            return "0x0"
        if method == "anvil_rollback":
            self.rollback(params[0])
            return None
        if method == "anvil_setNextBlockBaseFeePerGas":
            self.next_base_fee = int(params[0], 16)
            return None
        if method == "eth_getTransactionReceipt":
            return self.receipts.get(bytes.fromhex(params[0][2:]))
        if method == "eth_getBlockReceipts":
            block = self._at(params[0])
            return [self.receipts[h] for h in block.txs]
        if method == "eth_getLogs":
            return []
        if method == "eth_call":
            call = params[0]
            if to_checksum_address(call.get("to") or "0x" + "00" * 20) in self.reverting:
                raise RpcFault(-32603, "EVM error InvalidFEOpcode")
            return "0x"
        if method == "eth_gasPrice":
            return hex(self._base_fee())
        raise RpcFault(-32601, f"the method {method} does not exist/is not available")


# --- the L1 ---


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def word(value: int | str | bool) -> str:
    if isinstance(value, str):
        return "0x" + abi_encode(["address"], [value]).hex()
    return "0x" + abi_encode(["uint256"], [int(value)]).hex()


class FakeL1(FakeNode):
    """An in-memory L1: a head the test moves, logs the test adds, contract reads by selector."""

    def __init__(self, chain_id: int = 31337, head: int = 100) -> None:
        super().__init__(chain_id, "fake://l1")
        self.head = head
        self.logs: list[dict[str, Any]] = []
        # address (lower) -> selector -> fn(args bytes) -> result hex
        self.contracts: dict[str, dict[bytes, Callable[[bytes], str]]] = {}

    def contract(self, address: str, functions: dict[str, Callable[[bytes], str]]) -> None:
        self.contracts[address.lower()] = {selector(sig): fn for sig, fn in functions.items()}

    def handle(self, method: str, params: list[Any]) -> Any:
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "eth_blockNumber":
            return hex(self.head)
        if method == "eth_call":
            to, data = params[0]["to"].lower(), bytes.fromhex(params[0]["data"][2:])
            fn = self.contracts.get(to, {}).get(data[:4])
            if fn is None:
                raise RpcFault(3, "execution reverted")
            return fn(data[4:])
        if method == "eth_getLogs":
            f = params[0]
            first, last = (
                int(f.get("fromBlock", "0x0"), 16),
                int(f.get("toBlock", hex(self.head)), 16),
            )
            topic = f.get("topics", [None])[0]
            return [
                entry
                for entry in self.logs
                if first <= int(entry["blockNumber"], 16) <= last
                and entry["address"].lower() == f["address"].lower()
                and (topic is None or entry["topics"][0] == topic)
            ]
        raise RpcFault(-32601, f"the method {method} does not exist/is not available")


INBOX = "0x" + "1b" * 20
REGISTRY = "0x" + "2e" * 20


class FakeInbox:
    """The SharedInbox's forced queue on a `FakeL1`: `force_include` mines an L1 block with the
    `ForcedInclusionRequested` event; `forced_through` is what posted batches consumed."""

    def __init__(self, l1: FakeL1, address: str = INBOX) -> None:
        self.l1, self.address = l1, address
        self.forced_through = 0
        self.count = 0
        l1.contract(address, {"forced_through()": lambda _: word(self.forced_through)})

    def force_include(self, chain_id: int, raw: bytes, deadline: int | None = None) -> int:
        self.l1.head += 1  # the L1 transaction is mined in a new block
        index = self.count
        self.count += 1
        tx_hash = keccak(raw)
        deadline = self.l1.head + 50 if deadline is None else deadline
        self.l1.logs.append(
            {
                "address": self.address,
                "blockNumber": hex(self.l1.head),
                "topics": [
                    "0x" + FORCED_TOPIC.hex(),
                    word(index),
                    word(chain_id),
                    word("0x" + "77" * 20),
                ],
                "data": "0x"
                + abi_encode(
                    ["bytes32", "uint256", "uint256", "bytes"], [tx_hash, deadline, 0, raw]
                ).hex(),
            }
        )
        return index


class FakeRegistry:
    """The SequencerRegistry's reads on a `FakeL1`: terms, leaders by term, jail, endpoints."""

    def __init__(
        self,
        l1: FakeL1,
        term_blocks: int = 16,
        evidence_window: int = 600,
        address: str = REGISTRY,
    ) -> None:
        self.address = address
        self.term_blocks = term_blocks
        self.leaders: dict[int, str] = {}  # term -> address (none: nobody leads)
        self.jailed: set[str] = set()
        self.endpoints: dict[str, str] = {}
        l1.contract(
            address,
            {
                "TERM_BLOCKS()": lambda _: word(self.term_blocks),
                "EVIDENCE_WINDOW_BLOCKS()": lambda _: word(evidence_window),
                "leader_of(uint256)": self._leader_of,
                "jailed(address)": lambda a: word(self._address(a) in self.jailed),
                "endpoint(address)": lambda a: (
                    "0x" + abi_encode(["string"], [self.endpoints.get(self._address(a), "")]).hex()
                ),
            },
        )

    @staticmethod
    def _address(arg: bytes) -> str:
        return to_checksum_address(arg[12:32])

    def _leader_of(self, arg: bytes) -> str:
        return word(self.leaders.get(int.from_bytes(arg[:32], "big"), "0x" + "00" * 20))


class NoBatches:
    """An L1 batch source (`derive.L1BatchSource`) on which nothing was ever posted."""

    inbox = None

    def batches(self, first: int, last: int) -> list[Any]:
        return []

    def forced_queue(self) -> dict[int, list[tuple[int, bytes]]]:
        return {}


class FakeLeaderRpc:
    """Another sequencer's JSON-RPC, on a local port (in-process aiohttp): it takes every
    write and records what it was sent (path, body, the forwarding header)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any], str | None]] = []
        self.url = ""
        self._runner: Any = None

    async def start(self) -> FakeLeaderRpc:
        from aiohttp import web

        from sequencer.leader import FORWARDED_HEADER

        async def handle(request: web.Request) -> web.Response:
            body = await request.json()
            self.received.append((request.path, body, request.headers.get(FORWARDED_HEADER)))
            if body["method"] == "eth_sendRawTransaction":
                raw = bytes.fromhex(body["params"][0][2:])
                return web.json_response(
                    {"jsonrpc": "2.0", "id": body["id"], "result": "0x" + keccak(raw).hex()}
                )
            error = {"code": -32000, "message": "nonce too low"}
            return web.json_response({"jsonrpc": "2.0", "id": body["id"], "error": error})

        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


# --- transactions ---


def transfer(
    key: str,
    chain_id: int,
    nonce: int,
    *,
    to: str = "0x" + "77" * 20,
    value: int = 1,
    gas: int = 21_000,
    fee_cap: int = 50 * GWEI,
    tip: int = GWEI,
) -> bytes:
    tx = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "to": to_checksum_address(to),
        "value": value,
        "gas": gas,
        "maxFeePerGas": fee_cap,
        "maxPriorityFeePerGas": tip,
    }
    return bytes(Account.sign_transaction(tx, key).raw_transaction)


# --- a Sequencer on the fakes ---


@dataclass
class Stack:
    seq: Sequencer
    l1: FakeL1
    engines: dict[int, FakeEngine]

    @property
    def a(self) -> FakeEngine:
        return self.engines[901]

    @property
    def b(self) -> FakeEngine:
        return self.engines[902]


def manifest_for(l1: FakeL1, engines: dict[int, FakeEngine], l1_contracts=()) -> Manifest:
    chains = {
        "l1": ChainEntry(
            "l1",
            "l1",
            l1.chain_id,
            l1.url,
            {name: ContractEntry(name, addr, []) for name, addr in l1_contracts},
        )
    }
    for name, engine in zip(("rollup_a", "rollup_b"), engines.values(), strict=False):
        chains[name] = ChainEntry(name, "rollup", engine.chain_id, engine.url)
    return Manifest("fake", chains)


async def settle(seq: Sequencer) -> None:
    """Wait until what the service does after a seal is done: the receipts' statuses read
    (background tasks) and everything queued for the journal committed."""
    while seq._fills:
        await asyncio.gather(*list(seq._fills), return_exceptions=True)
    await seq.journal.barrier()


async def start_sequencer(
    tmp_path: Path,
    l1: FakeL1 | None = None,
    engines: dict[int, FakeEngine] | None = None,
    l1_contracts: tuple[tuple[str, str], ...] = (),
    **config: Any,
) -> Stack:
    """A started `Sequencer` on fakes (its builder not running: call `seq.builder.build_slot()`;
    its L1 and forced polls asleep for an hour: call them). Stop it with `await seq.stop()`."""
    l1 = l1 or FakeL1()
    if engines is None:
        funded = {a: 10**21 for a in ADDRESSES}
        engines = {901: FakeEngine(901, funded), 902: FakeEngine(902, funded)}
    nodes = {l1.url: l1} | {e.url: e for e in engines.values()}
    values = {
        "manifest": tmp_path / "manifest.json",
        "journal": tmp_path / "journal.sqlite",
        "key_source": "devnet",
        "slasher_address": SLASHER,
        "l1_poll_s": 3600.0,
        "journal_synchronous": "NORMAL",
    } | config
    cfg = ServiceConfig(**values)
    manifest = manifest_for(l1, engines, l1_contracts)
    seq = Sequencer(
        cfg,
        manifest,
        cfg.load_signer(),
        cfg.signing_domain(manifest),
        Metrics(),
        connect=lambda url, chain_id: nodes[url],  # type: ignore[arg-type,return-value]
    )
    await seq.start(run_builder=False)
    return Stack(seq, l1, engines)
