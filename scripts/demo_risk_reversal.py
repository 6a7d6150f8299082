"""The devnet demo's cross-rollup risk reversal and forced inclusion, as a sequencer user does them.

Owns the two scenes of `scripts/demo_workload.py` beyond plain transfers, written with plain
web3.py against the sequencer's JSON-RPC (`<rpc>/<chain_id>` for each rollup, `<rpc>/` for the
`seq_*` methods) and the L1 RPC of the manifest:

- `run_risk_reversal`: the devnet owner (anvil's account 0: deployer, oracle reporter, vault keeper)
  opens an options epoch on both rollups (oracle price, an LP's deposits, both vaults rolled to an
  expiry with strikes); then a trader signs ONE bundle (`sequencer/bundles.py`): on rollup A buy a
  call from the WETH call vault and bridge the put's USDC collateral to B through the SuperToken,
  on rollup B sell a put to the USDC put vault. It is sent with `seq_sendBundle` for the next
  slot's blocks; a dropped bundle is signed again for new target blocks.
- `run_forced_inclusion`: a user signs a transfer on rollup A, an L1 account queues it with
  `SharedInbox.force_include(chain_id, raw_tx)` paying `FORCE_FEE`, and the sequencer places it
  at index 0 of the next block it opens.

Every rollup transaction goes to the sequencer (`seq_sendRawTransaction` or `seq_sendBundle`),
never to a rollup engine directly. DEVNET ONLY: the keys used here are anvil's public ones or
fresh throwaway keys; this module must never be pointed at a network with real value.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from sequencer.bundles import Bundle, Call, Domain, Leg, Pull, leg_transaction, sign_bundle
from sequencer.manifest import ChainEntry, Manifest

# anvil's well-known account 0 (mnemonic "test test ... junk"): the devnet's deployer, token
# owner, oracle reporter and vault keeper. DEVNET ONLY: the key is public.
OWNER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
GWEI = 10**9
WAD = 10**18
USDC_UNIT = 10**6
SPOT = 2_000 * WAD  # USDC per WETH, wad
VOLATILITY = 8 * WAD // 10  # 80 %
CALL_STRIKES = (2_000 * WAD, 2_200 * WAD)
PUT_STRIKES = (1_800 * WAD, 2_000 * WAD)
CALL_STRIKE = CALL_STRIKES[1]  # 10 % out of the money
PUT_STRIKE = PUT_STRIKES[0]  # 10 % out of the money
EPOCH_SECONDS = 7 * 86_400
CALL_LIQUIDITY = 10 * WAD  # WETH the LP deposits in the call vault on A
PUT_LIQUIDITY = 20_000 * USDC_UNIT  # USDC the LP deposits in the put vault on B
OPTIONS = 2 * WAD  # options per leg, wad of underlying
TRADER_WETH = WAD  # the trader's WETH on A (pays the call premium)
TRADER_USDC = 5_000 * USDC_UNIT  # the trader's USDC on A (the put's collateral, bridged to B)
GAS_ETH = WAD  # ETH for gas given to each fresh account on each rollup
SLACK = 50  # the premium limits are the slot's quotes +- 1/SLACK (the block time may move)
TX_GAS = 1_000_000  # gas limit of a setup transaction
LEG_GAS = 3_000_000  # gas limit of a bundle leg
BUNDLE_TRIES = 5
# The bundle's deadline: this many L1 blocks after the earliest one the sequencer can honour
# (seq_status: promising.earliestDeadline; a closer one is refused as "too soon").
BUNDLE_L1_BLOCKS = 10


class DemoError(RuntimeError):
    """A demo step that did not go as planned (the message says why)."""


def rpc(url: str, method: str, params: list) -> Any:
    """One JSON-RPC call; the result, or DemoError with the node's error."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    if "error" in answer:
        raise DemoError(f"{method}: {answer['error'].get('message', answer['error'])}")
    return answer["result"]


def _wait(check: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}")


class Rollup:
    """One rollup as the sequencer serves it: reads, calls, and signed transactions."""

    def __init__(self, seq_rpc: str, entry: ChainEntry) -> None:
        self.name = entry.name
        self.chain_id = entry.chain_id
        self.url = f"{seq_rpc}/{entry.chain_id}"
        codec = Web3()
        self.contracts = {
            name: codec.eth.contract(address=c.address, abi=c.abi)
            for name, c in entry.contracts.items()
        }

    def c(self, name: str):
        return self.contracts[name]

    def nonce(self, who: str) -> int:
        return int(rpc(self.url, "eth_getTransactionCount", [who, "pending"]), 16)

    def timestamp(self) -> int:
        return int(rpc(self.url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)

    def call(self, fn, out: list[str], block_time: int | None = None) -> tuple:
        """eth_call of a contract function (an `FnCall` from `_fn`), optionally as in a
        block at `block_time` (seconds: a block-time override)."""
        params: list = [{"to": fn.address, "data": fn.data}, "latest"]
        if block_time is not None:
            params += [{}, {"time": hex(block_time)}]
        result = rpc(self.url, "eth_call", params)
        return abi_decode(out, bytes.fromhex(result.removeprefix("0x")))

    def sign(
        self, account: LocalAccount, to: str, data: bytes, value: int, nonce: int, gas: int
    ) -> str:
        tx = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": to,
            "value": value,
            "data": data,
            "gas": gas,
            "maxPriorityFeePerGas": GWEI,
            "maxFeePerGas": 50 * GWEI,
        }
        return "0x" + bytes(account.sign_transaction(tx).raw_transaction).hex()

    def send_all(self, account: LocalAccount, txs: list[tuple[str, str, Any, int]]) -> None:
        """Send `(what, to, data or contract function, value)` from `account` with consecutive
        nonces (each pre-confirmed by the sequencer), then wait until every one is mined and
        succeeded."""
        nonce = self.nonce(account.address)
        sent = []
        for what, to, data, value in txs:
            if isinstance(data, FnCall):
                data = data.data
            raw_data = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else data
            raw = self.sign(account, to, raw_data, value, nonce, TX_GAS)
            pre = rpc(self.url, "seq_sendRawTransaction", [raw])
            sent.append((what, pre["txHash"], to, raw_data, value))
            nonce += 1
        for what, tx_hash, to, raw_data, value in sent:
            receipt = self.receipt(tx_hash)
            if int(receipt["status"], 16) != 1:
                reason = self.revert_reason(account.address, to, raw_data, value, receipt)
                raise DemoError(f"{what} on {self.name} reverted: {reason} (tx {tx_hash})")

    def revert_reason(self, sender: str, to: str, data: bytes, value: int, receipt: dict) -> str:
        """Why a mined transaction reverted, by replaying it as a call on its block's parent
        state (close enough for a demo: earlier transactions of the same block are not seen)."""
        call = {"from": sender, "to": to, "data": "0x" + data.hex(), "value": hex(value)}
        parent = hex(int(receipt["blockNumber"], 16) - 1)
        try:
            rpc(self.url, "eth_call", [call, parent])
        except DemoError as exc:
            return str(exc).removeprefix("eth_call: ")
        return "no reason given"

    def receipt(self, tx_hash: str, timeout: float = 15) -> dict:
        return _wait(
            lambda: rpc(self.url, "eth_getTransactionReceipt", [tx_hash]),
            timeout,
            f"tx {tx_hash} on {self.name}",
        )


@dataclass(frozen=True)
class FnCall:
    """A contract function with its arguments, ABI-encoded: where it goes and its calldata."""

    address: str
    data: str  # 0x-hex calldata


def _fn(rollup: Rollup, contract: str, name: str, *args) -> FnCall:
    on = rollup.c(contract)
    return FnCall(on.address, on.encode_abi(name, args=list(args)))


def _words(receipt: dict, address: str, topic: bytes) -> list[int]:
    for log in receipt["logs"]:
        if log["address"].lower() == address.lower() and bytes.fromhex(
            log["topics"][0][2:]
        ) == bytes(topic):
            data = bytes.fromhex(log["data"][2:])
            return list(abi_decode(["uint256"] * (len(data) // 32), data))
    raise DemoError(f"no event {topic.hex()[:8]} from {address} in the leg's receipt")


BOUGHT = Web3.keccak(text="Bought(address,uint256,uint256,uint256,uint256,uint256,uint256)")
SOLD = Web3.keccak(text="Sold(address,uint256,uint256,uint256,uint256,uint256,uint256)")


@dataclass(frozen=True)
class OpenMarkets:
    """The epoch open on both rollups and the trader's side of it."""

    expiry: int  # seconds
    call_series: int  # on A
    put_series: int  # on B
    put_collateral: int  # the put's maximum payout, USDC units


def open_markets(
    a: Rollup, b: Rollup, owner: LocalAccount, lp: LocalAccount, trader: LocalAccount
) -> OpenMarkets:
    """The owner pushes the oracle price on both rollups, funds the LP (WETH on A, USDC on B),
    who deposits into the call vault on A and the put vault on B; the keeper rolls both vaults;
    the trader gets WETH and USDC on A and approves BundleSettlement on both rollups."""
    expiry = max(a.timestamp(), b.timestamp(), int(time.time())) + EPOCH_SECONDS
    weth, usdc = a.c("WETH").address, a.c("USDC").address
    settlement = a.c("BundleSettlement").address
    for rollup in (a, b):
        setup = [
            ("gas for the trader", trader.address, b"", GAS_ETH),
            ("gas for the LP", lp.address, b"", GAS_ETH),
            (
                "oracle push",
                rollup.c("PriceOracle").address,
                _fn(rollup, "PriceOracle", "push", weth, SPOT, VOLATILITY),
                0,
            ),
        ]
        if rollup is a:
            setup += [
                ("WETH for the LP", weth, _fn(a, "WETH", "mint", lp.address, CALL_LIQUIDITY), 0),
                (
                    "WETH for the trader",
                    weth,
                    _fn(a, "WETH", "mint", trader.address, TRADER_WETH),
                    0,
                ),
                (
                    "USDC for the trader",
                    usdc,
                    _fn(a, "USDC", "mint", trader.address, TRADER_USDC),
                    0,
                ),
            ]
        else:
            setup.append(
                ("USDC for the LP", usdc, _fn(b, "USDC", "mint", lp.address, PUT_LIQUIDITY), 0)
            )
        rollup.send_all(owner, setup)
    call_vault, put_vault = a.c("OptionVaultCall").address, b.c("OptionVaultPut").address
    a.send_all(
        lp,
        [
            ("LP approve", weth, _fn(a, "WETH", "approve", call_vault, CALL_LIQUIDITY), 0),
            (
                "LP deposit",
                call_vault,
                _fn(a, "OptionVaultCall", "request_deposit", CALL_LIQUIDITY),
                0,
            ),
        ],
    )
    b.send_all(
        lp,
        [
            ("LP approve", usdc, _fn(b, "USDC", "approve", put_vault, PUT_LIQUIDITY), 0),
            (
                "LP deposit",
                put_vault,
                _fn(b, "OptionVaultPut", "request_deposit", PUT_LIQUIDITY),
                0,
            ),
        ],
    )
    a.send_all(
        trader,
        [
            ("trader approve WETH", weth, _fn(a, "WETH", "approve", settlement, 2**256 - 1), 0),
            ("trader approve USDC", usdc, _fn(a, "USDC", "approve", settlement, 2**256 - 1), 0),
        ],
    )
    b.send_all(
        trader,
        [("trader approve USDC", usdc, _fn(b, "USDC", "approve", settlement, 2**256 - 1), 0)],
    )
    # The keeper rolls each vault to `expiry`, unless an earlier run of the demo on this devnet
    # left it in an epoch that has not expired (a vault rolls only after its epoch settled).
    expiries = {}
    for rollup, vault, strikes in (
        (a, "OptionVaultCall", CALL_STRIKES),
        (b, "OptionVaultPut", PUT_STRIKES),
    ):
        (current,) = rollup.call(_fn(rollup, vault, "expiry"), ["uint256"])
        if current > rollup.timestamp() + 3_600:
            expiries[vault] = current
            continue
        rollup.send_all(
            owner,
            [(f"roll {vault}", rollup.c(vault).address,
              _fn(rollup, vault, "roll", expiry, list(strikes)), 0)],
        )  # fmt: skip
        expiries[vault] = expiry
    (call_series,) = a.call(
        _fn(a, "OptionVaultCall", "series_id", expiries["OptionVaultCall"], CALL_STRIKE),
        ["uint256"],
    )
    (put_series,) = b.call(
        _fn(b, "OptionVaultPut", "series_id", expiries["OptionVaultPut"], PUT_STRIKE),
        ["uint256"],
    )
    (put_collateral,) = b.call(
        _fn(b, "OptionVaultPut", "max_payout", PUT_STRIKE, OPTIONS), ["uint256"]
    )
    expiry = min(expiries.values())
    return OpenMarkets(expiry, call_series, put_series, put_collateral)


@dataclass(frozen=True)
class SignedBundle:
    """A risk-reversal bundle, the trader's signature, and the premium limits signed in it."""

    bundle: Bundle
    signature: bytes
    max_premium: int  # WETH wad the trader pays at most for the calls
    min_premium: int  # USDC units the trader gets at least for the puts


def sign_risk_reversal(
    a: Rollup,
    b: Rollup,
    markets: OpenMarkets,
    trader: LocalAccount,
    targets: tuple[int, int],
    slot_time: int,
    domain: Domain,
) -> SignedBundle:
    """The risk reversal as one bundle for `targets` (block on A, block on B), with premium
    limits around the vaults' quotes for a block at `slot_time` (seconds), signed by the trader."""
    ask, _ = a.call(
        _fn(a, "OptionVaultCall", "quote", markets.call_series, OPTIONS),
        ["uint256", "uint256"],
        slot_time,
    )
    _, bid = b.call(
        _fn(b, "OptionVaultPut", "quote", markets.put_series, OPTIONS),
        ["uint256", "uint256"],
        slot_time,
    )
    if not 0 < ask < TRADER_WETH or not 0 < bid < markets.put_collateral:
        raise DemoError(f"unexpected quotes: call ask {ask} wei, put bid {bid} USDC units")
    max_premium, min_premium = ask + ask // SLACK, bid - bid // SLACK
    deadline = slot_time + 120
    weth, usdc = a.c("WETH").address, a.c("USDC").address
    call_vault, put_vault = a.c("OptionVaultCall").address, b.c("OptionVaultPut").address
    collateral = markets.put_collateral

    def data(rollup: Rollup, contract: str, name: str, *args) -> bytes:
        return bytes.fromhex(_fn(rollup, contract, name, *args).data[2:])

    leg_a = Leg(
        a.chain_id,
        targets[0],
        pulls=(Pull(weth, max_premium), Pull(usdc, collateral)),
        calls=(
            Call(weth, 0, data(a, "WETH", "approve", call_vault, max_premium)),
            Call(
                call_vault,
                0,
                data(
                    a,
                    "OptionVaultCall",
                    "buy",
                    markets.call_series,
                    OPTIONS,
                    max_premium,
                    deadline,
                ),
            ),
            Call(usdc, 0, data(a, "USDC", "bridge", b.chain_id, trader.address, collateral)),
        ),
    )
    leg_b = Leg(
        b.chain_id,
        targets[1],
        pulls=(Pull(usdc, collateral),),
        calls=(
            Call(usdc, 0, data(b, "USDC", "approve", put_vault, collateral)),
            Call(
                put_vault,
                0,
                data(
                    b, "OptionVaultPut", "sell", markets.put_series, OPTIONS, min_premium, deadline
                ),
            ),
            Call(usdc, 0, data(b, "USDC", "transfer", trader.address, min_premium)),
        ),
    )
    nonce = int.from_bytes(os.urandom(8), "big")  # a fresh bundle nonce for every signature
    bundle = Bundle(trader.address, trader.address, deadline, nonce, (leg_a, leg_b))
    signature = sign_bundle(bundle, domain, bytes(trader.key))
    return SignedBundle(bundle, signature, max_premium, min_premium)


def _domain(a: Rollup) -> Domain:
    """BundleSettlement's EIP-712 domain, as the contract reports it (ERC-5267)."""
    fields = a.call(
        _fn(a, "BundleSettlement", "eip712Domain"),
        ["bytes1", "string", "string", "uint256", "address", "bytes32", "uint256[]"],
    )
    return Domain(fields[3], fields[4], fields[1], fields[2])


def _after_a_slot(seq_rpc: str) -> dict:
    """seq_status right after the builder finished a slot (the next one is a slot away)."""
    slots = rpc(seq_rpc, "seq_status", [])["slots"]
    return _wait(
        lambda: (s := rpc(seq_rpc, "seq_status", []))["slots"] > slots and s,
        10,
        "the next slot",
        step=0.01,
    )


def run_risk_reversal(manifest: Manifest, seq_rpc: str, say: Callable[[str], None]) -> None:
    """Open the markets, then land one risk-reversal bundle; `say` prints a demo line."""
    a, b = (Rollup(seq_rpc, entry) for entry in manifest.rollups[:2])
    owner = Account.from_key(OWNER_KEY)
    lp, trader = Account.create(), Account.create()
    markets = open_markets(a, b, owner, lp, trader)
    say(
        f"risk reversal: markets open on {a.name} (WETH call vault, {CALL_LIQUIDITY // WAD} WETH "
        f"from an LP) and {b.name} (USDC put vault, {PUT_LIQUIDITY // USDC_UNIT} USDC); oracle "
        f"{SPOT // WAD} USDC/WETH, vol {VOLATILITY * 100 // WAD}%, expiry in "
        f"{EPOCH_SECONDS // 86_400} days"
    )
    domain = _domain(a)
    settlement = a.c("BundleSettlement").address
    executor = owner  # any account can execute the legs; the trader's signature authorises them
    for attempt in range(1, BUNDLE_TRIES + 1):
        status = _after_a_slot(seq_rpc)
        heads = (
            status["chains"][str(a.chain_id)]["head"],
            status["chains"][str(b.chain_id)]["head"],
        )
        targets = (heads[0] + 1, heads[1] + 1)  # the blocks of the next slot
        slot_time = max(int(time.time()) + 1, a.timestamp(), b.timestamp())
        signed = sign_risk_reversal(a, b, markets, trader, targets, slot_time, domain)
        raws = {}
        for index, rollup in enumerate((a, b)):
            fields = leg_transaction(signed.bundle, index, signed.signature, settlement)
            raws[str(rollup.chain_id)] = [
                rollup.sign(
                    executor,
                    fields["to"],
                    fields["data"],
                    fields["value"],
                    rollup.nonce(executor.address),
                    LEG_GAS,
                )
            ]
        sent = rpc(
            seq_rpc,
            "seq_sendBundle",
            [
                {
                    "txs": raws,
                    "beneficiary": trader.address,
                    "deadline": _earliest_deadline(status) + BUNDLE_L1_BLOCKS,
                }
            ],
        )["bundleHash"]
        final = _wait(
            lambda sent=sent: (
                (s := rpc(seq_rpc, "seq_getBundleStatus", [sent]))
                and s["status"] != "pending"
                and s
            ),
            30,
            f"bundle {sent}",
        )
        if final["status"] == "included":
            receipt = _wait(
                lambda sent=sent: rpc(seq_rpc, "seq_getBundleReceipt", [sent]), 10, "the receipt"
            )
            _report(a, b, markets, trader, signed, receipt, say)
            return
        say(
            f"risk reversal: bundle {sent[:10]}… for blocks {targets[0]} on {a.name} and "
            f"{targets[1]} on {b.name} was dropped ({final.get('reason') or 'no reason given'}); "
            f"signing it again for new target blocks (attempt {attempt + 1} of {BUNDLE_TRIES})"
        )
    raise DemoError(f"the bundle did not land in {BUNDLE_TRIES} tries")


def _earliest_deadline(status: dict) -> int:
    """The earliest bundle deadline the sequencer can honour now (its L1 head when it has none
    to say: then the bundle is refused with a clear reason and tried again)."""
    earliest = (status.get("promising") or {}).get("earliestDeadline")
    return earliest if isinstance(earliest, int) else status["l1Head"]


def _report(a, b, markets, trader, signed, receipt, say) -> None:
    leg_a, leg_b = receipt["legs"]
    mined_a = a.receipt(leg_a["txHash"])
    mined_b = b.receipt(leg_b["txHash"])
    if (int(mined_a["status"], 16), int(mined_b["status"], 16)) != (1, 1):
        raise DemoError("a leg of the included bundle reverted")
    call_paid = _words(mined_a, a.c("OptionVaultCall").address, BOUGHT)[1]
    put_got = _words(mined_b, b.c("OptionVaultPut").address, SOLD)[1]
    (agent,) = a.call(_fn(a, "BundleSettlement", "agent_of", trader.address), ["address"])
    agent = Web3.to_checksum_address(agent)
    (longs,) = a.call(
        _fn(a, "OptionTokenCall", "balanceOf", agent, markets.call_series), ["uint256"]
    )
    short, collateral = b.call(
        _fn(b, "OptionVaultPut", "short_position", agent, markets.put_series),
        ["uint256", "uint256"],
    )
    say(
        f"risk reversal bundle included {receipt['bundleHash'][:10]}…: "
        f"leg 1 on {a.name} block {leg_a['blockNumber']} index {leg_a['index']} "
        f"(long {longs / WAD:g} calls strike {CALL_STRIKE // WAD}, "
        f"paid {call_paid / WAD:.4f} WETH), "
        f"leg 2 on {b.name} block {leg_b['blockNumber']} index {leg_b['index']} "
        f"(short {short / WAD:g} puts strike {PUT_STRIKE // WAD}, got {put_got / USDC_UNIT:.2f} "
        f"USDC, {collateral / USDC_UNIT:.0f} USDC collateral bridged {a.name}->{b.name} in the "
        "same slot); receipt signed by the sequencer "
        f"{receipt['signer'][:10]}…"
    )


# --- forced inclusion through L1 ---


def run_forced_inclusion(
    manifest: Manifest, seq_rpc: str, l1_key: str, funder: LocalAccount, say
) -> None:
    """A fresh user signs a transfer on the first rollup; the L1 account `l1_key` queues it with
    `force_include`; print where the sequencer placed it."""
    a = Rollup(seq_rpc, manifest.rollups[0])
    user = Account.create()
    a.send_all(funder, [("gas for the forced-inclusion user", user.address, b"", GAS_ETH // 10)])
    raw = a.sign(user, funder.address, b"", 10**15, a.nonce(user.address), 21_000)
    tx_hash = Web3.keccak(hexstr=raw).to_0x_hex()
    l1 = Web3(Web3.HTTPProvider(manifest.l1.rpc_url, request_kwargs={"timeout": 30}))
    entry = manifest.l1.contract("SharedInbox")
    inbox = l1.eth.contract(address=entry.address, abi=entry.abi)
    submitter = Account.from_key(l1_key)
    fee = inbox.functions.FORCE_FEE().call()
    tx = inbox.functions.force_include(a.chain_id, bytes.fromhex(raw[2:])).build_transaction(
        {
            "from": submitter.address,
            "value": fee,
            "nonce": l1.eth.get_transaction_count(submitter.address, "pending"),
            "chainId": manifest.l1.chain_id,
            "gas": 500_000,
        }
    )
    l1_hash = l1.eth.send_raw_transaction(submitter.sign_transaction(tx).raw_transaction)
    l1_receipt = l1.eth.wait_for_transaction_receipt(l1_hash, timeout=60, poll_latency=0.2)
    if l1_receipt["status"] != 1:
        raise DemoError(f"force_include reverted on L1 (tx {l1_hash.to_0x_hex()})")
    (event,) = inbox.events.ForcedInclusionRequested().process_receipt(l1_receipt)
    index = event["args"]["index"]
    say(
        f"forced inclusion: queued {a.name} transfer {tx_hash[:10]}… on L1 "
        f"(SharedInbox.force_include, queue index {index}, L1 block "
        f"{l1_receipt['blockNumber']}, fee {fee / WAD:g} ETH)"
    )
    receipt = a.receipt(tx_hash, timeout=60)
    number, position = int(receipt["blockNumber"], 16), int(receipt["transactionIndex"], 16)
    header = _wait(  # the receipt shows as soon as the block is mined, its header once sealed
        lambda: rpc(seq_rpc, "seq_getBlockHeader", [a.chain_id, number]),
        15,
        f"the signed header of {a.name} block {number}",
    )
    if index not in header["forced"]:
        raise DemoError(f"{a.name} block {number} does not list queue item {index} as forced")
    say(
        f"forced inclusion: the sequencer placed it in {a.name} block {number} at index "
        f"{position} (the next block it opened; forced items go first)"
    )
