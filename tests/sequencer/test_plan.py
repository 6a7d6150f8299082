"""Position assignment and slot planning with no chain: gas never overflows, nothing moves."""

import asyncio

from eth_keys import keys
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.builder import ChainPlan, HeadInfo, PlannedTx, block_statuses, statuses_from_traces
from sequencer.commitments import Domain, PreconfMsg, Signer, digest, recover
from sequencer.engine import EngineError
from sequencer.mempool import next_base_fee
from sequencer.service import preconf_digest

GAS_LIMIT = 100_000


def _head(number=10, base_fee=10**9, gas_used=0) -> HeadInfo:
    return HeadInfo(number, b"\x01" * 32, 1_000, base_fee, gas_used, GAS_LIMIT)


def _tx(n: int, gas: int) -> PlannedTx:
    return PlannedTx(n.to_bytes(32, "big"), b"", "0xsender", gas)


def test_positions_fill_the_open_block_then_overflow_to_the_next():
    plan = ChainPlan(901, _head())
    assert plan.place(_tx(0, 40_000)) == (11, 0)
    assert plan.place(_tx(1, 40_000)) == (11, 1)
    assert plan.place(_tx(2, 40_000)) == (12, 0)  # would exceed 100k in block 11
    assert plan.place(_tx(3, 21_000)) == (12, 1)  # never back into a closed block
    assert plan.blocks[11].closed and not plan.blocks[12].closed


def test_close_next_and_sealed_walk_the_head_forward():
    plan = ChainPlan(901, _head())
    plan.place(_tx(0, 21_000))
    block = plan.close_next()
    assert block.number == 11 and [t.tx_hash for t in block.txs] == [_tx(0, 0).tx_hash]
    assert plan.place(_tx(1, 21_000)) == (12, 0)  # a block being built takes no more
    plan.sealed(HeadInfo(11, b"\x02" * 32, 1_000, 10**9, 21_000, GAS_LIMIT))
    assert plan.head.number == 11 and 11 not in plan.blocks
    empty = plan.close_next()
    assert empty.number == 12 and len(empty.txs) == 1


def test_an_empty_slot_still_makes_a_block():
    plan = ChainPlan(901, _head())
    block = plan.close_next()
    assert block.number == 11 and block.txs == []
    assert plan.place(_tx(0, 21_000)) == (12, 0)


def test_base_fee_bound_is_exact_next_and_an_upper_bound_beyond():
    plan = ChainPlan(901, _head(base_fee=10**9, gas_used=GAS_LIMIT))
    assert plan.base_fee_bound(11) == next_base_fee(10**9, GAS_LIMIT, GAS_LIMIT)
    plan.place(_tx(0, 90_000))
    plan.place(_tx(1, 90_000))  # block 11 closed with 90k planned
    b11 = next_base_fee(10**9, GAS_LIMIT, GAS_LIMIT)
    assert plan.base_fee_bound(12) == next_base_fee(b11, 90_000, GAS_LIMIT)


def test_restore_puts_journaled_positions_back():
    plan = ChainPlan(901, _head())
    plan.restore(11, 0, _tx(0, 50_000))
    plan.restore(12, 0, _tx(1, 50_000))
    plan.restore(12, 1, _tx(2, 10_000))
    assert plan.blocks[11].closed and not plan.blocks[12].closed
    assert plan.place(_tx(3, 10_000)) == (12, 2)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(21_000, GAS_LIMIT), min_size=1, max_size=40), st.data())
def test_planned_gas_never_exceeds_the_limit_and_positions_never_move(gases, data):
    plan = ChainPlan(901, _head())
    promised = {}
    for n, gas in enumerate(gases):
        promised[n] = plan.place(_tx(n, gas))
        if data.draw(st.booleans()):
            block = plan.close_next()
            for index, tx in enumerate(block.txs):
                assert promised[int.from_bytes(tx.tx_hash, "big")] == (block.number, index)
            plan.sealed(HeadInfo(block.number, b"\x02" * 32, 1, 10**9, block.gas, GAS_LIMIT))
        for block in plan.blocks.values():
            assert block.gas <= GAS_LIMIT
            for index, tx in enumerate(block.txs):
                assert promised[int.from_bytes(tx.tx_hash, "big")] == (block.number, index)


def test_fast_preconf_digest_matches_commitments():
    domain = Domain(31337, "0x000000000000000000000000000000000000dEaD")
    msg = PreconfMsg(901, 12, 3, b"\x42" * 32, 777)
    fast = preconf_digest(domain.separator(), 901, 12, 3, b"\x42" * 32, 777)
    assert fast == digest(domain, msg)
    signer = Signer("0x" + "33" * 32)
    assert recover(fast, signer.sign_digest(fast)) == signer.address


def test_the_fast_digest_signature_is_eth_keys_signature():
    """Signer.sign_digest (libsecp256k1) gives the same 65 bytes as eth-keys' reference
    implementation: RFC 6979 nonce, low s, v in {27, 28}."""
    raw = bytes.fromhex("44" * 32)
    signer = Signer(raw)
    reference = keys.PrivateKey(raw)
    for i in range(20):
        d = keccak(bytes([i]))
        sig = reference.sign_msg_hash(d)
        want = sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v + 27])
        assert signer.sign_digest(d) == want
        assert recover(d, want) == signer.address
    assert "44" * 8 not in repr(signer)


def _root(position: int, tx_hash: bytes, error: bool = False) -> dict:
    trace = {
        "traceAddress": [],
        "transactionPosition": position,
        "transactionHash": "0x" + tx_hash.hex(),
        "type": "call",
    }
    if error:
        trace["error"] = "Reverted"
    return trace


def test_statuses_from_traces_take_only_one_root_per_planned_tx_in_order():
    a, b = b"\xaa" * 32, b"\xbb" * 32
    inner = {**_root(0, a, error=True), "traceAddress": [0]}  # a failed inner call only
    assert statuses_from_traces([_root(0, a), inner, _root(1, b, error=True)], [a, b]) == (1, 0)
    assert statuses_from_traces([_root(0, a)], [a, b]) is None  # a root is missing
    assert statuses_from_traces([_root(0, a), _root(0, a), _root(1, b)], [a, b]) is None
    assert statuses_from_traces([_root(0, b), _root(1, a)], [a, b]) is None  # not the plan
    assert statuses_from_traces({"error": "x"}, [a]) is None


def test_statuses_fall_back_to_the_receipts_when_the_engine_has_no_traces():
    a = b"\xaa" * 32

    class NoTraces:
        chain_id = 901

        async def call(self, method, params=None):
            if method == "trace_block":
                raise EngineError("the method trace_block does not exist/is not available")
            assert method == "eth_getBlockReceipts"
            return [{"transactionHash": "0x" + a.hex(), "status": "0x0"}]

    assert asyncio.run(block_statuses(NoTraces(), 7, [a])) == (0,)


def test_a_reset_plan_starts_again_after_the_head_it_is_given():
    """Blocks abandoned for the ones L1 holds (`leader.py`): the plan forgets its blocks, takes
    the new head's gas limit, places from the block after it; the runtime forgets its pool."""
    from sequencer.builder import ChainRuntime

    plan = ChainPlan(901, _head(number=10))
    plan.place(_tx(0, 40_000))
    plan.place(_tx(1, 90_000))
    runtime = ChainRuntime(901, None, plan)
    runtime.mark_durable(11, 1)
    runtime.loaded_for, runtime.loaded = 11, 1
    lower = HeadInfo(8, b"\x02" * 32, 900, 10**9, 0, 60_000)
    runtime.reset(lower)
    assert plan.blocks == {} and plan.head == lower and plan.gas_limit == 60_000
    assert (runtime.loaded_for, runtime.loaded, runtime.durable) == (None, 0, {})
    assert plan.place(_tx(2, 50_000)) == (9, 0)
    assert plan.place(_tx(3, 20_000)) == (10, 0)  # the new head's gas limit
