"""Admission with no chain: decoding, geth-worded rejections (through the judge), pending
accounting, ordering. The judge's verdicts themselves: tests/sequencer/test_judge.py."""

import pytest
import rlp
from eth_account import Account
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.judge import ChainRules, judge_pending, judge_static, require
from sequencer.mempool import (
    MAX_TX_SIZE,
    SECP256K1_N,
    AccountState,
    Candidate,
    SenderLedger,
    TxRejected,
    checksum_address,
    decode_tx,
    floor_data_gas,
    intrinsic_gas,
    next_base_fee,
    order_batch,
    rlp_encode,
)

CHAIN = 901
RULES = ChainRules(chain_id=CHAIN, block_gas_limit=30_000_000)
TRADER = Account.from_key("0x" + "11" * 32)
OTHER = Account.from_key("0x" + "22" * 32)
GWEI = 10**9


def sign(account=TRADER, **overrides) -> bytes:
    tx = {
        "type": 2,
        "chainId": CHAIN,
        "nonce": 0,
        "to": OTHER.address,
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": 2 * GWEI,
        "maxPriorityFeePerGas": GWEI,
    }
    tx.update(overrides)
    if tx.get("type") in (0, 1):
        tx.pop("maxFeePerGas")
        tx.pop("maxPriorityFeePerGas")
        tx.setdefault("gasPrice", GWEI)
        if tx["type"] == 1:
            tx.setdefault("accessList", [])
        else:
            tx.pop("type")
    return bytes(account.sign_transaction(tx).raw_transaction)


def rejected(raw: bytes, rules: ChainRules = RULES) -> TxRejected:
    with pytest.raises(TxRejected) as info:
        require(judge_static(decode_tx(raw), rules))
    return info.value


@pytest.mark.parametrize("tx_type", [0, 1, 2])
def test_decodes_each_supported_type_like_eth_account(tx_type):
    access = [{"address": OTHER.address, "storageKeys": ["0x" + "00" * 31 + "01"]}]
    extra = {"accessList": access, "gas": 30_000} if tx_type else {"gas": 30_000}
    raw = sign(type=tx_type, data=b"\x00\x01\x02", **extra)
    tx = decode_tx(raw)
    assert tx.tx_type == tx_type
    assert tx.sender == TRADER.address == Account.recover_transaction(raw)
    assert tx.chain_id == CHAIN and tx.nonce == 0 and tx.value == 1 and tx.data == b"\x00\x01\x02"
    assert tx.to == bytes.fromhex(OTHER.address[2:])
    require(judge_static(tx, RULES))
    if tx_type:
        assert (tx.access_addresses, tx.access_keys) == (1, 1)
        assert intrinsic_gas(tx) == 21_000 + 4 + 2 * 16 + 2_400 + 1_900


@pytest.mark.parametrize("tx_type", [3, 4, 0x7F])
def test_blob_and_other_types_are_not_supported(tx_type):
    raw = bytes([tx_type]) + rlp.encode([b"\x01"] * 14)
    with pytest.raises(TxRejected, match="^transaction type not supported$"):
        decode_tx(raw)


@pytest.mark.parametrize(
    "raw", [b"", b"\x02", b"\xf8\x01", b"\x02\xc0", b"\xc3\x01\x02\x03", b"\x90abc"]
)
def test_invalid_rlp_is_refused(raw):
    with pytest.raises(TxRejected) as info:
        decode_tx(raw)
    assert info.value.reason == "invalid_rlp"


def test_wrong_chain_id():
    err = rejected(sign(chainId=902))
    assert err.message == "invalid chain id for signer: have 902 want 901"


def test_high_s_signature_is_an_invalid_sender():
    raw = sign()
    fields = rlp.decode(raw[1:])
    s = int.from_bytes(fields[-1], "big")
    parity = int.from_bytes(fields[-3], "big")
    fields[-1] = (SECP256K1_N - s).to_bytes(32, "big").lstrip(b"\x00")
    fields[-3] = b"" if parity else b"\x01"
    with pytest.raises(TxRejected, match="^invalid sender"):
        decode_tx(b"\x02" + rlp.encode(fields))


def test_tampered_signature_recovers_someone_else():
    raw = sign()
    fields = rlp.decode(raw[1:])
    fields[4] = (21_001).to_bytes(2, "big")  # change gas after signing
    tx = decode_tx(b"\x02" + rlp.encode(fields))
    assert tx.sender != TRADER.address


def test_unprotected_legacy_transactions_are_refused():
    fields = rlp.decode(sign(type=0))
    fields[6] = b"\x1b"  # v = 27: no chain id
    with pytest.raises(TxRejected, match="replay-protected"):
        decode_tx(rlp.encode(fields))


def test_oversized_data():
    raw = sign(data=b"\x01" * (MAX_TX_SIZE + 1), gas=29_000_000)
    with pytest.raises(TxRejected, match=r"^oversized data: transaction size \d+, limit 131072$"):
        decode_tx(raw)


def test_intrinsic_gas_too_low():
    err = rejected(sign(gas=20_999))
    assert err.message == "intrinsic gas too low: gas 20999, minimum needed 21000"
    create = sign(to=None, data=b"\x60\x00" * 10, gas=53_000)
    err = rejected(create)
    assert err.reason == "intrinsic_gas"
    assert intrinsic_gas(decode_tx(create)) == 53_000 + 10 * (16 + 4) + 2 * 1


def test_eip7623_floor_gas():
    data = b"\x01" * 1000
    tx = decode_tx(sign(data=data, gas=21_000 + 16 * 1000))
    assert intrinsic_gas(tx) == 37_000 and floor_data_gas(tx) == 21_000 + 40_000
    err = rejected(tx.raw)
    assert err.message.startswith("insufficient gas for floor data gas cost")


def test_gas_limit_within_block_gas_limit():
    err = rejected(sign(gas=30_000_001))
    assert err.message == "exceeds block gas limit"


def test_tip_above_fee_cap():
    err = rejected(sign(maxPriorityFeePerGas=3 * GWEI))
    assert err.message.startswith("max priority fee per gas higher than max fee per gas")


def _ledger(nonce=5, balance=10**18) -> SenderLedger:
    ledger = SenderLedger()
    ledger.set_account(TRADER.address, AccountState(nonce=nonce, balance=balance))
    return ledger


def test_nonce_against_engine_plus_pending():
    ledger = _ledger(nonce=5)
    with pytest.raises(TxRejected, match=r"^nonce too low: address 0x\w+, tx: 4 state: 5$"):
        require(judge_pending(decode_tx(sign(nonce=4)), ledger, 0))
    with pytest.raises(TxRejected, match=r"^nonce too high: .* tx: 6 state: 5$"):
        require(judge_pending(decode_tx(sign(nonce=6)), ledger, 0))
    first = decode_tx(sign(nonce=5))
    require(judge_pending(first, ledger, 0))
    ledger.add(first)
    assert ledger.pending_nonce(TRADER.address) == 6
    with pytest.raises(TxRejected, match="nonce too low"):  # the same nonce again
        require(judge_pending(decode_tx(sign(nonce=5, value=2)), ledger, 0))
    require(judge_pending(decode_tx(sign(nonce=6)), ledger, 0))


def test_balance_covers_the_sum_of_pending_max_costs():
    one = 21_000 * 2 * GWEI + 1
    ledger = _ledger(nonce=0, balance=2 * one)
    for nonce in (0, 1):
        tx = decode_tx(sign(nonce=nonce))
        require(judge_pending(tx, ledger, 0))
        ledger.add(tx)
    third = decode_tx(sign(nonce=2))
    with pytest.raises(TxRejected) as info:
        require(judge_pending(third, ledger, 0))
    assert info.value.message == (
        f"insufficient funds for gas * price + value: balance {2 * one}, tx cost {3 * one}, "
        f"overshot {one}"
    )


def test_fee_cap_below_the_block_base_fee():
    with pytest.raises(TxRejected, match="^max fee per gas less than block base fee"):
        require(judge_pending(decode_tx(sign(nonce=0)), _ledger(nonce=0), 2 * GWEI + 1))


def test_sealing_moves_pending_into_the_account():
    ledger = _ledger(nonce=0, balance=10**18)
    txs = [decode_tx(sign(nonce=n)) for n in range(3)]
    for tx in txs:
        require(judge_pending(tx, ledger, 0))
        ledger.add(tx)
    ledger.sealed([(TRADER.address, txs[0].tx_hash), (TRADER.address, txs[1].tx_hash)])
    state = ledger.accounts[TRADER.address]
    assert state.nonce == 2 and not state.exact
    assert state.balance == 10**18 - 2 * txs[0].max_cost
    assert ledger.pending_nonce(TRADER.address) == 3 and ledger.pending_count() == 1
    with pytest.raises(AssertionError):
        ledger.sealed([(TRADER.address, txs[0].tx_hash)])


def test_contract_senders_are_refused():
    ledger = SenderLedger()
    ledger.set_account(TRADER.address, AccountState(nonce=0, balance=10**18, is_contract=True))
    with pytest.raises(TxRejected, match="^sender not an eoa"):
        require(judge_pending(decode_tx(sign(nonce=0)), ledger, 0))


def test_next_base_fee_follows_eip1559():
    assert next_base_fee(10**9, 0, 30_000_000) == 875_000_000
    assert next_base_fee(10**9, 15_000_000, 30_000_000) == 10**9
    assert next_base_fee(10**9, 30_000_000, 30_000_000) == 1_125_000_000
    assert next_base_fee(0, 30_000_000, 30_000_000) == 1


KEYS = [Account.from_key(bytes([i + 1]) * 32) for i in range(3)]
SIGNED = {
    (k, n, tip): decode_tx(sign(KEYS[k], nonce=n, maxPriorityFeePerGas=tip, maxFeePerGas=10 * GWEI))
    for k in range(3)
    for n in range(3)
    for tip in (1, 5)
}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), st.sampled_from([1, 5])), min_size=1, max_size=9),
    st.randoms(),
    st.sampled_from(["fcfs", "priority"]),
)
def test_ordering_keeps_every_tx_and_each_senders_nonce_order(spec, rnd, policy):
    counters = [0, 0, 0]
    batch = []
    for sender, tip in spec:
        if counters[sender] < 3:
            batch.append(SIGNED[(sender, counters[sender], tip)])
            counters[sender] += 1
    rnd.shuffle(batch)
    cands = [Candidate(i, tx) for i, tx in enumerate(batch)]
    out = order_batch(cands, policy)
    assert sorted(c.arrival for c in out) == list(range(len(cands)))
    for key in KEYS:
        nonces = [c.tx.nonce for c in out if c.tx.sender == key.address]
        assert nonces == sorted(nonces)
    if policy == "fcfs":
        senders_in = [c.tx.sender for c in cands]
        assert [c.tx.sender for c in out] == senders_in


def test_priority_policy_puts_the_higher_tip_first():
    low = decode_tx(sign(KEYS[0], nonce=0, maxPriorityFeePerGas=1, maxFeePerGas=10 * GWEI))
    high = decode_tx(sign(KEYS[1], nonce=0, maxPriorityFeePerGas=5, maxFeePerGas=10 * GWEI))
    cands = [Candidate(0, low), Candidate(1, high)]
    assert [c.tx for c in order_batch(cands, "fcfs")] == [low, high]
    assert [c.tx for c in order_batch(cands, "priority")] == [high, low]


NESTED = st.recursive(
    st.binary(max_size=80), lambda children: st.lists(children, max_size=5), max_leaves=20
)


@settings(max_examples=80, deadline=None)
@given(NESTED)
def test_rlp_encoder_matches_the_rlp_package(item):
    assert rlp_encode(item) == rlp.encode(item)


@settings(max_examples=30, deadline=None)
@given(st.binary(min_size=20, max_size=20))
def test_checksum_address_matches_eth_utils(raw):
    assert checksum_address(raw) == to_checksum_address(raw)
