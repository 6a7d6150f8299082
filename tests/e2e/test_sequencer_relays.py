"""Cross-rollup relays by the sequencer service: a message rollup A's block sends is relayed in
rollup B's block of the same slot (after B's promised transactions), and a message from B is
relayed at the start of A's next block; a cross-rollup bundle whose leg B spends what leg A
bridged lands in one slot with both legs successful."""

from __future__ import annotations

import logging
import time

import pytest
from deploy import deploy_rollup
from eth_abi import decode as abi_decode
from eth_account import Account
from eth_utils import keccak
from options_helpers import now
from rollup_setup import (
    USDC_UNIT,
    WAD,
    deployed_on_rollups,
    open_epoch,
    option_market_from,
    quote_at,
    xrollup_from,
)
from test_sequencer_bundles import _metric, _slot_offset, _wait
from test_sequencer_preconfs import GWEI, wait_sealed

from sequencer.bundles import Bundle as SettlementBundle
from sequencer.bundles import Call, Pull, leg_transaction, sign_bundle
from sequencer.bundles import Leg as BundleLeg
from sequencer.config import DEVNET_RELAYER_KEY
from sequencer.manifest import ChainEntry, Manifest
from sequencer.messages import MESSAGE_RELAYED_TOPIC

RELAYER = Account.from_key(DEVNET_RELAYER_KEY).address
BRIDGED = 1_234 * USDC_UNIT


@pytest.fixture(scope="module")
def entries(chains, deployer, relayer, sequencer_account, treasury):
    """The devnet's rollup deployment (`deploy_rollup`) on both rollups, once per module."""
    roles = {
        "deployer": deployer,
        "sequencer": sequencer_account,
        "relayer": relayer,
        "treasury": treasury,
    }
    rollups = [chains["rollup_a"], chains["rollup_b"]]
    chain_ids = [r.chain_id for r in rollups]
    with deployed_on_rollups(rollups, lambda: deploy_rollup(roles, chain_ids)) as deployed:
        yield deployed


@pytest.fixture
def manifest_path(chains, tmp_path, entries):
    """The service's manifest, with the rollups' contracts (the messenger in particular)."""
    chain_entries = {
        name: ChainEntry(
            name,
            handle.role,
            handle.chain_id,
            handle.url,
            dict(entries) if handle.role == "rollup" else {},
        )
        for name, handle in chains.items()
    }
    path = tmp_path / "manifest.json"
    Manifest(name="test", chains=chain_entries).save(path)
    return path


@pytest.fixture
def xr(rollup_a, entries):
    return xrollup_from(rollup_a, entries)


def _signed_call(rollup, account, to, data: bytes, nonce: int, gas: int = 300_000) -> str:
    tx = {
        "type": 2,
        "chainId": rollup.chain_id,
        "nonce": nonce,
        "to": str(to),
        "value": 0,
        "data": data,
        "gas": gas,
        "maxFeePerGas": 50 * GWEI,
        "maxPriorityFeePerGas": GWEI,
    }
    return "0x" + bytes(Account.sign_transaction(tx, account.private_key).raw_transaction).hex()


def _relayed(rollup, messenger) -> list[dict]:
    logs = rollup.w3.eth.get_logs(
        {"address": str(messenger), "topics": ["0x" + MESSAGE_RELAYED_TOPIC.hex()], "fromBlock": 0}
    )
    return [dict(log) for log in logs]


def _sealed_header(service, chain_id, number):
    return _wait(lambda: service.result("/", "seq_getBlockHeader", [chain_id, number]))


def _check_relay_after_promises(service, chain_id, number, relay_hash: str) -> int:
    """The relay is in the sealed header of block `number`, after every promised transaction."""
    header = _wait(
        lambda: (
            (h := _sealed_header(service, chain_id, number))
            and all(s is not None for s in h["statuses"])
            and h
        )
    )
    index = header["transactions"].index(relay_hash)
    assert header["statuses"][index] == 1
    for earlier in header["transactions"][:index]:
        assert service.result(f"/{chain_id}", "seq_getPreconfirmation", [earlier]) is not None
    assert service.result(f"/{chain_id}", "seq_getPreconfirmation", [relay_hash]) is None
    return index


def test_a_bridge_is_relayed_a_to_b_in_the_same_slot_and_b_to_a_in_the_next(
    start_service, rollup_a, rollup_b, xr, deployer, relayer, trader, lp, keeper
):
    with rollup_a.use():
        xr.usdc.mint(trader, BRIDGED, sender=deployer)
    relayer_nonces = [r.w3.eth.get_transaction_count(RELAYER) for r in (rollup_a, rollup_b)]
    service = start_service()
    offset = _slot_offset(service)

    # A -> B: a pre-confirmed bridge on A, with promised traffic on B around it
    bridge = bytes(xr.usdc.bridge.encode_input(902, trader.address, BRIDGED))
    for n in range(2):
        raw = _signed_call(rollup_b, lp, keeper.address, b"", n, gas=21_000)
        service.result("/902", "eth_sendRawTransaction", [raw])
    pre = service.result(
        "/901", "seq_sendRawTransaction", [_signed_call(rollup_a, trader, xr.usdc, bridge, 0)]
    )
    (relay,) = _wait(lambda: _relayed(rollup_b, xr.messenger))
    receipt = rollup_b.w3.eth.get_transaction_receipt(relay["transactionHash"])
    assert receipt["status"] == 1 and receipt["from"] == RELAYER
    assert receipt["blockNumber"] == pre["blockNumber"] - offset  # B's block of the same slot
    relay_hash = receipt["transactionHash"].to_0x_hex()
    _check_relay_after_promises(service, 902, receipt["blockNumber"], relay_hash)
    with rollup_b.use():
        assert xr.usdc.balanceOf(trader) == BRIDGED
    with rollup_a.use():
        assert xr.usdc.balanceOf(trader) == 0

    # B -> A: relayed at the start of A's next block, after its promised transactions
    back = bytes(xr.usdc.bridge.encode_input(901, keeper.address, BRIDGED // 2))
    pre_b = service.result(
        "/902", "seq_sendRawTransaction", [_signed_call(rollup_b, trader, xr.usdc, back, 0)]
    )
    (relay_a,) = _wait(lambda: _relayed(rollup_a, xr.messenger))
    receipt_a = rollup_a.w3.eth.get_transaction_receipt(relay_a["transactionHash"])
    assert receipt_a["status"] == 1 and receipt_a["from"] == RELAYER
    assert receipt_a["blockNumber"] == pre_b["blockNumber"] + offset + 1  # A's next slot
    _check_relay_after_promises(
        service, 901, receipt_a["blockNumber"], receipt_a["transactionHash"].to_0x_hex()
    )
    with rollup_a.use():
        assert xr.usdc.balanceOf(keeper) == BRIDGED // 2
    with rollup_b.use():
        assert xr.usdc.balanceOf(trader) == BRIDGED - BRIDGED // 2
    # the relayer's nonce is the sequencer's: nobody else may send from it
    refused = service.rpc(
        "/901", "eth_sendRawTransaction", [_signed_call(rollup_a, relayer, keeper, b"", 0)]
    )
    assert refused["error"]["message"] == f"sender {RELAYER} is the sequencer's relayer"
    # one relay on each rollup
    after = [r.w3.eth.get_transaction_count(RELAYER) for r in (rollup_a, rollup_b)]
    assert after == [n + 1 for n in relayer_nonces]
    assert service.result("/", "seq_status")["relays"] == {"waiting": 0, "relayed": 2}
    assert _metric(service, "seq_relays_sealed_total") == 2
    assert _metric(service, "seq_relays_waiting") == 0


def test_a_relay_whose_target_reverts_is_mined_reverted_recorded_and_not_retried(
    start_service, rollup_a, rollup_b, xr, trader
):
    nonce_b = rollup_b.w3.eth.get_transaction_count(RELAYER)
    service = start_service()
    junk = b"\xde\xad\xbe\xef"  # no such function on the SuperToken: the target reverts
    send = bytes(xr.messenger.send_message.encode_input(902, xr.usdc.address, junk))
    pre = service.result(
        "/901", "seq_sendRawTransaction", [_signed_call(rollup_a, trader, xr.messenger, send, 0)]
    )
    sent = wait_sealed(service, 901, pre["txHash"])
    assert sent["status"] == "success"
    relay_hash = _wait(lambda: _relayer_tx(rollup_b, nonce_b))
    receipt = rollup_b.w3.eth.get_transaction_receipt(relay_hash)
    assert receipt["status"] == 0  # mined, reverted
    header = _wait(
        lambda: (
            (h := _sealed_header(service, 902, receipt["blockNumber"]))
            and all(s is not None for s in h["statuses"])
            and h
        )
    )
    assert header["statuses"][header["transactions"].index(relay_hash.to_0x_hex())] == 0
    assert _relayed(rollup_b, xr.messenger) == []
    # later slots do not relay it again: the relayer sent exactly one transaction
    _after_a_slot(service)
    _after_a_slot(service)
    assert rollup_b.w3.eth.get_transaction_count(RELAYER) == nonce_b + 1
    # nor does a restart (the rebuilt queue leaves out the messages the relayer already tried)
    service.stop()
    service = start_service()
    _after_a_slot(service)
    _after_a_slot(service)
    assert rollup_b.w3.eth.get_transaction_count(RELAYER) == nonce_b + 1


def _relayer_tx(rollup, nonce: int):
    """The hash of the relayer's transaction with `nonce` on `rollup`, once mined."""
    if rollup.w3.eth.get_transaction_count(RELAYER) <= nonce:
        return None
    for number in range(rollup.w3.eth.block_number, 0, -1):
        for tx in rollup.w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] == RELAYER and tx["nonce"] == nonce:
                return tx["hash"]
    return None


# --- a cross-rollup risk reversal through seq_sendBundle ---

SPOT = 2_000 * WAD  # USDC per WETH, wad
VOLATILITY = 8 * WAD // 10
CALL_STRIKES = (2_000 * WAD, 2_200 * WAD)
PUT_STRIKES = (1_800 * WAD, 2_000 * WAD)
OPTIONS = 2 * WAD
TRADER_WETH = WAD
TRADER_USDC = 5_000 * USDC_UNIT
SLACK = 50  # the trader's premium limits are the slot's quotes +- 1/SLACK (the slot time moves)
BOUGHT = keccak(text="Bought(address,uint256,uint256,uint256,uint256,uint256,uint256)")
SOLD = keccak(text="Sold(address,uint256,uint256,uint256,uint256,uint256,uint256)")


def _event_words(receipt, address, topic) -> list[int]:
    (log,) = [
        entry
        for entry in receipt["logs"]
        if entry["address"] == str(address) and bytes(entry["topics"][0]) == topic
    ]
    data = bytes(log["data"])
    return list(abi_decode(["uint256"] * (len(data) // 32), data))


def _risk_reversal(xr, market, trader, epochs, targets, slot_time, put_collateral):
    """The bundle of the risk reversal (buy a call on A, bridge the put's collateral A->B, sell a
    put on B) for `targets` (block of A, block of B), with premium limits around the quotes
    for `slot_time`; returns (bundle, signature, max call premium, min put premium)."""
    call_series = epochs["rollup_a"].call_series[1]
    put_series = epochs["rollup_b"].put_series[0]
    rollup_a, rollup_b = targets[2], targets[3]
    ask, _ = quote_at(rollup_a, market.call_vault, call_series, OPTIONS, slot_time)
    _, bid = quote_at(rollup_b, market.put_vault, put_series, OPTIONS, slot_time)
    max_premium, min_premium = ask + ask // SLACK, bid - bid // SLACK
    deadline = slot_time + 120
    usdc, weth = xr.usdc.address, xr.weth.address
    call_vault, put_vault = market.call_vault, market.put_vault
    leg_a = BundleLeg(
        901,
        targets[0],
        pulls=(Pull(weth, max_premium), Pull(usdc, put_collateral)),
        calls=(
            Call(weth, 0, bytes(xr.weth.approve.encode_input(call_vault, max_premium))),
            Call(
                call_vault.address,
                0,
                bytes(call_vault.buy.encode_input(call_series, OPTIONS, max_premium, deadline)),
            ),
            Call(usdc, 0, bytes(xr.usdc.bridge.encode_input(902, trader, put_collateral))),
        ),
    )
    leg_b = BundleLeg(
        902,
        targets[1],
        pulls=(Pull(usdc, put_collateral),),
        calls=(
            Call(usdc, 0, bytes(xr.usdc.approve.encode_input(put_vault, put_collateral))),
            Call(
                put_vault.address,
                0,
                bytes(put_vault.sell.encode_input(put_series, OPTIONS, min_premium, deadline)),
            ),
            Call(usdc, 0, bytes(xr.usdc.transfer.encode_input(trader, min_premium))),
        ),
    )
    bundle = SettlementBundle(trader.address, trader.address, deadline, 1, (leg_a, leg_b))
    signature = sign_bundle(bundle, xr.domain, bytes.fromhex(trader.private_key[2:]))
    return bundle, signature, max_premium, min_premium


def _leg_raw(rollup, executor, fields, nonce) -> str:
    tx = {
        **fields,
        "type": 2,
        "nonce": nonce,
        "gas": 3_000_000,
        "maxFeePerGas": 50 * GWEI,
        "maxPriorityFeePerGas": GWEI,
    }
    return "0x" + bytes(Account.sign_transaction(tx, executor.private_key).raw_transaction).hex()


def _after_a_slot(service) -> dict:
    """seq_status right after a slot was built (the next slot is a whole slot away)."""
    slots = service.result("/", "seq_status")["slots"]
    return _wait(
        lambda: (s := service.result("/", "seq_status"))["slots"] > slots and s, timeout=10
    )


def test_a_risk_reversal_bundle_lands_in_one_slot_with_the_relay_between_its_legs(
    start_service, rollup_a, rollup_b, entries, xr, deployer, trader, lp, keeper, l1
):
    market = option_market_from(rollup_a, entries)
    # the service mines at wall-clock time (or later): bring the rollups' clocks there first,
    # so the oracle price pushed now is fresh in the service's blocks
    for rollup in (rollup_a, rollup_b):
        rollup.rpc("evm_mine", [{"timestamp": max(int(time.time()), now(rollup))}])
    expiry = max(now(r) for r in (rollup_a, rollup_b)) + 7 * 86_400
    epochs = {
        r.name: open_epoch(
            r,
            market,
            deployer,
            lp,
            spot=SPOT,
            volatility=VOLATILITY,
            call_strikes=CALL_STRIKES,
            put_strikes=PUT_STRIKES,
            call_liquidity=10 * WAD,
            put_liquidity=20_000 * USDC_UNIT,
            expiry=expiry,
        )
        for r in (rollup_a, rollup_b)
    }
    with rollup_a.use():
        xr.weth.mint(trader, TRADER_WETH, sender=deployer)
        xr.usdc.mint(trader, TRADER_USDC, sender=deployer)
        xr.weth.approve(xr.settlement, 2**256 - 1, sender=trader)
        xr.usdc.approve(xr.settlement, 2**256 - 1, sender=trader)
    with rollup_b.use():
        xr.usdc.approve(xr.settlement, 2**256 - 1, sender=trader)
        put_collateral = market.put_vault.max_payout(PUT_STRIKES[0], OPTIONS)
    supply = sum(_balance(r, xr.usdc, None) for r in (rollup_a, rollup_b))
    service = start_service(slot_ms=1_000)
    offset = _slot_offset(service)

    # The legs name their target blocks (BundleSettlement checks them): the blocks of the slot
    # after the one just built. A bundle that misses its slot is dropped whole; build it again.
    for _ in range(3):
        status = _after_a_slot(service)
        heads = status["chains"]["901"]["head"], status["chains"]["902"]["head"]
        slot_time = max(int(time.time()) + 1, now(rollup_a), now(rollup_b))
        bundle, signature, max_premium, min_premium = _risk_reversal(
            xr,
            market,
            trader,
            epochs,
            (heads[0] + 1, heads[1] + 1, rollup_a, rollup_b),
            slot_time,
            put_collateral,
        )
        raws = {
            str(chain_id): [
                _leg_raw(
                    rollup,
                    keeper,
                    leg_transaction(bundle, i, signature, xr.settlement.address),
                    int(
                        service.result(
                            f"/{chain_id}", "eth_getTransactionCount", [keeper.address, "pending"]
                        ),
                        16,
                    ),
                )
            ]
            for i, (chain_id, rollup) in enumerate(((901, rollup_a), (902, rollup_b)))
        }
        sent = service.result(
            "/",
            "seq_sendBundle",
            [
                {
                    "txs": raws,
                    "beneficiary": trader.address,
                    "deadline": int(l1.rpc("eth_blockNumber"), 16) + 50,
                }
            ],
        )["bundleHash"]
        final = _wait(lambda sent=sent: _settled_status(service, sent))
        if final["status"] == "included":
            break
    else:
        raise AssertionError(f"the bundle never landed: {final}")

    receipt = service.result("/", "seq_getBundleReceipt", [sent])
    (leg_a, leg_b) = receipt["legs"]
    assert (leg_a["chainId"], leg_b["chainId"]) == (901, 902)
    assert leg_a["blockNumber"] - leg_b["blockNumber"] == offset  # one slot
    mined_a = rollup_a.w3.eth.get_transaction_receipt(leg_a["txHash"])
    mined_b = rollup_b.w3.eth.get_transaction_receipt(leg_b["txHash"])
    assert (mined_a["status"], mined_b["status"]) == (1, 1)
    assert (mined_b["blockNumber"], mined_b["transactionIndex"]) == (
        leg_b["blockNumber"],
        leg_b["index"],
    )
    # in B's block: the relay of leg A's bridge message, right before leg B
    (relay,) = _relayed(rollup_b, xr.messenger)
    relay_receipt = rollup_b.w3.eth.get_transaction_receipt(relay["transactionHash"])
    assert relay_receipt["status"] == 1 and relay_receipt["from"] == RELAYER
    assert relay_receipt["blockNumber"] == leg_b["blockNumber"]
    assert relay_receipt["transactionIndex"] == leg_b["index"] - 1
    _check_relay_after_promises(
        service, 902, leg_b["blockNumber"], relay_receipt["transactionHash"].to_0x_hex()
    )

    # A: the trader's agent is long the calls; B: the same agent is short the puts
    call_paid = _event_words(mined_a, market.call_vault.address, BOUGHT)[1]
    put_got = _event_words(mined_b, market.put_vault.address, SOLD)[1]
    assert 0 < call_paid <= max_premium and put_got >= min_premium > 0
    call_series, put_series = epochs["rollup_a"].call_series[1], epochs["rollup_b"].put_series[0]
    with rollup_a.use():
        agent = xr.settlement.agent_of(trader)
        assert market.call_longs.balanceOf(agent, call_series) == OPTIONS
        assert xr.usdc.balanceOf(trader) == TRADER_USDC - put_collateral
    with rollup_b.use():
        assert market.put_vault.short_position(agent, put_series) == (OPTIONS, put_collateral)
        assert xr.usdc.balanceOf(trader) == min_premium
    # the collateral moved from A to B: no USDC was created or lost on the way
    assert sum(_balance(r, xr.usdc, None) for r in (rollup_a, rollup_b)) == supply


def _settled_status(service, bundle_hash: str) -> dict | None:
    status = service.result("/", "seq_getBundleStatus", [bundle_hash])
    return status if status["status"] != "pending" else None


def _balance(rollup, token, owner) -> int:
    with rollup.use():
        return token.totalSupply() if owner is None else token.balanceOf(owner)


def test_a_dropped_bundle_that_bridged_leaves_no_relay_and_later_bridges_relay_once(
    start_service, rollup_a, rollup_b, xr, deployer, trader, keeper, l1
):
    with rollup_a.use():
        xr.usdc.mint(trader, BRIDGED, sender=deployer)
    relayer_b = rollup_b.w3.eth.get_transaction_count(RELAYER)
    service = start_service()
    bridge = bytes(xr.usdc.bridge.encode_input(902, trader.address, BRIDGED))
    leg_a = _signed_call(rollup_a, trader, xr.usdc, bridge, 0)
    # leg B spends more than the bridge brings: it reverts, so the whole bundle is dropped
    overspend = bytes(xr.usdc.transfer.encode_input(keeper.address, 2 * BRIDGED))
    leg_b = _signed_call(rollup_b, trader, xr.usdc, overspend, 0)
    deadline = int(l1.rpc("eth_blockNumber"), 16) + 50
    sent = service.result(
        "/",
        "seq_sendBundle",
        [
            {
                "txs": {"901": [leg_a], "902": [leg_b]},
                "beneficiary": trader.address,
                "deadline": deadline,
            }
        ],
    )["bundleHash"]
    assert _wait(lambda: _settled_status(service, sent))["status"] == "dropped"
    _after_a_slot(service)
    assert _relayed(rollup_b, xr.messenger) == []
    assert rollup_b.w3.eth.get_transaction_count(RELAYER) == relayer_b
    with rollup_a.use():
        assert xr.usdc.balanceOf(trader) == BRIDGED  # leg A was rewound: nothing burned
    # the same bridge as a plain pre-confirmed transaction is relayed exactly once
    pre = service.result("/901", "seq_sendRawTransaction", [leg_a])
    wait_sealed(service, 901, pre["txHash"])
    (relay,) = _wait(lambda: _relayed(rollup_b, xr.messenger))
    _after_a_slot(service)
    assert len(_relayed(rollup_b, xr.messenger)) == 1
    assert rollup_b.w3.eth.get_transaction_count(RELAYER) == relayer_b + 1
    with rollup_b.use():
        assert xr.usdc.balanceOf(trader) == BRIDGED


def test_a_waiting_relay_and_a_pending_bundle_land_after_a_restart(
    start_service,
    chains,
    entries,
    tmp_path,
    rollup_a,
    rollup_b,
    xr,
    deployer,
    trader,
    lp,
    l1,
    caplog,
):
    """The first run has no messenger for rollup B in its manifest, so it relays nothing: the
    message of a sealed bridge on A is left waiting, as after a crash right after its block was
    sealed (the queue is in memory). Its bundle waits for a nonce. After a restart the relay
    queue is rebuilt from the sealed blocks and the bundle from the journal: both land."""
    with rollup_a.use():
        xr.usdc.mint(trader, BRIDGED, sender=deployer)
    partial = {
        name: ChainEntry(
            name,
            handle.role,
            handle.chain_id,
            handle.url,
            {
                key: value
                for key, value in (entries if handle.role == "rollup" else {}).items()
                if name != "rollup_b" or key != "CrossRollupMessenger"
            },
        )
        for name, handle in chains.items()
    }
    no_relays = tmp_path / "no_relays.json"
    Manifest(name="test", chains=partial).save(no_relays)
    service = start_service(manifest=no_relays)
    bridge = bytes(xr.usdc.bridge.encode_input(902, trader.address, BRIDGED))
    pre = service.result(
        "/901", "seq_sendRawTransaction", [_signed_call(rollup_a, trader, xr.usdc, bridge, 0)]
    )
    assert wait_sealed(service, 901, pre["txHash"])["status"] == "success"
    nonce_a = rollup_a.w3.eth.get_transaction_count(lp.address)
    nonce_b = rollup_b.w3.eth.get_transaction_count(lp.address)
    legs = {  # leg A waits for lp's transaction with nonce `nonce_a`
        "901": [_signed_call(rollup_a, lp, trader.address, b"", nonce_a + 1, gas=21_000)],
        "902": [_signed_call(rollup_b, lp, trader.address, b"", nonce_b, gas=21_000)],
    }
    deadline = int(l1.rpc("eth_blockNumber"), 16) + 100
    bundle = service.result(
        "/", "seq_sendBundle", [{"txs": legs, "beneficiary": lp.address, "deadline": deadline}]
    )["bundleHash"]
    _after_a_slot(service)
    _after_a_slot(service)
    assert service.result("/", "seq_getBundleStatus", [bundle])["status"] == "pending"
    assert service.result("/", "seq_status")["bundles"]["pending"] == 1
    assert _relayed(rollup_b, xr.messenger) == []
    service.stop()

    with caplog.at_level(logging.INFO, logger="sequencer.service"):
        service = start_service()
    (resumed,) = [r for r in caplog.records if r.getMessage() == "relay queue resumed"]
    assert resumed.waiting == 1  # rebuilt before the first slot
    (relay,) = _wait(lambda: _relayed(rollup_b, xr.messenger))
    assert rollup_b.w3.eth.get_transaction_receipt(relay["transactionHash"])["status"] == 1
    with rollup_b.use():
        assert xr.usdc.balanceOf(trader) == BRIDGED
    assert service.result("/", "seq_getBundleStatus", [bundle])["status"] == "pending"
    service.result(
        "/901",
        "eth_sendRawTransaction",
        [_signed_call(rollup_a, lp, trader.address, b"", nonce_a, gas=21_000)],
    )
    receipt = _wait(lambda: service.result("/", "seq_getBundleReceipt", [bundle]))
    assert [leg["chainId"] for leg in receipt["legs"]] == [901, 902]
    status = service.result("/", "seq_status")
    assert status["relays"] == {"waiting": 0, "relayed": 1}
    assert status["bundles"] == {"pending": 0, "included": 1, "dropped": 0}
    for leg in receipt["legs"]:
        w3 = (rollup_a if leg["chainId"] == 901 else rollup_b).w3
        mined = w3.eth.get_transaction_receipt(leg["txHash"])
        assert mined["status"] == 1
        assert (mined["blockNumber"], mined["transactionIndex"]) == (
            leg["blockNumber"],
            leg["index"],
        )
    # restarted again: nothing is relayed twice
    service.stop()
    service = start_service()
    _after_a_slot(service)
    _after_a_slot(service)
    assert len(_relayed(rollup_b, xr.messenger)) == 1
