"""Cross-rollup relays by the sequencer service: a message rollup A's block sends is relayed in
rollup B's block of the same slot (after B's promised transactions), and a message from B is
relayed at the start of A's next block; a cross-rollup bundle whose leg B spends what leg A
bridged lands in one slot with both legs successful."""

from __future__ import annotations

import pytest
from deploy import deploy_rollup
from eth_account import Account
from rollup_setup import USDC_UNIT, deployed_on_rollups, xrollup_from
from test_sequencer_bundles import _slot_offset, _wait
from test_sequencer_preconfs import GWEI

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
    start_service, rollup_a, rollup_b, xr, deployer, trader, lp, keeper
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
    # the relayer's nonce is the sequencer's: one relay on each rollup
    after = [r.w3.eth.get_transaction_count(RELAYER) for r in (rollup_a, rollup_b)]
    assert after == [n + 1 for n in relayer_nonces]
