"""Admission as a state machine (no chain): whatever senders submit and whenever blocks seal,
the plan never exceeds the gas limit, promised positions never move, each sender's promised
nonces are contiguous from its account nonce, and its balance covers their maximum costs."""

from eth_account import Account
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sequencer.builder import ChainPlan, HeadInfo, PlannedTx
from sequencer.judge import judge_pending, require
from sequencer.mempool import AccountState, SenderLedger, TxRejected, decode_tx

GAS_LIMIT = 100_000
GWEI = 10**9
KEYS = [Account.from_key(bytes([i + 7]) * 32) for i in range(3)]
BALANCE = 3 * 40_000 * 2 * GWEI  # about three transactions' worth


def _signed(key_index: int, nonce: int, gas: int, value: int) -> bytes:
    tx = {
        "type": 2,
        "chainId": 901,
        "nonce": nonce,
        "to": KEYS[0].address,
        "value": value,
        "gas": gas,
        "maxFeePerGas": 2 * GWEI,
        "maxPriorityFeePerGas": 1,
    }
    return bytes(Account.sign_transaction(tx, KEYS[key_index].key).raw_transaction)


class Admission(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.plan = ChainPlan(901, HeadInfo(0, b"\x00" * 32, 0, GWEI, 0, GAS_LIMIT))
        self.ledger = SenderLedger()
        for key in KEYS:
            self.ledger.set_account(key.address, AccountState(nonce=0, balance=BALANCE))
        self.promised: dict[bytes, tuple[int, int]] = {}
        self.mined_nonce = {key.address: 0 for key in KEYS}

    @rule(
        sender=st.integers(0, 2),
        nonce_offset=st.integers(-1, 1),
        gas=st.sampled_from([21_000, 40_000, 60_000]),
        value=st.sampled_from([0, 1, 10**15]),
    )
    def submit(self, sender, nonce_offset, gas, value):
        address = KEYS[sender].address
        nonce = max(0, self.ledger.pending_nonce(address) + nonce_offset)
        tx = decode_tx(_signed(sender, nonce, gas, value))
        if tx.tx_hash in self.promised:
            return
        target = self.plan.target(tx.gas)
        try:
            require(judge_pending(tx, self.ledger, self.plan.base_fee_bound(target)))
        except TxRejected as exc:
            assert exc.reason in ("nonce_too_low", "nonce_too_high", "insufficient_funds")
            return
        position = self.plan.place(PlannedTx(tx.tx_hash, tx.raw, tx.sender, tx.gas))
        self.ledger.add(tx)
        assert position[0] == target
        self.promised[tx.tx_hash] = position

    @rule()
    def seal(self):
        block = self.plan.close_next()
        for index, tx in enumerate(block.txs):
            assert self.promised[tx.tx_hash] == (block.number, index)
            self.mined_nonce[tx.sender] += 1
        gas_used = block.gas  # upper bound; what the engine would report at most
        self.plan.sealed(HeadInfo(block.number, b"\x01" * 32, 0, GWEI, gas_used, GAS_LIMIT))
        self.ledger.sealed((tx.sender, tx.tx_hash) for tx in block.txs)

    @invariant()
    def plan_respects_gas_and_positions(self):
        for block in self.plan.blocks.values():
            assert block.gas <= GAS_LIMIT
            for index, tx in enumerate(block.txs):
                assert self.promised[tx.tx_hash] == (block.number, index)

    @invariant()
    def senders_are_consistent(self):
        for key in KEYS:
            state = self.ledger.accounts[key.address]
            assert state.nonce == self.mined_nonce[key.address]
            queue = list(self.ledger.pending.get(key.address, ()))
            assert [p.nonce for p in queue] == list(range(state.nonce, state.nonce + len(queue)))
            assert sum(p.max_cost for p in queue) <= state.balance


TestAdmission = Admission.TestCase
TestAdmission.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
