"""Forced inclusion through the service: a transaction queued on L1 with `SharedInbox.force_include`
goes first (index 0) in the next block the sequencer opens on its rollup, before that block's
pre-confirmed transactions, and an item the rollup would refuse is recorded as skipped."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from deploy import deploy_l1
from test_sequencer_bundles import _metric, _wait
from test_sequencer_preconfs import signed_transfer, wait_sealed
from test_sequencer_relays import _after_a_slot
from web3 import Web3

from sequencer.manifest import ChainEntry, Manifest


@pytest.fixture
def l1_entries(deployer, sequencer_account, treasury):
    """The L1 contracts of the devnet (`deploy_l1`) on the harness's L1."""
    return deploy_l1({"deployer": deployer, "sequencer": sequencer_account, "treasury": treasury})


@pytest.fixture
def manifest_path(chains, tmp_path, l1_entries):
    entries = {
        name: ChainEntry(
            name, handle.role, handle.chain_id, handle.url, l1_entries if name == "l1" else {}
        )
        for name, handle in chains.items()
    }
    path = tmp_path / "manifest.json"
    Manifest(name="test", chains=entries).save(path)
    return path


def test_a_forced_transaction_opens_the_next_block_before_its_preconfirmations(
    start_service, project, l1_entries, rollup_a, trader, lp, keeper, caplog
):
    inbox = project.SharedInbox.at(l1_entries["SharedInbox"].address)
    fee = inbox.FORCE_FEE()
    nonce = rollup_a.w3.eth.get_transaction_count(trader.address)
    bad = signed_transfer(trader.private_key, 901, nonce + 7, keeper.address)  # a nonce gap
    good = signed_transfer(trader.private_key, 901, nonce, keeper.address, value=10**15)
    # a margin past both items' deadlines: each queued item is at risk until it is placed
    service = start_service(slot_ms=2_000, l1_poll_s=0.1, forced_deadline_margin_l1_blocks=10**6)
    seq = service.seq

    # right after a slot: queue both items on L1 and let the service read them
    _after_a_slot(service)
    first = inbox.forced_count()
    inbox.force_include(901, bad, value=fee, sender=trader)
    inbox.force_include(901, good, value=fee, sender=trader)
    with caplog.at_level(logging.WARNING, logger="sequencer.forced"):
        _wait(lambda: service.call_in_loop(lambda: len(seq.forced.queued[901])) == 2, timeout=5)
        _wait(lambda: service.result("/", "seq_status")["forced"]["atRisk"] == 2, timeout=5)
    deadline = inbox.forced_status(first)[1]  # the earlier item's L1 deadline
    assert service.result("/", "seq_status")["forced"] == {
        "queued": 2,
        "placed": 0,
        "skipped": 0,
        "nearestDeadline": deadline,
        "atRisk": 2,
    }
    assert _metric(service, "seq_forced_nearest_deadline_l1_block") == deadline
    assert _metric(service, "seq_forced_deadline_at_risk") == 2
    warned = [r for r in caplog.records if getattr(r, "event", None) == "forced_deadline"]
    assert sorted(r.queue_index for r in warned) == [first, first + 1]  # once per item

    # a pre-confirmation opens the next block: the forced transaction goes first in it
    pre = service.result(
        "/901", "seq_sendRawTransaction", [signed_transfer(lp.private_key, 901, 0, keeper.address)]
    )
    assert pre["index"] == 1
    wait_sealed(service, 901, pre["txHash"])
    good_hash = Web3.keccak(hexstr=good).to_0x_hex()
    header = service.result("/", "seq_getBlockHeader", [901, pre["blockNumber"]])
    assert header["transactions"][:2] == [good_hash, pre["txHash"]]
    assert header["forced"] == [first, first + 1]
    assert header["forcedSkipped"] == [0]  # the item with the nonce gap was refused
    assert service.result("/", "seq_status")["forced"] == {
        "queued": 0,
        "placed": 1,
        "skipped": 1,
        "nearestDeadline": None,
        "atRisk": 0,
    }
    assert (
        _metric(service, "seq_forced_placed_total"),
        _metric(service, "seq_forced_skipped_total"),
    ) == (1, 1)
    assert _metric(service, "seq_forced_nearest_deadline_l1_block") is None
    assert service.call_in_loop(lambda: seq.journal.forced_for_block(901, pre["blockNumber"])) == (
        (first, first + 1),
        (0,),
    )
    receipt = rollup_a.w3.eth.get_transaction_receipt(good_hash)
    assert (receipt["blockNumber"], receipt["transactionIndex"], receipt["status"]) == (
        pre["blockNumber"],
        0,
        1,
    )
    # the skipped item never reached the rollup; a forced transaction carries no promise
    assert rollup_a.w3.eth.get_transaction_count(trader.address) == nonce + 1
    assert service.result("/901", "seq_getPreconfirmation", [good_hash]) is None
    # a block that processed no forced item says so
    before = service.result("/", "seq_getBlockHeader", [901, pre["blockNumber"] - 1])
    assert (before["forced"], before["forcedSkipped"]) == ([], [])
    again = service.rpc("/901", "eth_sendRawTransaction", [good])
    assert again["error"]["message"] == "already known"

    # after a restart the processed items are not taken again
    service.stop()
    restarted = start_service(slot_ms=100, l1_poll_s=0.1)
    forced = restarted.seq.forced
    assert restarted.call_in_loop(lambda: forced.next_index[901]) == first + 2
    _after_a_slot(restarted)
    _after_a_slot(restarted)
    header = restarted.result("/", "seq_getBlockHeader", [901, pre["blockNumber"]])
    assert (header["forced"], header["forcedSkipped"]) == ([first, first + 1], [0])
    restarted.stop()
    db = sqlite3.connect(restarted.config.journal)
    rows = db.execute("SELECT block_number FROM forced WHERE chain_id = 901").fetchall()
    db.close()
    assert rows == [(pre["blockNumber"],)]  # one block processed the queue, once
