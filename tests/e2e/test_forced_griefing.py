"""Forced inclusion cannot be turned against the leader, end to end on real chains.

One stack for the module: L1 contracts (`deploy_l1`), the sequencer service, the real batcher.
Every case below is queued on L1 with `SharedInbox.force_include` at once; the service places
or skips each item at the start of the next block it opens; the batcher commits the blocks
(skipped items as status-2 leaves) and advances `forced_through`; derivation from L1 alone on
fresh engines agrees; and once every deadline has passed, the Slasher's `slash_censorship` dry
run (eth_call) reverts for every item because it was consumed. An item the rollup can never take
is skipped, never left to stall the queue (which made the honest leader slashable).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import ape
import pytest
from conftest import ServiceThread, make_config
from deploy import L1Params, deploy_l1
from eth_account import Account
from eth_utils import keccak
from test_sequencer_bundles import _wait
from test_sequencer_forced import l1_entries, manifest_path  # noqa: F401  (fixtures)
from test_sequencer_preconfs import signed_transfer
from test_sequencer_relays import _after_a_slot
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound

from sequencer import batch_codec as bc
from sequencer.batcher import Batcher, InboxView
from sequencer.commitments import Signer
from sequencer.config import DEVNET_SEQUENCER_KEY
from sequencer.derive import L1BatchSource, derive_batch
from sequencer.devnet import ROLLUP_FLAGS, ChainSpec, Devnet, free_port
from sequencer.engine import EngineClient, SyncEngineClient, engine_session
from sequencer.manifest import ChainEntry, Manifest
from sequencer.txmgr import TxManager

GWEI = 10**9
CHAIN = 901
OTHER_CHAIN = 902
UNKNOWN_CHAIN = 999
VALID_ITEMS = 40
# Longer than the devnet's 60 so that queuing every item (one L1 block each) and posting fit
# before the first deadline; force delay + term must fit the evidence window (600).
PARAMS = L1Params(force_delay_blocks=300)


def _key(name: str) -> str:
    return "0x" + keccak(text=f"forced griefing: {name}").hex()


def _signed(key: str, **fields) -> bytes:
    tx = {
        "type": 2,
        "chainId": CHAIN,
        "nonce": 0,
        "to": "0x" + "77" * 20,
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": 50 * GWEI,
        "maxPriorityFeePerGas": GWEI,
    }
    tx.update(fields)
    return bytes(Account.sign_transaction(tx, key).raw_transaction)


@dataclass
class Case:
    """Raw transactions queued for `chain`, and what must become of each (`placed` or
    `skipped`); `refused`: the inbox must revert with that reason (nothing is queued)."""

    raws: list[bytes]
    expect: list[str] = field(default_factory=list)
    chain: int = CHAIN
    refused: str = ""
    funded: bool = True


def _cases(block_gas_limit: int) -> dict[str, Case]:
    k = {name: _key(name) for name in ("gas", "intrinsic", "floor", "other", "poor", "tip")}
    k |= {name: _key(name) for name in ("blob", "setcode", "twice", "valid_a", "valid_b")}
    auth = Account.from_key(k["setcode"]).sign_authorization(
        {"chainId": CHAIN, "address": "0x" + "66" * 20, "nonce": 1}
    )
    twice = _signed(k["twice"])
    valid = [
        _signed(k["valid_a" if i % 2 == 0 else "valid_b"], nonce=i // 2) for i in range(VALID_ITEMS)
    ]
    return {
        "gas above the block gas limit": Case(
            [_signed(k["gas"], gas=block_gas_limit + 1, maxFeePerGas=GWEI)], ["skipped"]
        ),
        "below the intrinsic gas": Case([_signed(k["intrinsic"], gas=20_999)], ["skipped"]),
        # 200 non-zero bytes: intrinsic 24,200, EIP-7623 floor 29,000
        "below the calldata floor": Case(
            [_signed(k["floor"], gas=25_000, data=b"\x01" * 200)], ["skipped"]
        ),
        "not a transaction": Case([random.Random(12).randbytes(120)], ["skipped"]),
        "the other rollup's chain id": Case(
            [_signed(k["other"], chainId=OTHER_CHAIN)], ["skipped"]
        ),
        "an unknown chain id": Case(
            [_signed(k["other"], chainId=UNKNOWN_CHAIN)],
            chain=UNKNOWN_CHAIN,
            refused="inbox: unknown rollup",
        ),
        "a sender with no funds": Case([_signed(k["poor"])], ["skipped"], funded=False),
        "tip above fee cap": Case([_signed(k["tip"], maxPriorityFeePerGas=51 * GWEI)], ["skipped"]),
        "blob type 3": Case(
            [
                _signed(
                    k["blob"],
                    type=3,
                    maxFeePerBlobGas=GWEI,
                    blobVersionedHashes=["0x01" + "00" * 31],
                )
            ],
            ["skipped"],
        ),
        "set-code type 4": Case(
            [_signed(k["setcode"], type=4, gas=60_000, authorizationList=[auth])], ["skipped"]
        ),
        "the same raw transaction twice": Case([twice, twice], ["placed", "skipped"]),
        "40 valid items at once": Case(valid, ["placed"] * VALID_ITEMS),
    }


def _senders(case: Case) -> set[str]:
    out = set()
    for raw in case.raws:
        try:
            out.add(Account.recover_transaction(raw))
        except Exception:  # noqa: BLE001 - not a transaction (or not one eth_account decodes)
            continue
    return out


@dataclass
class Outcome:
    cases: dict[str, Case]
    indexes: dict[str, list[int]]  # queue indexes of each case's items
    refusals: dict[str, str]  # the inbox's revert reason, for refused cases
    placements: list[dict]  # seq_getForcedPlacements from the first item
    headers: dict[int, dict]  # seq_getBlockHeader of each block that processed items
    receipts: dict[bytes, dict]  # rollup receipts of the placed forced transactions
    forced_through: int
    forced_count: int
    dry_runs: dict[int, str]  # queue index -> slash_censorship dry run's revert reason
    derived_batches: int


def _revert_reason(call) -> str:
    try:
        call()
    except ContractLogicError as exc:
        return str(exc.message or exc)
    return "no revert"


@pytest.fixture(scope="module")
def outcome(chains, project, deployer, sequencer_account, treasury, trader, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("forced-griefing")
    rollup_a, rollup_b = chains["rollup_a"], chains["rollup_b"]
    snapshots = {r.name: r.snapshot() for r in (rollup_a, rollup_b)}
    service: ServiceThread | None = None
    try:
        l1 = Web3(Web3.HTTPProvider(chains["l1"].url))
        entries = deploy_l1(
            {"deployer": deployer, "sequencer": sequencer_account, "treasury": treasury}, PARAMS
        )
        l1.provider.make_request("anvil_mine", [hex(80)])  # a term the staked sequencer leads
        manifest = tmp / "manifest.json"
        Manifest(
            name="test",
            chains={
                name: ChainEntry(name, h.role, h.chain_id, h.url, entries if name == "l1" else {})
                for name, h in chains.items()
            },
        ).save(manifest)

        # Fund each case's senders on rollup A with real transactions (derivation replays them).
        gas_limit = int(rollup_a.w3.eth.get_block("latest")["gasLimit"])
        cases = _cases(gas_limit)
        funder = Account.from_key(deployer.private_key)
        nonce = rollup_a.w3.eth.get_transaction_count(funder.address)
        rollup_a.set_automine(True)
        for case in cases.values():
            if case.funded:
                for sender in sorted(_senders(case)):
                    raw = _signed(deployer.private_key, nonce=nonce, to=sender, value=10**18)
                    rollup_a.w3.eth.send_raw_transaction(raw)
                    nonce += 1
        _wait(lambda: rollup_a.w3.eth.get_transaction_count(funder.address) == nonce)

        for rollup in (rollup_a, rollup_b):
            rollup.set_automine(False)
        service = ServiceThread(
            make_config(tmp, manifest, slot_ms=250, l1_poll_s=0.1, key_source="devnet")
        ).start()
        seq = service.seq
        assert seq is not None

        inbox = project.SharedInbox.at(entries["SharedInbox"].address)
        fee = inbox.FORCE_FEE()
        first = inbox.forced_count()
        indexes: dict[str, list[int]] = {}
        refusals: dict[str, str] = {}
        for name, case in cases.items():
            indexes[name] = []
            for raw in case.raws:
                if case.refused:
                    try:
                        inbox.force_include(case.chain, raw, value=fee, sender=trader)
                    except ape.exceptions.ContractLogicError as exc:
                        refusals[name] = exc.message
                    else:
                        refusals[name] = "no revert"
                    continue
                index = inbox.forced_count()
                inbox.force_include(case.chain, raw, value=fee, sender=trader)
                indexes[name].append(index)
        count = inbox.forced_count()

        # every item processed (placed or skipped) and sealed
        _wait(
            lambda: service.call_in_loop(lambda: seq.forced.next_index[CHAIN]) == count,
            timeout=60,
        )
        _after_a_slot(service)
        _after_a_slot(service)

        view = InboxView(
            l1,
            (entries["SharedInbox"].address, entries["SharedInbox"].abi),
            (entries["SequencerRegistry"].address, entries["SequencerRegistry"].abi),
        )
        batcher = Batcher(
            view,
            TxManager(l1, Signer(DEVNET_SEQUENCER_KEY).local_account(), confirmations=1),
            {r.chain_id: SyncEngineClient(r.url) for r in (rollup_a, rollup_b)},
            mode="calldata",
            sequencer=SyncEngineClient(service.url + "/"),
        )
        for _ in range(20):
            if inbox.forced_through() >= count:
                break
            if view.blocks_left_in_term() < 4:
                l1.provider.make_request("anvil_mine", [hex(view.blocks_left_in_term() + 1)])
            batch = batcher.next_batch()
            if batch is None:
                _after_a_slot(service)
                continue
            batcher.post(batch)

        placements = service.result("/", "seq_getForcedPlacements", [first])
        headers = {
            p["blockNumber"]: service.result("/", "seq_getBlockHeader", [CHAIN, p["blockNumber"]])
            for p in placements
        }
        receipts = {}
        for header in headers.values():
            for tx_hash in header["transactions"]:
                receipts[bytes.fromhex(tx_hash[2:])] = dict(
                    rollup_a.w3.eth.get_transaction_receipt(tx_hash)
                )
        service.stop()
        service = None

        # after every deadline: no item can be used to slash the leader
        deadline = max(inbox.forced_status(i)[1] for i in range(first, count))
        l1.provider.make_request("anvil_mine", [hex(deadline - l1.eth.block_number + 1)])
        slasher = l1.eth.contract(address=entries["Slasher"].address, abi=entries["Slasher"].abi)
        dry_runs = {
            i: _revert_reason(
                lambda i=i: slasher.functions.slash_censorship(i).call({"from": trader.address})
            )
            for i in range(first, count)
        }

        # derivation from L1 alone, on fresh engines, agrees (skipped leaves included)
        source = L1BatchSource(l1, entries["SharedInbox"].address, entries["SharedInbox"].abi)
        posted = source.batches()
        queue = source.forced_queue()

        async def derive() -> None:
            specs = [ChainSpec(f"g{c}", "rollup", c, free_port(), ROLLUP_FLAGS) for c in (901, 902)]
            with Devnet(specs, log_dir=tmp / "derive"):
                async with engine_session() as session:
                    engines = {s.chain_id: EngineClient(s.url, s.chain_id, session) for s in specs}
                    cursor = {c: list(queue.get(c, [])) for c in (901, 902)}
                    for batch in posted:
                        data = bc.decode(batch.payload)
                        await derive_batch(batch.header, data, engines, cursor)
                        for rng in data.ranges:
                            used = sum(b.forced_count for b in rng.blocks)
                            cursor[rng.chain_id] = cursor[rng.chain_id][used:]

        asyncio.run(derive())
        yield Outcome(
            cases=cases,
            indexes=indexes,
            refusals=refusals,
            placements=placements,
            headers=headers,
            receipts=receipts,
            forced_through=inbox.forced_through(),
            forced_count=count,
            dry_runs=dry_runs,
            derived_batches=len(posted),
        )
    finally:
        if service is not None:
            service.stop()
        for rollup in (rollup_a, rollup_b):
            rollup.set_automine(True)
            rollup.rpc("anvil_dropAllTransactions")
            rollup.revert(snapshots[rollup.name])


def _fate(outcome: Outcome, index: int) -> tuple[str, int, int | None]:
    """(placed|skipped, block number, position in the block or None) of queue item `index`."""
    for placement in outcome.placements:
        if index in placement["indexes"]:
            header = outcome.headers[placement["blockNumber"]]
            offset = placement["indexes"].index(index)
            if offset in header["forcedSkipped"]:
                return "skipped", placement["blockNumber"], None
            position = offset - sum(1 for s in header["forcedSkipped"] if s < offset)
            return "placed", placement["blockNumber"], position
    raise AssertionError(f"forced item {index} was never processed")


def test_the_queue_is_drained_in_order_and_derivation_agrees(outcome):
    processed = [i for p in outcome.placements for i in p["indexes"]]
    assert processed == list(range(processed[0], outcome.forced_count))  # queue order, once
    assert outcome.forced_through == outcome.forced_count
    assert outcome.derived_batches >= 1


@pytest.mark.parametrize("name", list(_cases(30_000_000)))
def test_a_forced_item_is_placed_or_skipped_and_never_stalls_the_queue(outcome, name):
    case = outcome.cases[name]
    if case.refused:
        assert outcome.refusals[name] == case.refused
        assert outcome.indexes[name] == []
        return
    fates = [_fate(outcome, i) for i in outcome.indexes[name]]
    assert [f[0] for f in fates] == case.expect
    placed = [(f[1], f[2]) for f in fates if f[0] == "placed"]
    assert placed == sorted(placed)  # in queue order
    for raw, fate in zip(case.raws, fates, strict=True):
        if fate[0] == "placed":
            receipt = outcome.receipts[keccak(raw)]
            assert (receipt["blockNumber"], receipt["transactionIndex"], receipt["status"]) == (
                fate[1],
                fate[2],
                1,
            )
    for index in outcome.indexes[name]:
        assert index < outcome.forced_through  # consumed on L1
        assert "slasher: forced item was consumed" in outcome.dry_runs[index]


def test_a_sender_of_block_sized_gas_limits_cannot_hold_a_forced_item_back(
    start_service,
    project,
    l1_entries,  # noqa: F811 (the fixture imported above)
    rollup_a,
    trader,
    lp,
    keeper,
):
    """A block opened by a transaction used to leave the forced queue only the gas that
    transaction did not reserve: one with the block's whole gas limit opening every block kept
    a forced item out (for as long as the sender kept it up: past the deadline, the leader is
    slashed). Now the block before the sender's next one opens for the forced item alone."""
    limit = int(rollup_a.w3.eth.get_block("latest")["gasLimit"])
    inbox = project.SharedInbox.at(l1_entries["SharedInbox"].address)
    service = start_service(slot_ms=2_000, l1_poll_s=0.1)
    nonce = rollup_a.w3.eth.get_transaction_count(lp.address)

    def block_sized(n: int) -> dict:
        raw = signed_transfer(lp.private_key, CHAIN, nonce + n, keeper.address, gas=limit)
        return service.result(f"/{CHAIN}", "seq_sendRawTransaction", [raw])

    _after_a_slot(service)
    first = block_sized(0)  # opens the next block, reserving all of it
    forced_nonce = rollup_a.w3.eth.get_transaction_count(trader.address)
    forced = signed_transfer(trader.private_key, CHAIN, forced_nonce, keeper.address)
    index = inbox.forced_count()
    inbox.force_include(CHAIN, forced, value=inbox.FORCE_FEE(), sender=trader)
    seq = service.seq
    _wait(lambda: service.call_in_loop(lambda: len(seq.forced.queued[CHAIN])) == 1, timeout=5)
    second = block_sized(1)  # the sender's next block-sized transaction
    placed = _wait(lambda: service.result("/", "seq_getForcedPlacements", [index]), timeout=20)
    assert placed[0]["indexes"] == [index]
    assert first["blockNumber"] < placed[0]["blockNumber"] < second["blockNumber"]
    receipt = _wait(lambda: _receipt(rollup_a, forced), timeout=20)
    assert (receipt["blockNumber"], receipt["transactionIndex"], receipt["status"]) == (
        placed[0]["blockNumber"],
        0,
        1,
    )


def _receipt(rollup, raw: str):
    try:
        return rollup.w3.eth.get_transaction_receipt(Web3.keccak(hexstr=raw))
    except TransactionNotFound:
        return None
