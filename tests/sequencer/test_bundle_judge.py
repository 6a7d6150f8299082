"""The bundle book judges each leg with the one judge (no chain): a nonce gap or a fee cap below
the block's base-fee bound waits for a later slot; a contract sender, a used nonce or funds short
of the slot's costs drop the bundle."""

from collections import defaultdict
from types import SimpleNamespace

from eth_account import Account

from sequencer.builder import Bundle, ChainPlan, ChainRuntime, HeadInfo, Leg, PlannedBlock
from sequencer.judge import ChainRules
from sequencer.mempool import AccountState, SenderLedger, decode_tx
from sequencer.ports import ChainState
from sequencer.service import BundleBook

KEY = "0x" + "42" * 32
SENDER = Account.from_key(KEY).address
GWEI = 10**9


def _leg(nonce: int, fee_cap: int = 50 * GWEI) -> Leg:
    raw = bytes(
        Account.sign_transaction(
            {
                "type": 2,
                "chainId": 901,
                "nonce": nonce,
                "to": "0x" + "77" * 20,
                "value": 1,
                "gas": 21_000,
                "maxFeePerGas": fee_cap,
                "maxPriorityFeePerGas": 0,
            },
            KEY,
        ).raw_transaction
    )
    tx = decode_tx(raw)
    return Leg(901, tx.tx_hash, raw, tx.sender, tx.nonce, tx.gas, tx.max_cost)


def _book(account: AccountState) -> tuple[BundleBook, dict[int, PlannedBlock]]:
    head = HeadInfo(10, b"\x01" * 32, 1_000, GWEI, 15_000_000, 30_000_000)
    plan = ChainPlan(901, head)
    ledger = SenderLedger()
    ledger.set_account(SENDER, account)
    chain = ChainState(ChainRuntime(901, None, plan), ledger, ChainRules(901, 30_000_000))
    book = BundleBook.__new__(BundleBook)  # only `_fits` is exercised: it reads `seq.chains`
    book.seq = SimpleNamespace(chains={901: chain})
    return book, {901: plan.close_next()}


def _fits(book, blocks, *legs: Leg) -> str:
    bundle = Bundle(b"\x00" * 32, legs, "0x" + "11" * 20, 100)
    extra_gas: defaultdict[int, int] = defaultdict(int)
    costs: defaultdict[tuple[int, str], int] = defaultdict(int)
    return book._fits(bundle, blocks, extra_gas, {}, costs, set())


def test_each_leg_is_judged_after_the_slots_earlier_legs():
    book, blocks = _book(AccountState(nonce=3, balance=10**18))
    assert _fits(book, blocks, _leg(3), _leg(4)) == "ok"
    assert _fits(book, blocks, _leg(4)) == "wait"  # a nonce gap
    assert _fits(book, blocks, _leg(3, fee_cap=GWEI - 1)) == "wait"  # the base fee may fall
    low = _fits(book, blocks, _leg(2))
    assert low.startswith("nonce too low: address") and "leg tx 0x" in low


def test_a_contract_sender_or_short_funds_drop_the_bundle():
    contract, blocks = _book(AccountState(nonce=0, balance=10**18, is_contract=True))
    assert _fits(contract, blocks, _leg(0)).startswith("sender not an eoa")
    poor, blocks = _book(AccountState(nonce=0, balance=_leg(0).max_cost))
    assert _fits(poor, blocks, _leg(0)) == "ok"
    assert _fits(poor, blocks, _leg(0), _leg(1)).startswith("insufficient funds for gas * price")


def test_a_settled_bundle_is_no_longer_counted_in_flight():
    """seq_status counts pending + in-flight bundles as pending: a bundle whose receipt was
    stored while the slot's bookkeeping still ran was counted pending and included at once."""
    book = BundleBook.__new__(BundleBook)
    book.pending, book.done, book._unsaved = {}, {}, []
    book.included = book.dropped = 0
    bundle = Bundle(b"\x07" * 32, (_leg(0),), "0x" + "11" * 20, 100)
    book.inflight = {bundle.bundle_hash: bundle}
    bundle.status = "included"
    book._done(bundle)
    assert bundle.bundle_hash not in book.inflight
    assert (book.included, book.dropped, list(book.done)) == (1, 0, [bundle.bundle_hash])
