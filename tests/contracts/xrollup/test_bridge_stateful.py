"""Stateful invariant of the SuperToken bridge across both rollup engines (hypothesis).

Random faucet mints, bridges in both directions (A->B and B->A) and relays in any order:
    totalSupply on A + totalSupply on B + amount sent but not yet relayed == minted - burned
where minted - burned is what the faucet created (a bridge burns on one rollup exactly what the
relay mints on the other, so bridging neither creates nor destroys). Every account's balance
follows the model, each rollup's `bridged_out` equals what the other rollup has relayed in plus
what is still in flight, and relaying a message twice always reverts.
"""

import ape
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3 import HTTPProvider, Web3
from xrollup_helpers import relay, sent_messages

CHAINS = ("rollup_a", "rollup_b")


def test_supply_is_conserved_across_random_bridges_and_relays(
    xr, chains, deployer, relayer, trader, lp, keeper
):
    rollups = {name: chains[name] for name in CHAINS}
    holders = (trader, lp, keeper)
    token = xr.weth
    # the invariant reads both rollups after every step through plain web3.py clients (the same
    # views at the latest block; ape's provider switch and per-call overhead would dominate)
    abi = [item.model_dump(mode="json", by_alias=True) for item in token.contract_type.abi]
    readers = {
        name: Web3(
            HTTPProvider(r.url, cache_allowed_requests=True, cacheable_requests={"eth_chainId"})
        ).eth.contract(address=str(token.address), abi=abi)
        for name, r in rollups.items()
    }

    class BridgeMachine(RuleBasedStateMachine):
        @initialize()
        def start(self):
            self.snapshots = {name: r.snapshot() for name, r in rollups.items()}
            self.faucet = 0
            self.balances = {(c, h.address): 0 for c in CHAINS for h in holders}
            self.pending = []  # (message, source, dest, to, amount)
            self.relayed = []
            for chain in CHAINS:  # every holder starts with some tokens on both rollups
                for who in holders:
                    self.faucet_mint(chain, who, 10**18)

        def teardown(self):
            for name, rollup in rollups.items():
                rollup.revert(self.snapshots[name])

        @rule(
            chain=st.sampled_from(CHAINS),
            who=st.sampled_from(holders),
            amount=st.integers(1, 10**21),
        )
        def faucet_mint(self, chain, who, amount):
            with rollups[chain].use():
                token.mint(who, amount, sender=deployer)
            self.faucet += amount
            self.balances[(chain, who.address)] += amount

        @rule(
            source=st.sampled_from(CHAINS),
            who=st.sampled_from(holders),
            to=st.sampled_from(holders),
            percent=st.integers(1, 100),
        )
        def bridge(self, source, who, to, percent):
            balance = self.balances[(source, who.address)]
            amount = balance * percent // 100
            if amount == 0:
                return
            dest = CHAINS[1 - CHAINS.index(source)]
            with rollups[source].use():
                receipt = token.bridge(rollups[dest].chain_id, to, amount, sender=who)
            (message,) = sent_messages(rollups[source], xr.messenger, receipt)
            self.balances[(source, who.address)] -= amount
            self.pending.append((message, source, dest, to.address, amount))

        @precondition(lambda self: self.pending)
        @rule(data=st.data())
        def relay_one(self, data):
            index = data.draw(st.integers(0, len(self.pending) - 1))
            message, source, dest, to, amount = self.pending.pop(index)
            relay(rollups[dest], xr.messenger, message, relayer)
            self.balances[(dest, to)] += amount
            self.relayed.append((message, dest))

        @precondition(lambda self: self.relayed)
        @rule(data=st.data())
        def replay_fails(self, data):
            message, dest = data.draw(st.sampled_from(self.relayed))
            with ape.reverts("already relayed"):
                relay(rollups[dest], xr.messenger, message, relayer)

        @invariant()
        def supply_is_conserved(self):
            supplies, out, into = {}, {}, {}
            for name, reader in readers.items():
                read = reader.functions
                supplies[name] = read.totalSupply().call()
                out[name] = read.bridged_out().call()
                into[name] = read.bridged_in().call()
                for holder in holders:
                    balance = read.balanceOf(holder.address).call()
                    assert balance == self.balances[(name, holder.address)]
            in_flight = sum(p[4] for p in self.pending)
            assert supplies["rollup_a"] + supplies["rollup_b"] + in_flight == self.faucet
            for source in CHAINS:
                dest = CHAINS[1 - CHAINS.index(source)]
                flying = sum(p[4] for p in self.pending if p[1] == source)
                assert out[source] == into[dest] + flying

    run_state_machine_as_test(
        BridgeMachine,
        settings=settings(
            max_examples=8,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
