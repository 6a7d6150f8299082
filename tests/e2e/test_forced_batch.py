"""Forced inclusion, end to end: items queued on L1 are placed by the sequencer, committed by
the batcher (the skipped one as a status-2 leaf, `forced_through` advanced past both), and
derivation from L1 alone checks the forced transaction against the L1 queue."""

from __future__ import annotations

import asyncio

from test_sequencer_bundles import _wait
from test_sequencer_forced import l1_entries, manifest_path  # noqa: F401  (fixtures)
from test_sequencer_preconfs import signed_transfer, wait_sealed
from test_sequencer_relays import _after_a_slot
from web3 import Web3

from sequencer import batch_codec as bc
from sequencer.batcher import Batcher, InboxView
from sequencer.commitments import Signer
from sequencer.config import DEVNET_SEQUENCER_KEY
from sequencer.derive import DerivationMismatch, L1BatchSource, derive_batch
from sequencer.devnet import ROLLUP_FLAGS, ChainSpec, Devnet, free_port
from sequencer.engine import EngineClient, SyncEngineClient, engine_session
from sequencer.txmgr import TxManager


def test_forced_items_are_committed_and_derived_against_the_l1_queue(
    start_service,
    project,
    l1_entries,  # noqa: F811 (the fixture imported above)
    chains,
    rollup_a,
    rollup_b,
    trader,
    lp,
    keeper,
    tmp_path,  # noqa: F811
):
    inbox = project.SharedInbox.at(l1_entries["SharedInbox"].address)
    fee = inbox.FORCE_FEE()
    nonce = rollup_a.w3.eth.get_transaction_count(trader.address)
    bad = signed_transfer(trader.private_key, 901, nonce + 7, keeper.address)  # a nonce gap
    good = signed_transfer(trader.private_key, 901, nonce, keeper.address, value=10**15)
    service = start_service(slot_ms=1_000, l1_poll_s=0.1)
    _after_a_slot(service)
    inbox.force_include(901, bad, value=fee, sender=trader)
    inbox.force_include(901, good, value=fee, sender=trader)
    _wait(lambda: service.call_in_loop(lambda: len(service.seq.forced.queued[901])) == 2, timeout=5)
    pre = service.result(
        "/901", "seq_sendRawTransaction", [signed_transfer(lp.private_key, 901, 0, keeper.address)]
    )
    wait_sealed(service, 901, pre["txHash"])
    _after_a_slot(service)

    l1 = Web3(Web3.HTTPProvider(chains["l1"].url))
    l1.provider.make_request("anvil_mine", [hex(80)])  # a term the staked sequencer leads
    view = InboxView(
        l1,
        (l1_entries["SharedInbox"].address, l1_entries["SharedInbox"].abi),
        (l1_entries["SequencerRegistry"].address, l1_entries["SequencerRegistry"].abi),
    )
    batcher = Batcher(
        view,
        TxManager(l1, Signer(DEVNET_SEQUENCER_KEY).local_account(), confirmations=1),
        {r.chain_id: SyncEngineClient(r.url) for r in (rollup_a, rollup_b)},
        mode="calldata",
        sequencer=SyncEngineClient(service.url + "/"),
    )
    batch = batcher.next_batch()
    assert batch is not None
    forced_block = next(
        b
        for r in batch.ranges
        for b in r.blocks
        if b.number == pre["blockNumber"] and r.chain_id == 901
    )
    assert (forced_block.forced_count, forced_block.forced_skipped) == (2, (0,))
    assert batch.header.forced_through == 2
    assert batcher.post(batch).status == 1
    assert inbox.forced_through() == 2
    # where each forced item went, from the journal: what a restarted batcher advances over
    assert service.result("/", "seq_getForcedPlacements", [0]) == [
        {"chainId": 901, "blockNumber": pre["blockNumber"], "indexes": [0, 1]}
    ]
    assert service.result("/", "seq_getForcedPlacements", [2]) == []
    assert service.result("/", "seq_getForcedPlacements", [0, 1]) == [  # a page of one
        {"chainId": 901, "blockNumber": pre["blockNumber"], "indexes": [0, 1]}
    ]
    assert service.rpc("/", "seq_getForcedPlacements", [0, 1_001])["error"]["code"] == -32602

    # A block on the engine that the sequencer has not sealed (here mined behind its back; in
    # the builder, a block of a bundle slot that may still be rewound) never reaches L1.
    sealed = _after_a_slot(service)["chains"]["901"]["head"]
    rollup_a.rpc("evm_mine")
    assert rollup_a.w3.eth.block_number > sealed
    assert batcher._sealed_heads()[901] <= sealed
    pending = batcher.next_batch()
    assert pending is None or all(
        block.number <= sealed for r in pending.ranges if r.chain_id == 901 for block in r.blocks
    )

    source = L1BatchSource(l1, l1_entries["SharedInbox"].address, l1_entries["SharedInbox"].abi)
    [posted] = source.batches()
    queue = source.forced_queue()
    assert [i for i, _ in queue[901]] == [0, 1]
    data = bc.decode(posted.payload)

    async def derive(forced):
        specs = [ChainSpec(f"f{c}", "rollup", c, free_port(), ROLLUP_FLAGS) for c in (901, 902)]
        with Devnet(specs, log_dir=tmp_path / "derive"):
            async with engine_session() as session:
                engines = {s.chain_id: EngineClient(s.url, s.chain_id, session) for s in specs}
                return await derive_batch(posted.header, data, engines, forced)

    asyncio.run(derive({901: queue[901], 902: []}))
    # the same batch checked against a queue whose second item is another transaction
    tampered = {901: [queue[901][0], (1, b"\x22" * 32)], 902: []}
    try:
        asyncio.run(derive(tampered))
    except DerivationMismatch as exc:
        assert "forced transaction mismatch" in str(exc)
    else:
        raise AssertionError("a forced transaction that is not the L1 queue's went unnoticed")
