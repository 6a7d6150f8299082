"""Forced inclusion without a chain: which queue items open a block, which are skipped, what the
plan and the journal keep.

On the chains, tests/e2e/test_sequencer_forced.py runs the queue from L1 through the service.
"""

import asyncio
from dataclasses import replace

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak

from sequencer.builder import ChainPlan, HeadInfo, PlannedTx
from sequencer.forced import (
    FORCED_TOPIC,
    ForcedItem,
    deadline_at_risk,
    decode_forced_log,
    forced_demand,
    select_forced,
)
from sequencer.journal import Journal, PreconfRecord, SealedBlock, TxKind
from sequencer.judge import ChainRules
from sequencer.mempool import AccountState, SenderLedger

KEY = "0x" + "42" * 32
OTHER_KEY = "0x" + "43" * 32
SENDER = Account.from_key(KEY).address
GWEI = 10**9
RULES = ChainRules(chain_id=901, block_gas_limit=30_000_000)


def _raw(nonce: int, chain_id: int = 901, key: str = KEY, gas: int = 21_000) -> bytes:
    tx = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "to": "0x" + "77" * 20,
        "value": 1,
        "gas": gas,
        "maxFeePerGas": 50 * GWEI,
        "maxPriorityFeePerGas": GWEI,
    }
    return bytes(Account.sign_transaction(tx, key).raw_transaction)


def _items(*raws: bytes, first: int = 3) -> list[ForcedItem]:
    return [
        ForcedItem(first + i, 901, "0x" + "11" * 20, keccak(raw), 100, raw)
        for i, raw in enumerate(raws)
    ]


def _ledger(nonce: int = 0, balance: int = 10**18) -> SenderLedger:
    ledger = SenderLedger()
    ledger.set_account(SENDER, AccountState(nonce, balance))
    return ledger


def test_a_forced_log_decodes_to_its_queue_item():
    raw = _raw(0)
    log = {
        "topics": [
            "0x" + FORCED_TOPIC.hex(),
            "0x" + (5).to_bytes(32, "big").hex(),
            "0x" + (901).to_bytes(32, "big").hex(),
            "0x" + bytes.fromhex("00" * 12 + "ab" * 20).hex(),
        ],
        "data": "0x"
        + abi_encode(["bytes32", "uint256", "uint256", "bytes"], [keccak(raw), 77, 10, raw]).hex(),
    }
    item = decode_forced_log(log)
    assert (item.index, item.chain_id, item.deadline, item.raw) == (5, 901, 77, raw)
    assert item.l1_sender == "0x" + "ab" * 20 and item.tx_hash == keccak(raw)


def test_refused_items_are_skipped_in_queue_order_and_good_ones_placed():
    ledger = _ledger(nonce=2, balance=10**18)
    items = _items(
        _raw(5),  # nonce gap
        _raw(2),  # placed
        _raw(2, chain_id=902),  # another rollup's transaction
        b"\x02\x01",  # not a transaction
        _raw(3),  # placed, after the first one
        _raw(3),  # now a nonce too low (and already known)
    )
    out = select_forced(items, RULES, ledger, 10**6, GWEI)
    assert out.queue_indexes == [3, 4, 5, 6, 7, 8]
    assert out.skipped == [0, 2, 3, 5]
    assert [tx.nonce for tx in out.txs] == [2, 3]
    assert ledger.pending_nonce(SENDER) == 4  # the placed ones count as pending
    assert "nonce too high" in out.reasons[0] and "invalid chain id" in out.reasons[1]


def test_funds_are_checked_and_the_queue_waits_for_gas_cap_and_unread_accounts():
    poor = select_forced(_items(_raw(0)), RULES, _ledger(balance=1), 10**6, GWEI)
    assert poor.skipped == [0] and "insufficient funds" in poor.reasons[0]
    # the second item does not fit the gas room: it and everything behind it wait
    out = select_forced(_items(_raw(0), _raw(1), _raw(2)), RULES, _ledger(), 30_000, GWEI)
    assert (out.queue_indexes, out.skipped) == ([3], [])
    # at most `cap` items per block
    capped = select_forced(_items(*(_raw(n) for n in range(4))), RULES, _ledger(), 10**6, GWEI, 2)
    assert capped.queue_indexes == [3, 4]
    # a sender whose account is not read yet holds the queue (order is kept)
    unread = select_forced(_items(_raw(0, key=OTHER_KEY), _raw(0)), RULES, _ledger(), 10**6, GWEI)
    assert unread.queue_indexes == []
    # the relayer's nonce is the builder's: a forced transaction from it is skipped
    relayer = select_forced(
        _items(_raw(0)), replace(RULES, reserved=frozenset({SENDER})), _ledger(), 10**6, GWEI
    )
    assert relayer.skipped == [0] and "relayer" in relayer.reasons[0]


def test_what_the_rollup_can_never_take_is_skipped_and_never_holds_the_queue():
    """An item above the block gas limit used to wait for a block with room for it, forever:
    the queue stalled and the honest leader became liable for censorship."""
    items = _items(
        _raw(0, gas=30_000_001),  # above the block gas limit
        _raw(0, gas=20_000),  # below the intrinsic gas
        _raw(0),  # placed
    )
    out = select_forced(items, RULES, _ledger(), 30_000_000, GWEI)
    assert (out.queue_indexes, out.skipped) == ([3, 4, 5], [0, 1])
    assert out.reasons == [
        "exceeds block gas limit",
        "intrinsic gas too low: gas 20000, minimum needed 21000",
    ]
    assert [tx.nonce for tx in out.txs] == [0]
    # a sender whose bundle slot is being mined holds the queue until the slot settles
    held = select_forced(_items(_raw(0)), RULES, _ledger(), 10**6, GWEI, held={SENDER})
    assert held.queue_indexes == []


def test_a_transaction_with_a_block_sized_gas_limit_cannot_keep_a_forced_item_out():
    """A block opened by a transaction leaves the forced queue only the gas that transaction
    does not reserve: a sender of block-sized gas limits used to starve the queue for good."""
    head = HeadInfo(10, b"\x01" * 32, 1_000, GWEI, 0, 100_000)
    plan = ChainPlan(901, head)
    item = _items(_raw(0, gas=90_000))
    assert forced_demand(item, replace(RULES, block_gas_limit=100_000)) == 90_000
    assert forced_demand(_items(b"\x02\x01", _raw(0, gas=30_000)), RULES) == 30_000
    assert forced_demand(_items(b"\x02\x01"), RULES) == 0
    queue = [PlannedTx(b"\xf0" * 32, b"", "0xforced", 90_000)]
    rooms = []

    def opener(number, room):
        rooms.append((number, room))
        if queue and queue[0].gas <= room:
            return [queue.pop(0)]
        return []

    plan.opener = opener
    plan.forced_demand = lambda: queue[0].gas if queue else 0
    big = PlannedTx(b"\xb1" * 32, b"", "0xgriefer", 50_000)
    assert plan.target(big.gas) == 12  # block 11 opens for the forced item alone
    assert plan.place(big) == (12, 0)
    assert [tx.sender for tx in plan.blocks[11].txs] == ["0xforced"] and plan.blocks[11].closed
    assert rooms == [(11, 100_000), (12, 50_000)]
    # with the queue empty, transactions open blocks as before
    assert plan.place(PlannedTx(b"\xb2" * 32, b"", "0xgriefer", 60_000)) == (13, 0)


def test_the_opener_puts_forced_transactions_first_and_promises_after_them():
    head = HeadInfo(10, b"\x01" * 32, 1_000, GWEI, 0, 100_000)
    plan = ChainPlan(901, head)
    queue = [PlannedTx(b"\xf0" * 32, b"", "0xforced", 30_000)]
    rooms = []

    def opener(number: int, room: int) -> list[PlannedTx]:
        rooms.append((number, room))
        taken = [tx for tx in queue if tx.gas <= room]
        del queue[: len(taken)]
        return taken

    plan.opener = opener
    promised = PlannedTx(b"\x01" * 32, b"", "0xuser", 60_000)
    assert plan.place(promised) == (11, 1)  # the forced transaction holds index 0
    assert rooms == [(11, 40_000)]  # the opening transaction's gas is kept free
    assert plan.blocks[11].gas == 90_000
    assert plan.place(PlannedTx(b"\x02" * 32, b"", "0xuser", 60_000)) == (12, 0)
    # restoring a journaled block does not take from the queue again
    queue.append(PlannedTx(b"\xf1" * 32, b"", "0xforced", 21_000))
    restored = ChainPlan(901, head)
    restored.opener = opener
    restored.restore(11, 0, PlannedTx(b"\xf0" * 32, b"", "0xforced", 30_000))
    assert len(restored.blocks[11].txs) == 1 and len(queue) == 1


def test_the_journal_keeps_each_blocks_forced_indexes_and_restores_their_transactions(tmp_path):
    path = tmp_path / "j.sqlite"
    forced = PreconfRecord(
        901, 11, 0, b"\xf0" * 32, b"\x02", SENDER, 0, 1, 0, b"", 1, kind=TxKind.FORCED
    )

    async def write():
        journal = Journal(path)
        journal.start()
        journal.record_forced_nowait(901, 11, [forced], [3, 4, 5], [1, 2])
        await journal.barrier()
        journal.close()

    asyncio.run(write())
    journal = Journal(path)
    assert journal.forced_for_block(901, 11) == ((3, 4, 5), (1, 2))
    assert journal.forced_for_block(901, 12) == ((), ())
    assert journal.forced_next_index(901) == 6 and journal.forced_next_index(902) == 0
    (pending,) = journal.load().pending
    assert pending.kind == TxKind.FORCED and not pending.promised and pending.index == 0

    async def seal():
        journal.start()
        await journal.seal(
            SealedBlock(901, 11, b"\x01" * 32, b"\x00" * 32, 1, (forced.tx_hash,), (1,), b"")
        )
        journal.close()

    asyncio.run(seal())
    again = Journal(path)
    assert again.load().pending == []
    assert again.block(901, 11).statuses == (1,)
    again.close()


def test_items_within_the_margin_of_their_deadline_are_at_risk():
    items = [
        ForcedItem(i, 901, "0x" + "11" * 20, bytes([i]) * 32, deadline, b"")
        for i, deadline in enumerate((100, 108, 109, 95))
    ]
    risky = deadline_at_risk(items, l1_head=100, margin=8)
    assert [item.index for item in risky] == [0, 1, 3]  # 109 is 9 blocks away; 95 has passed
    assert deadline_at_risk(items, l1_head=90, margin=0) == []
    assert deadline_at_risk([], l1_head=100, margin=8) == []


def test_items_a_follower_replayed_from_l1_are_never_placed_again():
    """`skip_before`: the leader hands the inbox the queue index its replayed blocks reached;
    the items below it leave the queue and the next index never goes back."""
    from types import SimpleNamespace

    from sequencer.forced import ForcedInbox

    inbox = ForcedInbox(SimpleNamespace(chains={901: None, 902: None}), "0xinbox", 1.0)
    inbox.queued[901] = [
        ForcedItem(i, 901, "0x" + "11" * 20, bytes([i]) * 32, 100, b"") for i in (2, 4, 5)
    ]
    inbox.next_index[901] = 2
    inbox.skip_before(901, 5)
    assert [item.index for item in inbox.queued[901]] == [5]
    assert inbox.next_index[901] == 5
    inbox.skip_before(901, 3)  # behind what is already known: nothing moves back
    assert inbox.next_index[901] == 5 and [item.index for item in inbox.queued[901]] == [5]
    inbox.skip_before(902, 1)
    assert inbox.next_index[902] == 1 and inbox.queued[902] == []
