"""The batcher on real chains: the term is checked right before sending (a slow build that
crosses into the next term is rebuilt, not sent), a reverted post reports the inbox's reason,
the posting policy never posts empty blocks and posts a promise in time, and after a long outage
one batch reaches an overdue forced item however far past L1's tip its block lies."""

from __future__ import annotations

import json
import time

import pytest
from test_batcher_derive import _batcher, _traffic, l1  # noqa: F401  (fixture)
from test_sequencer_bundles import _wait
from test_sequencer_forced import l1_entries, manifest_path  # noqa: F401  (fixtures)
from test_sequencer_preconfs import signed_transfer, wait_sealed
from web3 import Web3

from sequencer.batcher import Batcher, BatcherError, InboxView
from sequencer.commitments import Signer
from sequencer.config import DEVNET_SEQUENCER_KEY
from sequencer.engine import SyncEngineClient
from sequencer.posting import PostingPolicy
from sequencer.txmgr import TxManager


def _to_term_end(w3, batcher, left: int) -> None:
    """Mine until `left` L1 blocks of the term remain after the head."""
    term_blocks = batcher.inbox.registry.functions.TERM_BLOCKS().call()
    to_go = (term_blocks - 1 - w3.eth.block_number % term_blocks - left) % term_blocks
    if to_go:
        w3.provider.make_request("anvil_mine", [hex(to_go)])
    assert batcher.inbox.blocks_left_in_term() == left


def test_a_build_that_crosses_into_the_next_term_is_rebuilt_not_sent(
    l1,  # noqa: F811
    rollup_a,
    rollup_b,
):
    w3, contracts = l1
    _traffic(rollup_a, 2)
    batcher = _batcher(w3, contracts, [rollup_a, rollup_b], "calldata")
    _to_term_end(w3, batcher, batcher.term_margin + 1)  # the early check lets it build
    build = batcher.next_batch

    def slow_build(*args, **kwargs):
        batch = build(*args, **kwargs)
        w3.provider.make_request("anvil_mine", [hex(3)])  # the build took three L1 blocks
        return batch

    batcher.next_batch = slow_build
    nonce = w3.eth.get_transaction_count(batcher.txmgr.address)
    assert batcher.step() is None  # built in term t, would land in t + 1: not sent
    assert batcher.stats.rebuilt == 1 and batcher.stats.reverts == 0
    assert w3.eth.get_transaction_count(batcher.txmgr.address) == nonce
    batcher.next_batch = build
    w3.provider.make_request("anvil_mine", [hex(2)])  # into the new term
    posted = batcher.step()  # built again, with the new term
    assert posted is not None and posted.status == 1 and batcher.stats.batches == 1


def test_a_send_that_crosses_into_the_next_term_is_dropped_unsent(
    l1,  # noqa: F811
    rollup_a,
    rollup_b,
):
    """The term is checked again once the transaction is signed, immediately before it goes
    out: a slow estimate or fee read that reaches the term's last blocks drops it unsent."""
    w3, contracts = l1
    _traffic(rollup_a, 1)
    batcher = _batcher(w3, contracts, [rollup_a, rollup_b], "calldata")
    _to_term_end(w3, batcher, batcher.term_margin + 1)
    estimate = batcher.txmgr._estimate

    def slow_estimate(request, *args):
        gas = estimate(request, *args)
        w3.provider.make_request("anvil_mine", [hex(3)])  # to the term's last block meanwhile
        return gas

    batcher.txmgr._estimate = slow_estimate
    nonce = w3.eth.get_transaction_count(batcher.txmgr.address)
    assert batcher.step() is None
    assert batcher.stats.rebuilt == 1 and batcher.stats.reverts == 0
    assert w3.eth.get_transaction_count(batcher.txmgr.address) == nonce  # nothing sent
    batcher.txmgr._estimate = estimate
    w3.provider.make_request("anvil_mine", [hex(2)])  # into the new term
    posted = batcher.step()
    assert posted is not None and posted.status == 1


def test_a_reverted_post_reports_the_inbox_reason(l1, rollup_a, rollup_b):  # noqa: F811
    w3, contracts = l1
    _traffic(rollup_a, 1)
    batcher = _batcher(w3, contracts, [rollup_a, rollup_b], "calldata")
    stale = batcher.next_batch()
    assert batcher.step().status == 1  # the same blocks land first: `stale` reuses the sequence
    # estimated before the other one landed
    batcher.txmgr._estimate = lambda request, *args: 400_000
    with pytest.raises(BatcherError, match="inbox: wrong sequence"):
        batcher.post(stale)
    last = batcher.stats.last_revert
    assert batcher.stats.reverts == 1 and last["reason"] == "inbox: wrong sequence"
    assert last["sequence"] == stale.header.sequence
    receipt = w3.eth.get_transaction_receipt(last["tx"])
    assert receipt["status"] == 0 and receipt["blockNumber"] == last["l1_block"]


def _service_batcher(service, l1_entries, rollup_a, rollup_b, **kwargs) -> Batcher:  # noqa: F811
    w3 = Web3(Web3.HTTPProvider(kwargs.pop("l1_url")))
    view = InboxView(
        w3,
        (l1_entries["SharedInbox"].address, l1_entries["SharedInbox"].abi),
        (l1_entries["SequencerRegistry"].address, l1_entries["SequencerRegistry"].abi),
    )
    return Batcher(
        view,
        TxManager(w3, Signer(DEVNET_SEQUENCER_KEY).local_account(), confirmations=1),
        {r.chain_id: SyncEngineClient(r.url) for r in (rollup_a, rollup_b)},
        mode="calldata",
        sequencer=SyncEngineClient(service.url + "/"),
        **kwargs,
    )


def test_the_policy_posts_no_empty_block_and_a_promise_before_its_deadline(
    start_service,
    l1_entries,  # noqa: F811
    chains,
    rollup_a,
    rollup_b,
    lp,
    keeper,
):
    service = start_service(slot_ms=100, l1_poll_s=0.1, preconf_deadline_l1_blocks=40)
    l1w3 = Web3(Web3.HTTPProvider(chains["l1"].url))
    l1w3.provider.make_request("anvil_mine", [hex(80)])  # a term the staked sequencer leads
    policy = PostingPolicy(margin_blocks=8, max_delay_s=3600)
    batcher = _service_batcher(
        service, l1_entries, rollup_a, rollup_b, l1_url=chains["l1"].url, policy=policy
    )
    inbox = batcher.inbox.inbox.functions
    _wait(lambda: service.result("/", "seq_status")["chains"]["901"]["head"] >= 10)
    term_blocks = batcher.inbox.term_blocks()
    _to_term_end(l1w3, batcher, term_blocks - 2)  # the start of a term: far from its end
    for _ in range(3):  # idle: only empty blocks are sealed, L1 moves on
        assert batcher.step() is None
        l1w3.provider.make_request("anvil_mine", [hex(5)])
        time.sleep(0.3)
    assert inbox.next_sequence().call() == 0 and batcher.stats.waits.get("empty") == 3
    assert batcher.stats.backlog_blocks >= 10

    _to_term_end(l1w3, batcher, term_blocks - 2)
    # the deadline counts from the service's L1 view: let it see the head just mined (an older
    # view signs an earlier deadline, whose margin point can fall in this term's last blocks)
    head = l1w3.eth.block_number
    _wait(lambda: service.result("/", "seq_status")["l1Head"] >= head)
    transfer = signed_transfer(lp.private_key, 901, 0, keeper.address)
    pre = service.result("/901", "seq_sendRawTransaction", [transfer])
    wait_sealed(service, 901, pre["txHash"])
    _wait(lambda: service.result("/", "seq_getPreconfirmation", [pre["txHash"]]) is not None)
    deadline = pre["deadline"]
    [summary] = service.result(
        "/", "seq_getBlockSummaries", [901, pre["blockNumber"], pre["blockNumber"]]
    )
    header = service.result("/", "seq_getBlockHeader", [901, pre["blockNumber"]])
    assert summary == {
        "blockNumber": pre["blockNumber"],
        "blockHash": header["blockHash"],
        "txCount": 1,
        "bytes": len(bytes.fromhex(transfer[2:])),
        "forced": 0,
        "deadline": deadline,
    }
    too_many = service.rpc("/", "seq_getBlockSummaries", [901, 1, 10_001])
    assert too_many["error"]["code"] == -32602 and "at most 10000" in too_many["error"]["message"]
    assert batcher.step() is None and batcher.stats.waits.get("wait") == 1  # far from due
    assert batcher.stats.deadline_slack == deadline - l1w3.eth.block_number
    # L1 moves to the margin before the deadline (in the next term, far from its end)
    to_margin = deadline - policy.margin_blocks - l1w3.eth.block_number
    l1w3.provider.make_request("anvil_mine", [hex(to_margin)])
    assert batcher.inbox.blocks_left_in_term() >= policy.margin_blocks
    posted = batcher.step()
    assert posted is not None and posted.status == 1 and posted.block_number <= deadline
    assert batcher.stats.triggers == {"deadline": 1}
    assert batcher.stats.last["l2_txs"] == 1
    assert batcher.step() is None  # the rest is empty blocks again


def test_after_a_long_outage_one_batch_consumes_an_overdue_forced_item(
    start_service,
    project,
    l1_entries,  # noqa: F811
    chains,
    rollup_a,
    rollup_b,
    trader,
    keeper,
):
    """The batcher is down while the service seals blocks; a forced item is placed far past
    L1's tip (more than the old 64-block cap) and becomes overdue. On restart, the batcher posts
    one batch that reaches the item's block: the inbox accepts it. Capped at 64 blocks (the old
    behaviour, or a backlog larger than one carrier) a batch cannot reach it: the inbox takes
    it anyway (consumption over several batches), so the backlog drains towards the item
    instead of every batch being refused for good."""
    inbox = project.SharedInbox.at(l1_entries["SharedInbox"].address)
    service = start_service(slot_ms=50, l1_poll_s=0.1)
    _wait(lambda: service.result("/", "seq_status")["chains"]["901"]["head"] >= 150, timeout=60)
    nonce = rollup_a.w3.eth.get_transaction_count(trader.address)
    forced = signed_transfer(trader.private_key, 901, nonce, keeper.address, value=10**15)
    inbox.force_include(901, forced, value=inbox.FORCE_FEE(), sender=trader)
    _wait(lambda: service.result("/", "seq_getForcedPlacements", [0]), timeout=10)
    [placement] = service.result("/", "seq_getForcedPlacements", [0])
    assert placement["blockNumber"] > 64 + 1
    deadline = inbox.forced_item(0).deadline
    l1w3 = Web3(Web3.HTTPProvider(chains["l1"].url))
    past = max(deadline - l1w3.eth.block_number + 40, 80)
    l1w3.provider.make_request("anvil_mine", [hex(past)])
    assert l1w3.eth.block_number > deadline  # overdue, unconsumed

    capped = _service_batcher(
        service, l1_entries, rollup_a, rollup_b, l1_url=chains["l1"].url, max_blocks=64
    )
    if capped.inbox.blocks_left_in_term() < capped.term_margin:
        l1w3.provider.make_request("anvil_mine", [hex(capped.term_margin + 1)])
    partial = capped.step(force=True)  # reaches 64 blocks, not the item: accepted all the same
    assert partial is not None and partial.status == 1
    assert inbox.forced_through() == 0 and inbox.next_sequence() == 1
    batcher = _service_batcher(service, l1_entries, rollup_a, rollup_b, l1_url=chains["l1"].url)
    if batcher.inbox.blocks_left_in_term() < batcher.term_margin:
        l1w3.provider.make_request("anvil_mine", [hex(batcher.term_margin + 1)])
    posted = batcher.step(force=True)
    assert posted is not None and posted.status == 1
    assert inbox.forced_through() == 1
    assert batcher.stats.last["blocks"] > 64


def test_sequencer_batch_once_posts_what_is_sealed_then_exits(
    start_service,
    manifest_path,  # noqa: F811
    l1_entries,  # noqa: F811
    chains,
    lp,
    keeper,
):
    from click.testing import CliRunner

    from sequencer.cli import main as cli_main

    service = start_service(slot_ms=100, l1_poll_s=0.1)
    l1w3 = Web3(Web3.HTTPProvider(chains["l1"].url))
    l1w3.provider.make_request("anvil_mine", [hex(80)])  # a term the staked sequencer leads
    transfer = signed_transfer(lp.private_key, 901, 0, keeper.address)
    pre = service.result("/901", "seq_sendRawTransaction", [transfer])
    wait_sealed(service, 901, pre["txHash"])
    term_blocks = 32
    if term_blocks - 1 - l1w3.eth.block_number % term_blocks < 4:
        l1w3.provider.make_request("anvil_mine", [hex(5)])  # out of the term's last blocks
    args = ["batch", "--manifest", str(manifest_path), "--devnet-key", "--mode", "calldata"]
    result = CliRunner().invoke(
        cli_main, [*args, "--sequencer-rpc", service.url, "--once"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    last = json.loads(result.output.strip().splitlines()[-1])
    assert last["sequence"] == 0 and last["l2_txs"] >= 1 and last["mode"] == "calldata"
    inbox = l1w3.eth.contract(
        address=l1_entries["SharedInbox"].address, abi=l1_entries["SharedInbox"].abi
    )
    assert inbox.functions.next_sequence().call() >= 1
