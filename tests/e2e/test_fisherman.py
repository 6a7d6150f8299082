"""The fisherman on real chains: a dedicated L1 with the registry, inbox and slasher deployed and
the devnet sequencer leading, the harness's rollups, the real batcher posting batches.

It slashes the leader for a forced item left unconsumed past its deadline (once: a second run,
through `sequencer watch`, sends nothing), and for one consumed only by a batch posted after its
deadline (but not for one consumed at its deadline); slashes every signed pre-confirmation and
bundle receipt that a posted batch contradicts or that no batch covered by its deadline, while
leaving kept ones and promises signed by a key with no stake alone, and does so for a block never
posted while the real batcher posts a batch in every L1 block (the evidence it builds cannot be
raced); slashes two conflicting signed block headers (but not two headers from different
signers); and finds nothing to slash in the real service's promises, polled over its RPC, through
several terms of batches, until the same key signs a second header for a block.
"""

# ruff: noqa: F811 - `l1` is the dedicated-L1 fixture of test_batcher_derive, taken by every test

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import replace

from click.testing import CliRunner
from test_batcher_derive import _batcher, _traffic, l1  # noqa: F401 - the L1 fixture
from test_sequencer_bundles import _wait
from test_sequencer_preconfs import signed_transfer, wait_sealed

from sequencer import batch_codec as bc
from sequencer import commitments as cm
from sequencer.cli import main as cli_main
from sequencer.config import DEVNET_SEQUENCER_ADDRESS, DEVNET_SEQUENCER_KEY
from sequencer.engine import SyncEngineClient
from sequencer.fisherman import (
    DEVNET_FISHERMAN_KEY,
    Fisherman,
    SignedHeader,
    SignedReceipt,
    bundle_evidence_id,
    censorship_evidence_id,
    equivocation_evidence_id,
    preconf_evidence_id,
)
from sequencer.manifest import ChainEntry, Manifest
from sequencer.txmgr import TxManager, TxRequest

# anvil's well-known account 5 queues forced items (DEVNET ONLY: a public key)
TRADER_KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"
SEQUENCER = cm.Signer(DEVNET_SEQUENCER_KEY)
STRANGER = cm.Signer(b"\x42" * 32)  # holds no stake


def _contracts(contracts) -> dict[str, tuple[str, list]]:
    names = ("Slasher", "SharedInbox", "SequencerRegistry")
    return {n: (contracts[n].address, contracts[n].abi) for n in names}


def _fisherman(w3, contracts, rollups) -> Fisherman:
    txmgr = TxManager(w3, DEVNET_FISHERMAN_KEY, confirmations=1)
    return Fisherman(
        w3, _contracts(contracts), txmgr, {r.chain_id: SyncEngineClient(r.url) for r in rollups}
    )


def _manifest(w3, contracts, rollups, path):
    """A manifest naming the dedicated L1 (with its contracts) and the harness's rollups."""
    l1_entries = {n: contracts[n] for n in ("Slasher", "SharedInbox", "SequencerRegistry")}
    chains = {"l1": ChainEntry("l1", "l1", 31337, w3.provider.endpoint_uri, l1_entries)}
    for rollup in rollups:
        chains[rollup.name] = ChainEntry(rollup.name, "rollup", rollup.chain_id, rollup.url)
    Manifest(name="test", chains=chains).save(path)
    return path


def _watch_once(manifest, *extra) -> dict:
    """`sequencer watch --once` with the devnet key: the counts it prints."""
    args = ["watch", "--manifest", str(manifest), "--devnet-key", "--once", *map(str, extra)]
    result = CliRunner().invoke(cli_main, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def _contract(w3, entry):
    return w3.eth.contract(address=entry.address, abi=entry.abi)


def _preconf_json(domain, msg: cm.PreconfMsg, signer=SEQUENCER) -> dict:
    return {
        "txHash": "0x" + msg.tx_hash.hex(),
        "chainId": msg.chain_id,
        "blockNumber": msg.block_number,
        "index": msg.index,
        "deadline": msg.deadline,
        "signature": "0x" + signer.sign(domain, msg).hex(),
        "signer": signer.address,
    }


def _receipt_json(domain, legs, deadline, beneficiary, signer=SEQUENCER) -> dict:
    msg = cm.BundleReceiptMsg(os.urandom(32), cm.legs_hash(legs), beneficiary, deadline)
    return {
        "bundleHash": "0x" + msg.bundle_hash.hex(),
        "legsHash": "0x" + msg.legs_hash.hex(),
        "legs": [
            {"chainId": c, "blockNumber": b, "index": i, "txHash": "0x" + h.hex()}
            for c, b, i, h in legs
        ],
        "beneficiary": beneficiary,
        "deadline": deadline,
        "signature": "0x" + signer.sign(domain, msg).hex(),
        "signer": signer.address,
    }


def _receipt_msg(data: dict) -> cm.BundleReceiptMsg:
    return SignedReceipt.from_json(data).msg


def _header_json(domain, msg: cm.BlockHeaderMsg, signer=SEQUENCER) -> dict:
    return {
        "chainId": msg.chain_id,
        "blockNumber": msg.block_number,
        "blockHash": "0x" + msg.block_hash.hex(),
        "parentHash": "0x" + msg.parent_hash.hex(),
        "signature": "0x" + signer.sign(domain, msg).hex(),
    }


def _mine(w3, n: int) -> None:
    w3.provider.make_request("anvil_mine", [hex(n)])


def test_censorship_slashes_the_leader_once(l1, rollup_a, rollup_b, tmp_path):
    w3, contracts = l1
    inbox = _contract(w3, contracts["SharedInbox"])
    registry = _contract(w3, contracts["SequencerRegistry"])
    slash = _contract(w3, contracts["Slasher"]).functions.SLASH_AMOUNT().call()
    raw = signed_transfer(TRADER_KEY, 901, 0, DEVNET_SEQUENCER_ADDRESS)
    trader = TxManager(w3, TRADER_KEY)
    index = inbox.functions.forced_count().call()
    data = bytes.fromhex(inbox.encode_abi("force_include", args=[901, raw])[2:])
    fee = inbox.functions.FORCE_FEE().call()
    assert trader.send_and_wait(TxRequest(inbox.address, data, fee)).status == 1
    stake = registry.functions.stake_of(DEVNET_SEQUENCER_ADDRESS).call()

    fisher = _fisherman(w3, contracts, [rollup_a, rollup_b])
    assert fisher.step() == []  # the item is within its deadline: nothing to report
    assert fisher.stats.checks["censorship"] == 1
    _, deadline, consumed = inbox.functions.forced_status(index).call()
    assert not consumed
    _mine(w3, deadline - w3.eth.block_number)  # the head is the deadline block: not yet
    assert fisher.step() == [] and fisher.stats.refused == 0
    _mine(w3, 1)
    sent = fisher.step()
    assert [(s.kind, s.evidence_id, s.status, s.slashed) for s in sent] == [
        ("censorship", censorship_evidence_id(index), 1, slash)
    ]
    receipt = w3.eth.get_transaction_receipt(sent[0].l1_tx)
    assert receipt["to"] == contracts["Slasher"].address
    assert registry.functions.stake_of(DEVNET_SEQUENCER_ADDRESS).call() == stake - slash
    assert registry.functions.jailed(DEVNET_SEQUENCER_ADDRESS).call()
    assert registry.functions.evidence_used(censorship_evidence_id(index)).call()
    assert fisher.step() == []  # this run remembers it

    # a second run (`sequencer watch --once`) reads the registry and sends nothing
    manifest = _manifest(w3, contracts, [rollup_a], tmp_path / "manifest.json")
    nonce = w3.eth.get_transaction_count(fisher.txmgr.address)
    counts = _watch_once(manifest)
    assert (counts["submitted"], counts["alreadyUsed"]) == ({}, 1)
    assert w3.eth.get_transaction_count(fisher.txmgr.address) == nonce
    assert registry.functions.stake_of(DEVNET_SEQUENCER_ADDRESS).call() == stake - slash

    # the public devnet key is refused for any other L1
    chains = Manifest.from_json(json.loads(manifest.read_text())).chains
    other = Manifest(name="x", chains={**chains, "l1": replace(chains["l1"], chain_id=1)})
    other.save(tmp_path / "other.json")
    refused = CliRunner().invoke(
        cli_main, ["watch", "--manifest", str(tmp_path / "other.json"), "--devnet-key", "--once"]
    )
    assert refused.exit_code != 0 and "refused on L1 chain 1" in refused.output


def test_broken_preconfirmations_are_slashed_and_a_kept_one_is_not(
    l1, rollup_a, rollup_b, tmp_path
):
    w3, contracts = l1
    registry = _contract(w3, contracts["SequencerRegistry"])
    slash = _contract(w3, contracts["Slasher"]).functions.SLASH_AMOUNT().call()
    start = rollup_a.w3.eth.block_number + 1
    _traffic(rollup_a, 2)  # blocks start, start + 1: three transfers each
    first = rollup_a.w3.eth.get_block(start)
    fisher = _fisherman(w3, contracts, [rollup_a, rollup_b])
    domain = fisher.domain
    deadline = w3.eth.block_number + 200
    kept = cm.PreconfMsg(901, start, 1, bytes(first["transactions"][1]), deadline)
    wrong = replace(kept, index=0, tx_hash=os.urandom(32))  # another tx holds index 0
    short = cm.PreconfMsg(901, start + 1, 5, os.urandom(32), deadline)  # the block holds 3
    unposted = cm.PreconfMsg(901, start + 9, 0, os.urandom(32), w3.eth.block_number + 3)
    forged = replace(kept, index=2, tx_hash=os.urandom(32))  # signed by a key with no stake
    for msg in (kept, wrong, short, unposted):
        assert fisher.add_preconf(_preconf_json(domain, msg))
    assert fisher.add_preconf(_preconf_json(domain, forged, STRANGER))
    bad = _preconf_json(domain, replace(kept, index=2))
    bad["signer"] = STRANGER.address
    assert not fisher.add_preconf(bad)  # signature and claimed signer disagree

    # bundle receipts: legs on blocks start and start + 1; one kept, one with a leg not there
    second = rollup_a.w3.eth.get_block(start + 1)
    legs = [(901, start, 2, bytes(first["transactions"][2]))]
    legs.append((901, start + 1, 0, bytes(second["transactions"][0])))
    kept_receipt = _receipt_json(domain, legs, deadline, STRANGER.address)
    broken_legs = [legs[0], (901, start + 1, 1, os.urandom(32))]
    broken_receipt = _receipt_json(domain, broken_legs, deadline, STRANGER.address)
    assert fisher.add_receipt(kept_receipt) and fisher.add_receipt(broken_receipt)
    tampered = dict(kept_receipt, legs=broken_receipt["legs"])
    assert not fisher.add_receipt(tampered)  # legs that do not hash to the signed legsHash

    assert fisher.step() == []  # no batch yet, no deadline passed
    assert fisher.stats.verdicts["preconf_waiting"] == 5
    assert fisher.stats.verdicts["bundle_waiting"] == 2
    assert _batcher(w3, contracts, [rollup_a, rollup_b], "calldata").step().status == 1
    _mine(w3, 4)  # past the unposted promise's deadline
    stake = registry.functions.stake_of(DEVNET_SEQUENCER_ADDRESS).call()
    sent = fisher.step()
    assert sorted((s.kind, s.evidence_id, s.status, s.slashed) for s in sent) == sorted(
        [
            ("preconf_wrong_tx", preconf_evidence_id(wrong), 1, slash),
            ("preconf_short_block", preconf_evidence_id(short), 1, slash),
            ("preconf_not_posted", preconf_evidence_id(unposted), 1, slash),
            ("bundle_wrong_tx", bundle_evidence_id(_receipt_msg(broken_receipt)), 1, slash),
        ]
    )
    assert registry.functions.stake_of(DEVNET_SEQUENCER_ADDRESS).call() == stake - 4 * slash
    assert registry.functions.claimable(STRANGER.address).call() > 0  # the bundle's victim
    kept_id = bundle_evidence_id(_receipt_msg(kept_receipt))
    assert not registry.functions.evidence_used(kept_id).call()
    assert fisher.stats.verdicts["bundle_kept"] == 1
    assert not registry.functions.evidence_used(preconf_evidence_id(kept)).call()
    assert not registry.functions.evidence_used(preconf_evidence_id(forged)).call()
    assert fisher.stats.verdicts["preconf_kept"] == 1
    assert fisher.stats.refused == 1  # the stranger's promise: the dry run says no stake
    assert all(r.verified for r in fisher.ranges[901])  # proofs came from the committed root

    assert fisher.step() == []  # each promise is judged and slashed once
    assert fisher.stats.refused == 2  # the forged one is dry-run again, never sent

    # a second run from files (`sequencer watch --preconfs --receipts`) sends nothing again
    preconfs, receipts = tmp_path / "preconfs.jsonl", tmp_path / "receipts.jsonl"
    lines = [_preconf_json(domain, m) for m in (kept, wrong, short, unposted)]
    preconfs.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    receipts.write_text(json.dumps(kept_receipt) + "\n" + json.dumps(broken_receipt) + "\n")
    manifest = _manifest(w3, contracts, [rollup_a, rollup_b], tmp_path / "manifest.json")
    counts = _watch_once(manifest, "--preconfs", preconfs, "--receipts", receipts)
    assert counts["submitted"] == {} and counts["alreadyUsed"] == 4
    assert counts["verdicts"]["preconf_kept"] == counts["verdicts"]["bundle_kept"] == 1


def test_two_conflicting_signed_headers_are_slashed_as_equivocation(l1, rollup_a, rollup_b):
    w3, contracts = l1
    registry = _contract(w3, contracts["SequencerRegistry"])
    fisher = _fisherman(w3, contracts, [rollup_a, rollup_b])
    domain = fisher.domain
    one = cm.BlockHeaderMsg(901, 7, os.urandom(32), os.urandom(32))
    two = replace(one, block_hash=os.urandom(32))
    assert fisher.add_header(_header_json(domain, one))
    assert fisher.add_header(_header_json(domain, one))  # the same header again: kept once
    assert fisher.add_header(_header_json(domain, two, STRANGER))  # another signer's
    assert fisher.step() == []  # no one signed two headers for block 7
    assert fisher.stats.refused == 0

    stake = registry.functions.stake_of(DEVNET_SEQUENCER_ADDRESS).call()
    assert fisher.add_header(_header_json(domain, two))
    sent = fisher.step()
    evidence = equivocation_evidence_id(SEQUENCER.address, 901, 7)
    assert [(s.kind, s.evidence_id, s.status) for s in sent] == [("equivocation", evidence, 1)]
    assert registry.functions.stake_of(DEVNET_SEQUENCER_ADDRESS).call() == stake - sent[0].slashed
    assert sent[0].slashed > 0
    assert fisher.step() == []


def test_an_honest_sequencer_is_never_slashed_until_it_equivocates(
    l1,
    start_service,
    rollup_a,
    rollup_b,
    accounts,
    tmp_path,
):
    """The real service's promises, polled over its RPC, against the real batcher's batches."""
    w3, contracts = l1
    manifest = _manifest(w3, contracts, [rollup_a, rollup_b], tmp_path / "l1-manifest.json")
    service = start_service(manifest=manifest, slot_ms=300)
    assert service.domain.verifying_contract == contracts["Slasher"].address
    _wait(lambda: service.call_in_loop(lambda: service.seq.leader.accepting))

    hashes = []
    for chain_id in (901, 902):
        for nonce in range(2):
            raw = signed_transfer(accounts[6].private_key, chain_id, nonce, accounts[7].address)
            pre = service.result(f"/{chain_id}", "seq_sendRawTransaction", [raw])
            hashes.append((chain_id, pre["txHash"]))
    for chain_id, tx_hash in hashes:
        wait_sealed(service, chain_id, tx_hash)
    batcher = _batcher(w3, contracts, [rollup_a, rollup_b], "calldata")
    batcher.sequencer = SyncEngineClient(service.url + "/")
    if batcher.inbox.blocks_left_in_term() < batcher.term_margin:
        _mine(w3, batcher.term_margin + 1)  # no batch goes out in a term's last blocks
    assert batcher.step() is not None

    fisher = _fisherman(w3, contracts, [rollup_a, rollup_b])
    fisher.sequencer = SyncEngineClient(service.url + "/")
    fisher.watch_tx.update(bytes.fromhex(h[2:]) for _, h in hashes)
    stake = _contract(w3, contracts["SequencerRegistry"]).functions.stake_of(
        DEVNET_SEQUENCER_ADDRESS
    )
    before = stake.call()
    assert fisher.step() == []
    assert not fisher.watch_tx  # every pre-confirmation was fetched
    assert fisher.stats.verdicts["preconf_kept"] == len(hashes)
    assert fisher.stats.checks["header"] >= 2  # the service's signed headers, polled
    assert (fisher.stats.refused, fisher.stats.unprovable, fisher.stats.l1_conflicts) == (0, 0, 0)
    assert fisher.ranges[901] and all(r.verified for rs in fisher.ranges.values() for r in rs)
    assert stake.call() == before

    # the same key signs a second header for a block it already sealed: equivocation
    number = fisher.ranges[901][0].commitment.first_block
    real = service.result("/", "seq_getBlockHeader", [901, number])
    forged = replace(SignedHeader.from_json(real).msg, block_hash=os.urandom(32))
    assert fisher.add_header(_header_json(fisher.domain, forged))
    sent = fisher.step()
    assert [s.kind for s in sent] == ["equivocation"]
    assert stake.call() == before - sent[0].slashed
    assert fisher.stats.l1_conflicts == 1  # the forged header is not the block L1 committed
    assert fisher.step() == [] and fisher.stats.l1_conflicts == 1  # each compared once


def test_a_batch_dropped_by_an_l1_reorg_is_read_again(l1, rollup_a, rollup_b):
    w3, contracts = l1
    start = rollup_a.w3.eth.block_number + 1
    _traffic(rollup_a, 1)
    tx_hash = bytes(rollup_a.w3.eth.get_block(start)["transactions"][0])
    fisher = _fisherman(w3, contracts, [rollup_a, rollup_b])
    promise = cm.PreconfMsg(901, start, 0, tx_hash, w3.eth.block_number + 100)
    assert fisher.add_preconf(_preconf_json(fisher.domain, promise))
    batcher = _batcher(w3, contracts, [rollup_a, rollup_b], "calldata")
    posted = batcher.step()
    assert fisher.step() == [] and fisher.stats.verdicts == {"preconf_kept": 1}

    w3.provider.make_request("anvil_reorg", [w3.eth.block_number - posted.block_number + 1, []])
    assert fisher.step() == []
    assert fisher.ranges == {} and fisher.stats.verdicts["preconf_waiting"] == 1
    assert batcher.step().status == 1  # the batcher posts it again
    assert fisher.step() == [] and fisher.stats.verdicts["preconf_kept"] == 2
    assert [r.header.sequence for r in fisher.ranges[901]] == [0]


def _post_empty_batch(w3, contracts, forced_through: int) -> tuple[cm.BatchHeader, int]:
    """The leader posts a batch naming no rollup that moves `forced_through` (as a sequencer
    that consumed forced items would); returns its header and the L1 block it landed in."""
    inbox = _contract(w3, contracts["SharedInbox"])
    sequence = inbox.functions.next_sequence().call()
    prev = bytes(inbox.functions.batch_hash(sequence - 1).call()) if sequence else cm.ZERO_HASH
    payload = bc.encode(bc.BatchData(()))
    term = (w3.eth.block_number + 1) // inbox.functions.TERM_BLOCKS().call()
    header = cm.BatchHeader(
        sequence, prev, term, (), os.urandom(32), forced_through, cm.keccak(payload)
    )
    data = bytes.fromhex(inbox.encode_abi("post_batch", args=[header.as_tuple(), payload])[2:])
    sender = TxManager(w3, DEVNET_SEQUENCER_KEY, confirmations=1)
    confirmed = sender.send_and_wait(TxRequest(inbox.address, data))
    assert confirmed.status == 1
    assert inbox.functions.posted_block(sequence).call() == confirmed.block_number
    return header, confirmed.block_number


def _force_include(w3, contracts, nonce: int) -> tuple[int, int]:
    """The trader queues a forced transaction; returns its queue index and deadline."""
    inbox = _contract(w3, contracts["SharedInbox"])
    raw = signed_transfer(TRADER_KEY, 901, nonce, DEVNET_SEQUENCER_ADDRESS)
    index = inbox.functions.forced_count().call()
    data = bytes.fromhex(inbox.encode_abi("force_include", args=[901, raw])[2:])
    fee = inbox.functions.FORCE_FEE().call()
    assert TxManager(w3, TRADER_KEY).send_and_wait(TxRequest(inbox.address, data, fee)).status == 1
    return index, inbox.functions.forced_status(index).call()[1]


def test_a_forced_item_consumed_after_its_deadline_is_slashed_once(l1, rollup_a, rollup_b):
    w3, contracts = l1
    registry = _contract(w3, contracts["SequencerRegistry"])
    slash = _contract(w3, contracts["Slasher"]).functions.SLASH_AMOUNT().call()
    fisher = _fisherman(w3, contracts, [rollup_a, rollup_b])
    stake = registry.functions.stake_of(DEVNET_SEQUENCER_ADDRESS).call()

    # item 0 is consumed by a batch posted in its deadline block: on time
    on_time, deadline = _force_include(w3, contracts, 0)
    _post_empty_batch(w3, contracts, 0)  # a batch that leaves it for later
    _mine(w3, deadline - 1 - w3.eth.block_number)
    _, block = _post_empty_batch(w3, contracts, on_time + 1)
    assert block == deadline
    assert fisher.step() == [] and fisher.stats.refused == 0

    # item 1 is consumed one block after its deadline: late, though it is consumed now
    late, deadline = _force_include(w3, contracts, 1)
    last_on_time, _ = _post_empty_batch(w3, contracts, on_time + 1)
    _mine(w3, deadline - w3.eth.block_number)
    _, block = _post_empty_batch(w3, contracts, late + 1)
    assert block == deadline + 1
    assert _contract(w3, contracts["SharedInbox"]).functions.forced_status(late).call()[2]
    sent = fisher.step()
    assert [(s.kind, s.function, s.evidence_id, s.status, s.slashed) for s in sent] == [
        ("censorship", "slash_censorship_late", censorship_evidence_id(late), 1, slash)
    ]
    assert registry.functions.stake_of(DEVNET_SEQUENCER_ADDRESS).call() == stake - slash
    assert registry.functions.jailed(DEVNET_SEQUENCER_ADDRESS).call()
    assert not registry.functions.evidence_used(censorship_evidence_id(on_time)).call()
    assert fisher.step() == []
    again = _fisherman(w3, contracts, [rollup_a, rollup_b])  # a second fisherman, from scratch
    assert again.step() == [] and again.stats.already_used == 1
    assert last_on_time.sequence == max(
        seq for seq, (_, b) in again.batches.items() if b <= deadline
    )


def test_a_block_never_posted_is_slashed_while_the_batcher_posts_every_block(
    l1, rollup_a, rollup_b
):
    w3, contracts = l1
    registry = _contract(w3, contracts["SequencerRegistry"])
    slash = _contract(w3, contracts["Slasher"]).functions.SLASH_AMOUNT().call()
    top_up = bytes.fromhex(registry.encode_abi("top_up", args=[])[2:])
    sequencer = TxManager(w3, DEVNET_SEQUENCER_KEY, confirmations=1)
    assert sequencer.send_and_wait(TxRequest(registry.address, top_up, 10 * slash)).status == 1
    batcher = _batcher(w3, contracts, [rollup_a, rollup_b], "calldata")
    fisher = _fisherman(w3, contracts, [rollup_a, rollup_b])
    nonce = _traffic(rollup_a, 1)
    posted = [batcher.step()]
    promised = rollup_a.w3.eth.block_number + 500  # far beyond anything posted below
    deadline = w3.eth.block_number + 3
    first = cm.PreconfMsg(901, promised, 0, os.urandom(32), deadline)
    assert fisher.add_preconf(_preconf_json(fisher.domain, first))

    def post_one() -> None:
        """One more rollup-A block and a batch naming it: the rollup's tip moves."""
        nonlocal nonce
        nonce = _traffic(rollup_a, 1, nonce)
        while (confirmed := batcher.step()) is None:
            assert not registry.functions.jailed(DEVNET_SEQUENCER_ADDRESS).call()
            _mine(w3, 1)  # the term's last blocks: the batcher waits for the next term
        assert confirmed.status == 1
        posted.append(confirmed)

    while posted[-1].block_number <= deadline:
        post_one()
    fisher._read_batches()  # the fisherman has read every batch so far, and then
    post_one()  # one more lands before it judges: the rollup tip it read is stale
    stake = registry.functions.stake_of(DEVNET_SEQUENCER_ADDRESS).call()
    sent = fisher.check_preconfs(w3.eth.block_number)
    assert [(s.kind, s.function, s.status, s.slashed) for s in sent] == [
        ("preconf_not_posted", "slash_preconf_posted_late", 1, slash)
    ]
    assert fisher.stats.refused == 0

    # a block posted only after its deadline: posted late (the covering batch is the evidence)
    number = rollup_a.w3.eth.block_number + 1
    post_one()
    tx_hash = bytes(rollup_a.w3.eth.get_block(number)["transactions"][0])
    late = cm.PreconfMsg(901, number, 0, tx_hash, deadline)  # the right tx, too late
    assert fisher.add_preconf(_preconf_json(fisher.domain, late))
    sent = fisher.step()
    assert [(s.kind, s.function, s.status) for s in sent] == [
        ("preconf_posted_late", "slash_preconf_posted_late", 1)
    ]

    # now live: the batcher posts in a loop (a batch in every L1 block it can) while new
    # promises for unposted blocks fall due and the fisherman runs its rounds
    stop, live_errors = threading.Event(), []

    def live() -> None:
        try:
            while not stop.is_set():
                post_one()
        except Exception as exc:  # noqa: BLE001 - reported by the test below
            live_errors.append(exc)

    deadline = w3.eth.block_number + 2
    second = cm.PreconfMsg(901, promised + 1, 0, os.urandom(32), deadline)
    legs = [(901, promised + 2, 0, os.urandom(32))]
    receipt = _receipt_json(fisher.domain, legs, deadline, STRANGER.address)
    assert fisher.add_preconf(_preconf_json(fisher.domain, second))
    assert fisher.add_receipt(receipt)
    ids = [preconf_evidence_id(second), bundle_evidence_id(_receipt_msg(receipt))]
    thread = threading.Thread(target=live, daemon=True)
    before = len(posted)
    thread.start()
    try:
        for _ in range(200):
            fisher.step()
            used = [registry.functions.evidence_used(i).call() for i in ids]
            if all(used) and len(posted) > before + 2:
                break
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not live_errors and not thread.is_alive()
    assert all(registry.functions.evidence_used(i).call() for i in ids)
    landed = [s for s in fisher.submissions if s.status == 1 and s.evidence_id in ids]
    assert sorted((s.kind, s.function) for s in landed) == [
        ("bundle_not_posted", "slash_bundle_posted_late"),
        ("preconf_not_posted", "slash_preconf_posted_late"),
    ]
    # batches kept landing in between, and the stake paid for exactly these two promises
    assert len(posted) > before + 2
    assert registry.functions.stake_of(DEVNET_SEQUENCER_ADDRESS).call() == stake - 4 * slash
    assert fisher.stats.submitted == {
        "preconf_posted_late": 1,
        "preconf_not_posted": 2,
        "bundle_not_posted": 1,
    }


def test_an_honest_service_batcher_and_fisherman_over_several_terms_slash_nothing(
    l1, start_service, rollup_a, rollup_b, accounts, tmp_path
):
    """The real service, its batcher and a fisherman polling both, for three L1 terms of
    traffic, batches and a forced transaction: every promise is kept, nothing is slashed."""
    w3, contracts = l1
    manifest = _manifest(w3, contracts, [rollup_a, rollup_b], tmp_path / "l1-manifest.json")
    service = start_service(manifest=manifest, slot_ms=300)
    _wait(lambda: service.call_in_loop(lambda: service.seq.leader.accepting))
    registry = _contract(w3, contracts["SequencerRegistry"])
    inbox = _contract(w3, contracts["SharedInbox"])
    before = registry.functions.stake_of(DEVNET_SEQUENCER_ADDRESS).call()
    term_blocks = registry.functions.TERM_BLOCKS().call()
    batcher = _batcher(w3, contracts, [rollup_a, rollup_b], "calldata")
    batcher.sequencer = SyncEngineClient(service.url + "/")
    fisher = _fisherman(w3, contracts, [rollup_a, rollup_b])
    fisher.sequencer = SyncEngineClient(service.url + "/")

    sender = accounts[6]
    nonces = {
        c: r.w3.eth.get_transaction_count(sender.address)
        for c, r in ((901, rollup_a), (902, rollup_b))
    }
    promised = 0
    first_term = w3.eth.block_number // term_blocks
    rounds = 0
    while w3.eth.block_number // term_blocks < first_term + 3:
        rounds += 1
        if rounds == 2:  # a forced transaction, which the honest leader consumes in time
            trader_nonce = rollup_a.w3.eth.get_transaction_count(cm.Signer(TRADER_KEY).address)
            _force_include(w3, contracts, trader_nonce)
        sent = []
        for chain_id in (901, 902):
            raw = signed_transfer(
                sender.private_key, chain_id, nonces[chain_id], accounts[7].address
            )
            nonces[chain_id] += 1
            pre = service.result(f"/{chain_id}", "seq_sendRawTransaction", [raw])
            sent.append((chain_id, pre["txHash"]))
        for chain_id, tx_hash in sent:
            wait_sealed(service, chain_id, tx_hash)
        fisher.watch_tx.update(bytes.fromhex(h[2:]) for _, h in sent)
        promised += len(sent)
        _mine(w3, 5)
        if batcher.inbox.blocks_left_in_term() < batcher.term_margin:
            _mine(w3, batcher.term_margin + 1)  # no batch goes out in a term's last blocks
        assert batcher.step() is not None
        assert fisher.step() == []
    assert fisher.step() == []
    assert inbox.functions.forced_through().call() == inbox.functions.forced_count().call() == 1
    assert fisher.stats.verdicts["preconf_kept"] == promised
    assert fisher.stats.checks["header"] >= promised
    assert (fisher.stats.refused, fisher.stats.unprovable, fisher.stats.l1_conflicts) == (0, 0, 0)
    assert fisher.submissions == [] and fisher.stats.submitted == {}
    assert registry.functions.stake_of(DEVNET_SEQUENCER_ADDRESS).call() == before
    assert not registry.functions.jailed(DEVNET_SEQUENCER_ADDRESS).call()
