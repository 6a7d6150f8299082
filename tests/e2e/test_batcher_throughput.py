"""The batcher's throughput work on real chains: it takes the sealed blocks' raw transactions
from the sequencer's journal (`seq_getBlockTransactions`) instead of one engine call per
transaction, it builds the next batch while a full one waits for L1 (and drops it if L1 is not
as predicted at its turn), and what it posts still decodes to the engines' blocks byte for
byte."""

from __future__ import annotations

import pytest
from test_batcher_policy import _service_batcher
from test_sequencer_bundles import _wait
from test_sequencer_forced import l1_entries, manifest_path  # noqa: F401  (fixtures)
from test_sequencer_preconfs import signed_transfer, wait_sealed
from web3 import Web3

from sequencer import batch_codec as bc
from sequencer import rpc
from sequencer.derive import L1BatchSource
from sequencer.engine import SyncEngineClient


class CountingEngine(SyncEngineClient):
    """The real engine client, counting the JSON-RPC methods it sends."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.methods: dict[str, int] = {}

    def batch(self, calls, chunk=500):
        for method, _ in calls:
            self.methods[method] = self.methods.get(method, 0) + 1
        return super().batch(calls, chunk)


def _sealed_transfers(service, lp, keeper, n: int, first_nonce: int = 0) -> list[dict]:
    pres = []
    for nonce in range(first_nonce, first_nonce + n):
        raw = signed_transfer(lp.private_key, 901, nonce, keeper.address)

        def send(raw=raw):  # a leader that has just started may still be catching up with L1
            answer = service.rpc("/901", "seq_sendRawTransaction", [raw])
            assert "catching up" in str(answer.get("error", "catching up")), answer
            return answer.get("result")

        pres.append(_wait(send) | {"raw": raw})
    for pre in pres:
        wait_sealed(service, 901, pre["txHash"])
    return pres


def test_the_journal_serves_sealed_blocks_raw_transactions(
    start_service, chains, lp, keeper, monkeypatch
):
    service = start_service(slot_ms=100, l1_poll_s=0.1)
    pres = _sealed_transfers(service, lp, keeper, 3)
    pres += _sealed_transfers(service, lp, keeper, 2, first_nonce=3)  # in later blocks
    first, last = pres[0]["blockNumber"], pres[-1]["blockNumber"]
    assert first < last
    head = service.result("/", "seq_status")["chains"]["901"]["head"]
    answer = service.result("/", "seq_getBlockTransactions", [901, 1, head])
    assert answer["through"] == head
    got = [(b["blockNumber"], raw) for b in answer["blocks"] for raw in b["transactions"]]
    assert got == [(p["blockNumber"], p["raw"]) for p in pres]  # in position order
    engine = SyncEngineClient(chains["rollup_a"].url)
    for block in answer["blocks"]:  # exactly what the engine's block holds
        mined = engine.call("eth_getBlockByNumber", [hex(block["blockNumber"]), False])
        raws = [engine.call("eth_getRawTransactionByHash", [h]) for h in mined["transactions"]]
        assert raws == block["transactions"]

    # an answer is cut after the block that reaches the byte cap; the caller asks again
    monkeypatch.setattr(rpc, "MAX_TRANSACTIONS_BYTES", 1)
    part = service.result("/", "seq_getBlockTransactions", [901, first, last])
    assert part["through"] == first and [b["blockNumber"] for b in part["blocks"]] == [first]
    rest = service.result("/", "seq_getBlockTransactions", [901, part["through"] + 1, last])
    assert rest["blocks"][0]["blockNumber"] > part["through"]

    too_many = service.rpc("/", "seq_getBlockTransactions", [901, 1, 10_001])
    assert too_many["error"]["code"] == -32602 and "at most 10000" in too_many["error"]["message"]
    backwards = service.rpc("/", "seq_getBlockTransactions", [901, 5, 4])
    assert backwards["error"]["code"] == -32602


@pytest.mark.parametrize("mode", ["calldata", "blob"])
def test_the_batcher_takes_raw_transactions_from_the_journal(
    start_service,
    l1_entries,  # noqa: F811
    chains,
    rollup_a,
    rollup_b,
    lp,
    keeper,
    mode,
):
    """A posted batch's raw transactions came from the journal (no eth_getRawTransactionByHash
    to the engines) and its payload decodes to the engines' blocks, byte for byte."""
    l1w3 = Web3(Web3.HTTPProvider(chains["l1"].url))
    l1w3.provider.make_request("anvil_mine", [hex(80)])  # a term the staked sequencer leads
    service = start_service(slot_ms=100, l1_poll_s=0.1)
    pres = _sealed_transfers(service, lp, keeper, 6)
    batcher = _service_batcher(service, l1_entries, rollup_a, rollup_b, l1_url=chains["l1"].url)
    batcher.mode = mode
    engines = {c: CountingEngine(e.url) for c, e in batcher.engines.items()}
    batcher.engines = engines
    margin = batcher.send_margin(blob=mode == "blob")  # a first blob needs more of the term
    if batcher.inbox.blocks_left_in_term() < margin + 2:
        l1w3.provider.make_request("anvil_mine", [hex(margin + 3)])
    posted = batcher.step(force=True)
    assert posted is not None and posted.status == 1
    assert batcher.stats.last["mode"] == mode and batcher.stats.last["l2_txs"] >= len(pres)
    for engine in engines.values():
        assert engine.methods.get("eth_getRawTransactionByHash", 0) == 0, engine.methods

    # what derivation reads from L1: the engines' raw transactions, block by block
    source = L1BatchSource(l1w3, l1_entries["SharedInbox"].address, l1_entries["SharedInbox"].abi)
    [batch] = [b for b in source.batches() if b.l1_tx == posted.tx_hash]
    assert batch.mode == mode
    payload = batch.payload
    posted_raws = _matches_engines(bytes(payload), engines)
    assert {p["raw"] for p in pres} <= posted_raws


def _matches_engines(payload: bytes, engines) -> set[str]:
    """Check a payload's blocks against the engines' (raw transactions, byte for byte); its raw
    transactions."""
    data = bc.decode(payload)
    for rng in data.ranges:
        engine = SyncEngineClient(engines[rng.chain_id].url)
        for block in rng.blocks:
            mined = engine.call("eth_getBlockByNumber", [hex(block.number), False])
            raws = [
                bytes.fromhex(engine.call("eth_getRawTransactionByHash", [h])[2:])
                for h in mined["transactions"]
            ]
            assert list(block.txs) == raws
    return {"0x" + t.hex() for r in data.ranges for b in r.blocks for t in b.txs}


def _pipelined(start_service, l1_entries, chains, rollup_a, rollup_b, lp, keeper):  # noqa: F811
    """A service with transfers sealed in several blocks, and a batcher taking 2 blocks per
    rollup per batch (so every batch leaves sealed blocks out, as under sustained load)."""
    l1w3 = Web3(Web3.HTTPProvider(chains["l1"].url))
    l1w3.provider.make_request("anvil_mine", [hex(80)])  # a term the staked sequencer leads
    service = start_service(slot_ms=100, l1_poll_s=0.1)
    pres = []
    for _ in range(3):  # in different blocks
        pres += _sealed_transfers(service, lp, keeper, 2, first_nonce=len(pres))
    batcher = _service_batcher(
        service, l1_entries, rollup_a, rollup_b, l1_url=chains["l1"].url, max_blocks=2
    )
    if batcher.inbox.blocks_left_in_term() < 12:
        l1w3.provider.make_request("anvil_mine", [hex(13)])
    # Sealed blocks for more than two full batches (the service seals a block per rollup per
    # slot, empty or not): the first batch and the one built ahead both leave blocks out, so
    # the build-ahead does not depend on how many slots pass while the first one is sent.
    state = batcher.inbox.state(list(batcher.engines))
    _wait(
        lambda: all(
            head > state.last_block[c] + 2 * batcher.max_blocks
            for c, head in batcher._sealed_heads().items()
        ),
        timeout=30.0,
    )
    return l1w3, service, batcher


def test_the_next_batch_is_built_while_the_last_one_waits_for_l1(
    start_service,
    l1_entries,  # noqa: F811
    chains,
    rollup_a,
    rollup_b,
    lp,
    keeper,
):
    """A full batch (sealed blocks left out) is sent, and while it waits for L1 the next one is
    built on the state it will leave; the next round posts that one as built, and both land in
    order and decode to the engines' blocks."""
    l1w3, _, batcher = _pipelined(start_service, l1_entries, chains, rollup_a, rollup_b, lp, keeper)
    inbox = batcher.inbox.inbox.functions
    before = inbox.next_sequence().call()
    first = batcher.step(force=True)
    assert first is not None and first.status == 1
    assert batcher._prebuilt is not None  # built while the first waited
    ahead = batcher._prebuilt.batch
    second = batcher.step(force=True)
    assert second is not None and second.status == 1
    assert batcher.stats.prebuilt_used >= 1 and batcher.stats.prebuilt_dropped == 0
    assert batcher.stats.reverts == 0 and batcher.stats.last["timings"].get("ahead") == 1
    assert inbox.next_sequence().call() == before + 2
    source = L1BatchSource(l1w3, l1_entries["SharedInbox"].address, l1_entries["SharedInbox"].abi)
    posted = {b.l1_tx: b for b in source.batches()}
    assert posted[second.tx_hash].header == ahead.header
    assert posted[second.tx_hash].payload == ahead.payload
    for confirmed in (first, second):
        _matches_engines(posted[confirmed.tx_hash].payload, batcher.engines)


def test_a_batch_built_ahead_for_a_state_l1_does_not_have_is_dropped_not_sent(
    start_service,
    l1_entries,  # noqa: F811
    chains,
    rollup_a,
    rollup_b,
    lp,
    keeper,
):
    """Another poster (here a second batcher with the same key, as after a restart) lands the
    next batch first: the batch built ahead would revert (wrong sequence), so it is dropped and
    the round builds from L1's state instead; nothing reverts."""
    _, service, batcher = _pipelined(
        start_service, l1_entries, chains, rollup_a, rollup_b, lp, keeper
    )
    inbox = batcher.inbox.inbox.functions
    # The precondition: a batch built ahead (the build-ahead itself is the subject of the test
    # above). Under a loaded machine one round's ahead build may come back empty (seen twice in
    # full-suite runs, cause not found yet: the helper thread's build failed or found the batch
    # not full; the next round then builds in the main thread), so up to three rounds are posted.
    for _ in range(3):
        assert batcher.step(force=True).status == 1
        if batcher._prebuilt is not None:
            break
    assert batcher._prebuilt is not None
    before = inbox.next_sequence().call() - 1
    other = _service_batcher(
        service, l1_entries, rollup_a, rollup_b, l1_url=chains["l1"].url, max_blocks=2
    )
    other.pipeline = False
    assert other.step(force=True).status == 1
    third = batcher.step(force=True)
    assert third is not None and third.status == 1
    assert batcher.stats.prebuilt_dropped == 1 and batcher.stats.reverts == 0
    assert inbox.next_sequence().call() == before + 3
