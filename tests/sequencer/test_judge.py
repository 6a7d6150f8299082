"""The one judge with no chain: each verdict, and whether a refusal is for good (`never`) or for
now. The forced queue skips both; admission answers both; a bundle waits on a nonce gap."""

from dataclasses import replace

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.judge import (
    Accept,
    ChainRules,
    Reject,
    judge,
    judge_account,
    judge_pending,
    judge_raw,
    require,
)
from sequencer.mempool import AccountState, SenderLedger, TxRejected, decode_tx

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
    return bytes(account.sign_transaction(tx).raw_transaction)


def blob_tx() -> bytes:
    return sign(type=3, maxFeePerBlobGas=GWEI, blobVersionedHashes=["0x01" + "00" * 31], gas=21_000)


def set_code_tx() -> bytes:
    auth = TRADER.sign_authorization({"chainId": CHAIN, "address": OTHER.address, "nonce": 1})
    return sign(type=4, authorizationList=[auth], gas=60_000)


def ledger(nonce=0, balance=10**18, is_contract=False) -> SenderLedger:
    out = SenderLedger()
    out.set_account(TRADER.address, AccountState(nonce, balance, is_contract))
    return out


def test_a_valid_transaction_is_accepted_with_its_decoded_form():
    raw = sign()
    verdict = judge(decode_tx(raw), RULES, ledger(), GWEI)
    assert isinstance(verdict, Accept) and verdict.tx.raw == raw
    assert require(judge_raw(raw, RULES)).sender == TRADER.address


NEVER = {
    "not a transaction": (lambda: b"\xde\xad\xbe\xef" * 8, "invalid_rlp"),
    "empty": (lambda: b"", "invalid_rlp"),
    "the other rollup's chain id": (lambda: sign(chainId=902), "invalid_chain_id"),
    "gas above the block gas limit": (lambda: sign(gas=30_000_001), "gas_limit"),
    "below the intrinsic gas": (lambda: sign(gas=20_999), "intrinsic_gas"),
    "below the calldata floor": (
        lambda: sign(gas=21_000 + 16 * 100, data=b"\x01" * 100),
        "floor_data_gas",
    ),
    "tip above fee cap": (
        lambda: sign(maxPriorityFeePerGas=3 * GWEI, maxFeePerGas=2 * GWEI),
        "tip_above_fee_cap",
    ),
    "blob type 3": (blob_tx, "unsupported_type"),
    "set-code type 4": (set_code_tx, "unsupported_type"),
    "unprotected legacy": (
        lambda: bytes(
            TRADER.sign_transaction(
                {"nonce": 0, "to": OTHER.address, "value": 0, "gas": 21_000, "gasPrice": GWEI}
            ).raw_transaction
        ),
        "unprotected",
    ),
}


@pytest.mark.parametrize("case", list(NEVER))
def test_what_the_rollup_can_never_take_is_refused_for_good_without_state(case):
    make, reason = NEVER[case]
    verdict = judge_raw(make(), RULES)
    assert isinstance(verdict, Reject), case
    assert (verdict.reason, verdict.never) == (reason, True)
    with pytest.raises(TxRejected) as info:
        require(verdict)
    assert info.value.message == verdict.message and info.value.reason == reason


def test_geth_words_for_the_static_refusals():
    assert judge_raw(sign(gas=30_000_001), RULES).message == "exceeds block gas limit"
    assert judge_raw(sign(chainId=902), RULES).message == (
        "invalid chain id for signer: have 902 want 901"
    )
    assert judge_raw(sign(gas=20_999), RULES).message == (
        "intrinsic gas too low: gas 20999, minimum needed 21000"
    )
    floor = judge_raw(sign(gas=22_600, data=b"\x01" * 100), RULES)
    assert floor.message == (
        "insufficient gas for floor data gas cost: gas 22600, minimum needed 25000"
    )
    assert judge_raw(blob_tx(), RULES).message == "transaction type not supported"


def test_a_bad_signature_is_refused_for_good():
    raw = bytearray(sign())
    raw[-1] ^= 0x01  # s changes: another (or no) sender, or a high s
    verdict = judge_raw(bytes(raw), RULES)
    if isinstance(verdict, Accept):  # a valid signature of someone else: not TRADER's
        assert verdict.tx.sender != TRADER.address
    else:
        assert verdict.never and verdict.reason in ("invalid_sender", "invalid_rlp")
    high_s = bytearray(sign())
    high_s[-32:] = (2**256 - 1).to_bytes(32, "big")
    verdict = judge_raw(bytes(high_s), RULES)
    assert isinstance(verdict, Reject) and verdict.never and verdict.reason == "invalid_sender"


def test_a_reserved_sender_is_refused_for_good():
    rules = replace(RULES, reserved=frozenset({TRADER.address}))
    verdict = judge_raw(sign(), rules)
    assert isinstance(verdict, Reject) and (verdict.reason, verdict.never) == (
        "reserved_sender",
        True,
    )
    assert isinstance(judge_raw(sign(account=OTHER), rules), Accept)


def test_state_refusals_say_whether_a_later_state_can_change_them():
    tx = decode_tx(sign(nonce=5))
    cases = {
        "sender_not_eoa": (ledger(nonce=5, is_contract=True), GWEI, True),
        "nonce_too_low": (ledger(nonce=6), GWEI, True),  # nonces only go up
        "nonce_too_high": (ledger(nonce=4), GWEI, False),  # a nonce gap: the gap may fill
        "fee_cap_too_low": (ledger(nonce=5), 2 * GWEI + 1, False),  # the base fee may fall
        "insufficient_funds": (ledger(nonce=5, balance=tx.max_cost - 1), GWEI, False),
    }
    for reason, (book, base_fee, never) in cases.items():
        verdict = judge(tx, RULES, book, base_fee)
        assert isinstance(verdict, Reject), reason
        assert (verdict.reason, verdict.never, verdict.tx) == (reason, never, tx)
    assert isinstance(judge(tx, RULES, ledger(nonce=5), 2 * GWEI), Accept)


def test_static_refusals_come_before_state_ones():
    tx = decode_tx(sign(gas=30_000_001, nonce=9))
    verdict = judge(tx, RULES, ledger(nonce=0, balance=0), GWEI)
    assert isinstance(verdict, Reject) and verdict.reason == "gas_limit"


def test_pending_transactions_and_a_callers_own_placements_count():
    book = ledger(nonce=0, balance=3 * decode_tx(sign()).max_cost)
    first = decode_tx(sign(nonce=0))
    book.add(first)
    second = decode_tx(sign(nonce=1))
    assert isinstance(judge_pending(second, book, GWEI), Accept)
    # a bundle slot placed nonce 1 and one more cost already: nonce 2 next, funds for 1 more
    third = decode_tx(sign(nonce=2))
    assert isinstance(
        judge_pending(third, book, GWEI, nonce_after=2, extra_cost=first.max_cost), Accept
    )
    short = judge_pending(third, book, GWEI, nonce_after=2, extra_cost=2 * first.max_cost)
    assert isinstance(short, Reject) and short.reason == "insufficient_funds"
    assert short.message == (
        f"insufficient funds for gas * price + value: balance {3 * first.max_cost}, "
        f"tx cost {4 * first.max_cost}, overshot {first.max_cost}"
    )
    again = judge_pending(decode_tx(sign(nonce=0, value=2)), book, GWEI)
    assert isinstance(again, Reject) and (again.reason, again.never) == ("nonce_too_low", True)


def test_judge_account_is_the_rule_on_a_plain_account():
    tx = decode_tx(sign(nonce=3, value=10))
    account = AccountState(nonce=0, balance=tx.max_cost + 5)
    assert isinstance(judge_account(tx, account, 3, 0, GWEI), Accept)
    verdict = judge_account(tx, account, 3, 6, GWEI)
    assert isinstance(verdict, Reject) and verdict.reason == "insufficient_funds"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_get_a_verdict_and_the_same_one_every_time(raw):
    verdict = judge_raw(raw, RULES)
    assert verdict == judge_raw(raw, RULES)  # deterministic: derivation can judge again
    if isinstance(verdict, Reject) and verdict.tx is None:
        assert verdict.never
