"""SequencerRegistry: stake, exits, terms and stake-weighted leaders, jailing, slashing payouts.

Slashing here is called by an EOA wired as the slasher (the `keeper` role), so the registry's
accounting is tested on its own; the Slasher's conditions are in test_slasher.py.
"""

from __future__ import annotations

import ape
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from l1_helpers import (
    ETHER,
    EVIDENCE_WINDOW_BLOCKS,
    MIN_STAKE,
    REPORTER_BPS,
    TERM_BLOCKS,
    UNBONDING_BLOCKS,
    VICTIM_BPS,
    current_term,
    height,
    mine_to_term_start,
    mine_until,
    split,
    web3_reader,
)

ZERO = "0x0000000000000000000000000000000000000000"


@pytest.fixture
def bare_registry(registry, deployer, keeper):
    """The registry with the `keeper` account as its slasher."""
    registry.set_slasher(keeper, sender=deployer)
    return registry


@pytest.mark.parametrize(
    "params, reason",
    [
        ((0, 4, 30, 20, 1000, 5000), "registry: zero min stake"),
        ((ETHER, 0, 30, 20, 1000, 5000), "registry: zero term"),
        ((ETHER, 4, 30, 3, 1000, 5000), "registry: evidence window shorter than a term"),
        ((ETHER, 4, 24, 20, 1000, 5000), "registry: unbonding shorter than evidence window"),
        ((ETHER, 4, 30, 20, 6000, 5000), "registry: shares above 100%"),
    ],
)
def test_constructor_refuses_inconsistent_parameters(project, deployer, treasury, params, reason):
    with ape.reverts(reason):
        project.SequencerRegistry.deploy(*params, treasury, sender=deployer)


def test_constructor_refuses_zero_treasury(project, deployer):
    with ape.reverts("registry: zero treasury"):
        project.SequencerRegistry.deploy(ETHER, 4, 30, 20, 1000, 5000, ZERO, sender=deployer)


def test_slasher_is_wired_once_by_the_owner(registry, deployer, keeper, trader):
    with ape.reverts("ownable: caller is not the owner"):
        registry.set_slasher(trader, sender=trader)
    tx = registry.set_slasher(keeper, sender=deployer)
    assert tx.events[0].slasher == keeper.address
    with ape.reverts("registry: slasher already set"):
        registry.set_slasher(trader, sender=deployer)


def test_register_top_up_take_effect_next_term(chain, registry, sequencer_account, lp):
    with ape.reverts("registry: stake below minimum"):
        registry.register(value=MIN_STAKE - 1, sender=sequencer_account)
    with ape.reverts("registry: not registered"):
        registry.top_up(value=1, sender=sequencer_account)
    term = current_term(chain)
    tx = registry.register(value=MIN_STAKE, sender=sequencer_account)
    assert tx.events[0].effective_term == term + 1
    assert registry.weight_at(sequencer_account, term) == 0
    assert registry.weight_at(sequencer_account, term + 1) == MIN_STAKE
    with ape.reverts("registry: already registered"):
        registry.register(value=MIN_STAKE, sender=sequencer_account)

    mine_to_term_start(chain, term + 1)
    registry.top_up(value=ETHER, sender=sequencer_account)
    registry.register(value=3 * ETHER, sender=lp)
    # the current term is frozen; the next one sees the new stakes
    assert registry.weight_at(sequencer_account, term + 1) == MIN_STAKE
    assert registry.total_weight_at(term + 1) == MIN_STAKE
    assert registry.weight_at(sequencer_account, term + 2) == MIN_STAKE + ETHER
    assert registry.total_weight_at(term + 2) == MIN_STAKE + ETHER + 3 * ETHER
    # the only eligible sequencer of term + 1 leads it
    assert registry.leader_of(term + 1) == sequencer_account.address
    assert registry.stake_of(sequencer_account) == 2 * ETHER
    assert registry.sequencer_count() == 2


def test_a_sequencer_publishes_its_endpoint(bare_registry, sequencer_account, trader):
    registry = bare_registry
    with ape.reverts("registry: not registered"):
        registry.set_endpoint("http://127.0.0.1:8547", sender=trader)
    registry.register(value=MIN_STAKE, sender=sequencer_account)
    assert registry.endpoint(sequencer_account) == ""
    tx = registry.set_endpoint("http://seq-a.example:8547", sender=sequencer_account)
    assert tx.events[0].sequencer == sequencer_account.address
    assert tx.events[0].url == "http://seq-a.example:8547"
    assert registry.endpoint(sequencer_account) == "http://seq-a.example:8547"
    # withdrawn with an empty URL; nobody else can set it
    registry.set_endpoint("", sender=sequencer_account)
    assert registry.endpoint(sequencer_account) == ""
    assert registry.endpoint(trader) == ""


def test_leader_is_fixed_within_a_term(chain, registry, sequencer_account, lp, trader):
    registry.register(value=MIN_STAKE, sender=sequencer_account)
    registry.register(value=MIN_STAKE, sender=lp)
    term = current_term(chain) + 1
    mine_to_term_start(chain, term)
    tx = registry.fix_leader(term, sender=trader)
    leader = tx.return_value
    assert leader in (sequencer_account.address, lp.address)
    assert tx.events[0].leader == leader
    # a big stake change inside the term does not move its leader, even after re-fixing
    other = lp if leader == sequencer_account.address else sequencer_account
    registry.top_up(value=100 * ETHER, sender=other)
    registry.request_exit(sender=ape.accounts[leader])
    assert registry.leader_of(term) == leader
    assert registry.fix_leader(term, sender=trader).return_value == leader
    # from the next term the exiting leader is out, and the other leads
    mine_to_term_start(chain, term + 1)
    assert registry.weight_at(leader, term + 1) == 0
    assert registry.leader_of(term + 1) == other.address
    with ape.reverts("registry: term not started"):
        registry.fix_leader(term + 2, sender=trader)


def test_leader_shares_follow_stake(chain, registry, sequencer_account, lp):
    """Stakes 1:3 over 400 terms: the heavy sequencer leads Binomial(400, 3/4) terms
    (mean 300, sd 8.66); accept within 4 sd."""
    registry.register(value=MIN_STAKE, sender=sequencer_account)
    registry.register(value=3 * MIN_STAKE, sender=lp)
    first = current_term(chain) + 1
    mine_to_term_start(chain, first)
    counts = {sequencer_account.address: 0, lp.address: 0}
    leader_of = web3_reader(chain, registry).functions.leader_of  # 400 view calls
    batch = 50  # terms per round, so every seed is inside the EVM's 256-block history
    for start in range(first, first + 400, batch):
        mine_until(chain, (start + batch) * TERM_BLOCKS)
        for term in range(start, start + batch):
            counts[leader_of(term).call()] += 1
    assert sum(counts.values()) == 400
    assert 300 - 35 <= counts[lp.address] <= 300 + 35, counts


def test_exit_unbonding_and_withdraw_once(
    chain, bare_registry, sequencer_account, keeper, fisherman
):
    registry = bare_registry
    registry.register(value=3 * ETHER, sender=sequencer_account)
    with ape.reverts("registry: exit not requested"):
        registry.withdraw(sender=sequencer_account)
    tx = registry.request_exit(sender=sequencer_account)
    requested = tx.block_number
    assert tx.events[0].withdrawable_at == requested + UNBONDING_BLOCKS
    with ape.reverts("registry: exit already requested"):
        registry.request_exit(sender=sequencer_account)
    with ape.reverts("registry: exiting"):
        registry.top_up(value=ETHER, sender=sequencer_account)
    # slashing during unbonding works
    registry.slash(sequencer_account, ETHER, b"\x01" * 32, fisherman, ZERO, False, sender=keeper)
    mine_until(chain, requested + UNBONDING_BLOCKS - 1)
    with ape.reverts("registry: still unbonding"):
        registry.withdraw(sender=sequencer_account)
    # exactly at the end of unbonding: pays what is left, once
    before = sequencer_account.balance
    tx = registry.withdraw(sender=sequencer_account)
    assert tx.block_number == requested + UNBONDING_BLOCKS
    assert tx.events[0].amount == 2 * ETHER
    assert sequencer_account.balance == before + 2 * ETHER - tx.total_fees_paid
    assert registry.stake_of(sequencer_account) == 0
    with ape.reverts("registry: not registered"):
        registry.withdraw(sender=sequencer_account)
    assert registry.balance == registry.claimable(fisherman) + registry.claimable(
        registry.TREASURY()
    )


def test_slash_split_jail_and_evidence_once(
    chain, bare_registry, sequencer_account, keeper, fisherman, trader, treasury
):
    registry = bare_registry
    registry.register(value=2 * ETHER, sender=sequencer_account)
    with ape.reverts("registry: only slasher"):
        registry.slash(
            sequencer_account, ETHER, b"\x02" * 32, fisherman, trader, False, sender=trader
        )
    amount = ETHER // 3 + 7  # not a round number: shares are floored, the treasury takes the dust
    tx = registry.slash(
        sequencer_account, amount, b"\x02" * 32, fisherman, trader, False, sender=keeper
    )
    reporter, victim, rest = split(amount)
    assert tx.return_value == amount
    event = tx.events[0]
    assert (event.reporter_amount, event.victim_amount, event.treasury_amount) == (
        reporter,
        victim,
        rest,
    )
    assert registry.claimable(fisherman) == reporter == amount * REPORTER_BPS // 10_000
    assert registry.claimable(trader) == victim == amount * VICTIM_BPS // 10_000
    assert registry.claimable(treasury) == rest
    assert reporter + victim + rest == amount
    with ape.reverts("registry: evidence already used"):
        registry.slash(sequencer_account, 1, b"\x02" * 32, fisherman, trader, False, sender=keeper)
    # below MIN_STAKE: jailed, out of the lottery from the next term, cannot top up or re-register
    tx = registry.slash(
        sequencer_account, ETHER, b"\x03" * 32, fisherman, ZERO, False, sender=keeper
    )
    assert registry.jailed(sequencer_account)
    assert [e.event_name for e in tx.events] == ["Slashed", "Jailed"]
    assert registry.weight_at(sequencer_account, current_term(chain) + 1) == 0
    with ape.reverts("registry: jailed"):
        registry.top_up(value=ETHER, sender=sequencer_account)
    # payouts are claimed once
    before = fisherman.balance
    tx = registry.claim(sender=fisherman)
    assert fisherman.balance == before + registry_claimed(tx) - tx.total_fees_paid
    with ape.reverts("registry: nothing to claim"):
        registry.claim(sender=fisherman)
    # the slash takes what is left at most
    left = registry.stake_of(sequencer_account)
    tx = registry.slash(
        sequencer_account, 10 * ETHER, b"\x04" * 32, fisherman, ZERO, True, sender=keeper
    )
    assert tx.return_value == left
    with ape.reverts("registry: nothing to slash"):
        registry.slash(sequencer_account, 1, b"\x05" * 32, fisherman, ZERO, False, sender=keeper)


def registry_claimed(tx) -> int:
    return tx.events[0].amount


# --- stateful: the registry's ETH always covers stakes and payouts, nobody is paid twice ---


class RegistryMachine(RuleBasedStateMachine):
    """A model of the registry driven against the deployed contract."""

    registry = None
    chain = None
    sequencers: list = []
    beneficiaries: list = []
    slasher = None

    def __init__(self):
        super().__init__()
        self.snapshot = self.chain.snapshot()
        self.stake = {s.address: 0 for s in self.sequencers}
        self.registered = {s.address: False for s in self.sequencers}
        self.exit_at = {s.address: 0 for s in self.sequencers}
        self.jailed = {s.address: False for s in self.sequencers}
        everyone = {a.address for a in self.sequencers + self.beneficiaries}
        everyone.add(self.registry.TREASURY())
        self.claimable = dict.fromkeys(everyone, 0)
        self.paid = dict.fromkeys(everyone, 0)
        self.deposited = 0
        self.evidence = 0
        self.used_evidence: list[bytes] = []
        # the invariants read through plain web3.py (the same views at the latest block)
        self.reader = web3_reader(self.chain, self.registry)

    def teardown(self):
        self.chain.restore(self.snapshot)

    @rule(who=st.integers(0, 2), extra=st.integers(0, 2 * ETHER))
    def register(self, who, extra):
        s = self.sequencers[who]
        value = MIN_STAKE + extra
        if self.registered[s.address]:
            with ape.reverts("registry: already registered"):
                self.registry.register(value=value, sender=s)
            return
        if self.jailed[s.address]:
            with ape.reverts("registry: jailed"):
                self.registry.register(value=value, sender=s)
            return
        self.registry.register(value=value, sender=s)
        self.registered[s.address] = True
        self.stake[s.address] = value
        self.deposited += value

    @rule(who=st.integers(0, 2), value=st.integers(1, ETHER))
    def top_up(self, who, value):
        s = self.sequencers[who]
        if not self.registered[s.address]:
            reason = "registry: not registered"
        elif self.exit_at[s.address]:
            reason = "registry: exiting"
        elif self.jailed[s.address]:
            reason = "registry: jailed"
        else:
            self.registry.top_up(value=value, sender=s)
            self.stake[s.address] += value
            self.deposited += value
            return
        with ape.reverts(reason):
            self.registry.top_up(value=value, sender=s)

    @rule(who=st.integers(0, 2))
    def request_exit(self, who):
        s = self.sequencers[who]
        if not self.registered[s.address]:
            with ape.reverts("registry: not registered"):
                self.registry.request_exit(sender=s)
        elif self.exit_at[s.address]:
            with ape.reverts("registry: exit already requested"):
                self.registry.request_exit(sender=s)
        else:
            tx = self.registry.request_exit(sender=s)
            self.exit_at[s.address] = tx.block_number

    @rule(who=st.integers(0, 2))
    def withdraw(self, who):
        s = self.sequencers[who]
        next_block = height(self.chain) + 1
        if not self.registered[s.address]:
            reason = "registry: not registered"
        elif not self.exit_at[s.address]:
            reason = "registry: exit not requested"
        elif next_block < self.exit_at[s.address] + UNBONDING_BLOCKS:
            reason = "registry: still unbonding"
        else:
            tx = self.registry.withdraw(sender=s)
            assert tx.events[0].amount == self.stake[s.address]
            self.paid[s.address] += self.stake[s.address]
            self.stake[s.address] = 0
            self.registered[s.address] = False
            self.exit_at[s.address] = 0
            return
        with ape.reverts(reason):
            self.registry.withdraw(sender=s)

    @rule(
        who=st.integers(0, 2),
        amount=st.integers(1, 2 * ETHER),
        reporter=st.integers(0, 1),
        victim=st.integers(-1, 1),
        jail=st.booleans(),
        replay=st.booleans(),
    )
    def slash(self, who, amount, reporter, victim, jail, replay):
        s = self.sequencers[who]
        rep = self.beneficiaries[reporter].address
        vic = self.beneficiaries[victim].address if victim >= 0 else ZERO
        if replay and self.used_evidence:
            with ape.reverts("registry: evidence already used"):
                self.registry.slash(
                    s,
                    amount,
                    self.used_evidence[-1],
                    rep,
                    vic,
                    jail,
                    sender=self.slasher,
                )
            return
        self.evidence += 1
        evidence_id = self.evidence.to_bytes(32, "big")
        if self.stake[s.address] == 0:
            with ape.reverts("registry: nothing to slash"):
                self.registry.slash(s, amount, evidence_id, rep, vic, jail, sender=self.slasher)
            return
        tx = self.registry.slash(s, amount, evidence_id, rep, vic, jail, sender=self.slasher)
        self.used_evidence.append(evidence_id)
        taken = min(amount, self.stake[s.address])
        assert tx.return_value == taken
        to_rep, to_vic, to_treasury = split(taken)
        if vic == ZERO:
            to_treasury += to_vic
        else:
            self.claimable[vic] += to_vic
        self.claimable[rep] += to_rep
        self.claimable[self.registry.TREASURY()] += to_treasury
        self.stake[s.address] -= taken
        if jail or self.stake[s.address] < MIN_STAKE:
            self.jailed[s.address] = True

    @rule(who=st.integers(0, 2))
    def claim(self, who):
        account = (self.beneficiaries + [self.treasury_account])[who]
        owed = self.claimable[account.address]
        if owed == 0:
            with ape.reverts("registry: nothing to claim"):
                self.registry.claim(sender=account)
            return
        tx = self.registry.claim(sender=account)
        assert tx.events[0].amount == owed
        self.paid[account.address] += owed
        self.claimable[account.address] = 0

    @rule(blocks=st.integers(1, UNBONDING_BLOCKS))
    def mine(self, blocks):
        self.chain.mine(blocks)

    @invariant()
    def eth_covers_stakes_and_payouts(self):
        read = self.reader.functions
        on_chain = {a: read.stake_of(a).call() for a in self.stake}
        assert on_chain == self.stake
        owed = {a: read.claimable(a).call() for a in self.claimable}
        assert owed == self.claimable
        balance = self.reader.w3.eth.get_balance(self.reader.address)
        assert balance == sum(self.stake.values()) + sum(self.claimable.values())
        # nobody is paid twice: everything paid out plus what is held equals what came in
        assert sum(self.paid.values()) + balance == self.deposited

    @precondition(lambda self: any(self.registered.values()))
    @invariant()
    def weights_follow_the_model_next_term(self):
        term = current_term(self.chain) + 1
        for a in self.stake:
            eligible = self.registered[a] and not self.exit_at[a] and not self.jailed[a]
            expected = self.stake[a] if eligible and self.stake[a] >= MIN_STAKE else 0
            assert self.reader.functions.weight_at(a, term).call() == expected


def test_registry_state_machine(chain, bare_registry, accounts, keeper, treasury):
    RegistryMachine.registry = bare_registry
    RegistryMachine.chain = chain
    RegistryMachine.sequencers = [accounts[1], accounts[5], accounts[6]]
    RegistryMachine.beneficiaries = [accounts[4], accounts[8]]
    RegistryMachine.treasury_account = treasury
    RegistryMachine.slasher = keeper
    run_state_machine_as_test(
        RegistryMachine,
        settings=settings(
            max_examples=6,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    assert TERM_BLOCKS < EVIDENCE_WINDOW_BLOCKS < UNBONDING_BLOCKS


def test_leader_of_an_old_term_uses_the_block_hash_history(chain, registry, sequencer_account, lp):
    """Seeds older than 256 blocks come from the EIP-2935 history contract (prague), up to 8,191
    blocks (beyond, an unfixed term reverts "registry: seed no longer available": not tested,
    mining 8,200 blocks takes anvil too long); a fixed term keeps its leader."""
    registry.register(value=MIN_STAKE, sender=sequencer_account)
    registry.register(value=MIN_STAKE, sender=lp)
    old = current_term(chain) + 1
    fixed = old + 1
    mine_to_term_start(chain, fixed)
    leader = registry.fix_leader(fixed, sender=lp).return_value
    chain.mine(400)  # the seed of `old` is now beyond BLOCKHASH's 256 blocks
    drawn = registry.leader_of(old)
    assert drawn in (sequencer_account.address, lp.address)
    assert registry.leader_of(fixed) == leader
