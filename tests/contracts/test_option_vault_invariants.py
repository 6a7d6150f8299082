"""Hypothesis stateful test of an OptionVault on rollup A (call vault in WETH or put vault in USDC).

Random sequences of LP deposits, cancellations, withdrawal requests and withdrawals, trader buys
and sells, price moves and whole epochs (expiry, oracle settlement, vault settlement, redemption,
reclaim, roll). After every step:
- the tokens the vault holds equal the sum of the buckets it owes (LP idle + locked, queued
  deposits, processed withdrawals, short traders' collateral, holders' reserve);
- locked LP collateral covers the maximum payout of every open long, and short traders'
  collateral covers the maximum payout of every open short;
- LPs' claims never exceed the LP assets.
At every roll, queued deposits and withdrawals are processed at one price per share, never
lowering it for the LPs who stay, and every LP leaving gets exactly shares * price, rounded down.

The market is deployed once with ape; each example reverts the rollup to that state, and the
steps use plain web3.py (ape's per-call overhead would dominate the run time).
"""

from __future__ import annotations

import pytest
from ape import project
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from options_helpers import DISPUTE_WINDOW, USDC, WAD, deploy_market, fund, next_block_at, now, warp
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError

VIRTUAL_SHARES = 10**6
VOL = 8 * WAD // 10
STRIKES = [1800 * WAD, 2000 * WAD, 2200 * WAD]
ALLOWED_TRADE_REVERTS = ("vault: utilisation cap", "vault: insufficient liquidity")
LP_ACTIONS = ("deposit", "cancel_deposit", "request_withdraw", "cancel_withdraw", "withdraw")


def web3_contract(w3, contract):
    abi = [item.model_dump(mode="json", by_alias=True) for item in contract.contract_type.abi]
    return w3.eth.contract(address=str(contract.address), abi=abi)


@pytest.mark.parametrize("is_call", [True, False], ids=["call-weth", "put-usdc"])
def test_vault_invariants(rollup_a, accounts, deployer, keeper, trader, is_call):
    lps = [accounts[6].address, accounts[8].address, accounts[9].address]
    traders = [trader.address, accounts[4].address]
    scale = WAD if is_call else USDC
    handle = rollup_a
    # web3.py's validation asks the node for its chain id before every call and transaction
    # (most of this test's requests): a client that remembers the chain id (and nothing else:
    # the examples revert the chain)
    w3 = Web3(
        HTTPProvider(handle.url, cache_allowed_requests=True, cacheable_requests={"eth_chainId"})
    )

    with handle.use():
        market = deploy_market(project, deployer, keeper)
        side = market.call if is_call else market.put
        for account in (accounts[6], accounts[8], accounts[9], trader, accounts[4]):
            fund(side.token, account, 1_000_000 * scale, side.vault)
        side.vault.request_deposit(100 * scale, sender=accounts[6])
    vault = web3_contract(w3, side.vault)
    token = web3_contract(w3, side.token)
    longs = web3_contract(w3, side.longs)
    oracle = web3_contract(w3, market.oracle)
    weth = str(market.weth.address)
    base = {"snapshot": handle.snapshot()}

    def send(call, sender: str, gas: int | None = None):
        """Send and require success. With `gas`, skip the estimate (which anvil runs at the
        latest block's timestamp, not at one set with evm_setNextBlockTimestamp)."""
        tx = {"from": sender} if gas is None else {"from": sender, "gas": gas}
        receipt = w3.eth.wait_for_transaction_receipt(call.transact(tx))
        assert receipt["status"] == 1
        return receipt

    class VaultMachine(RuleBasedStateMachine):
        """One example, from the deployed and funded market."""

        @initialize()
        def setup(self):
            handle.revert(base["snapshot"])
            base["snapshot"] = handle.snapshot()
            self.spot = 2000 * WAD
            self.shorts: dict[tuple[str, int], int] = {}  # (trader, series) -> collateral
            self.longs: dict[tuple[str, int], int] = {}  # (holder, series) -> amount
            self.roll()

        def roll(self):
            v = vault.functions
            expiry = now(handle) + 7 * 86_400
            queued = {lp: v.withdraw_receipt(lp).call()[1] for lp in lps}
            receipt = send(v.roll(expiry, STRIKES), keeper.address)
            event = vault.events.EpochRolled().process_receipt(receipt)[0].args
            before = (event.assets_before + 1, event.shares_before + VIRTUAL_SHARES)
            after = (event.assets_after + 1, event.shares_after + VIRTUAL_SHARES)
            # The LPs who stay are never diluted by the processing: price after >= before.
            assert after[0] * before[1] >= before[0] * after[1]
            # Each LP leaving gets exactly its shares at that price, rounded down.
            for lp, shares in queued.items():
                if shares:
                    owed = v.withdrawable(lp).call()
                    send(v.claim(), lp)
                    assert v.withdrawable(lp).call() - owed == shares * before[0] // before[1]
            self.expiry = expiry
            self.series = [v.series_id(expiry, k).call() for k in STRIKES]

        def trade(self, call, sender: str):
            try:
                return send(call, sender)
            except ContractLogicError as error:
                reason = str(error.message).removeprefix("execution reverted: ")
                assert reason in ALLOWED_TRADE_REVERTS, reason
                return None

        # --- LPs ---

        @rule(who=st.integers(0, 2), action=st.sampled_from(LP_ACTIONS), size=st.integers(1, 100))
        def lp_action(self, who, action, size):
            v, lp = vault.functions, lps[who]
            epoch = v.epoch().call()
            if action == "deposit":
                send(v.request_deposit(size * 5 * scale), lp)
            elif action == "cancel_deposit":
                queued_epoch, assets = v.deposit_receipt(lp).call()
                if assets and queued_epoch == epoch:
                    send(v.cancel_deposit(), lp)
            elif action == "request_withdraw":
                send(v.claim(), lp)
                shares = v.shares_of(lp).call() * size // 100
                if shares:
                    send(v.request_withdraw(shares), lp)
            elif action == "cancel_withdraw":
                queued_epoch, shares = v.withdraw_receipt(lp).call()
                if shares and queued_epoch == epoch:
                    send(v.cancel_withdraw(), lp)
            else:
                send(v.claim(), lp)
                owed = v.withdrawable(lp).call()
                if owed:
                    before = token.functions.balanceOf(lp).call()
                    send(v.withdraw(), lp)
                    assert token.functions.balanceOf(lp).call() - before == owed

        # --- traders and the market ---

        @rule(who=st.integers(0, 1), strike=st.integers(0, 2), tenths=st.integers(1, 300))
        def buy(self, who, strike, tenths):
            series, amount = self.series[strike], tenths * WAD // 10
            call = vault.functions.buy(series, amount, 2**255, self.expiry)
            if self.trade(call, traders[who]) is not None:
                key = (traders[who], series)
                self.longs[key] = self.longs.get(key, 0) + amount

        @rule(who=st.integers(0, 1), strike=st.integers(0, 2), tenths=st.integers(1, 300))
        def sell(self, who, strike, tenths):
            series, amount = self.series[strike], tenths * WAD // 10
            receipt = self.trade(vault.functions.sell(series, amount, 0, self.expiry), traders[who])
            if receipt is not None:
                key = (traders[who], series)
                posted = vault.events.Sold().process_receipt(receipt)[0].args.collateral
                self.shorts[key] = self.shorts.get(key, 0) + posted

        @rule(percent=st.integers(-20, 20))
        def move_price(self, percent):
            self.spot = self.spot * (100 + percent) // 100
            next_block_at(handle, now(handle) + 60)
            send(oracle.functions.push(weth, self.spot, VOL), keeper.address, gas=500_000)

        @rule(percent=st.integers(-40, 40))
        def end_epoch(self, percent):
            price = self.spot * (100 + percent) // 100
            o, v = oracle.functions, vault.functions
            next_block_at(handle, self.expiry + 1)
            send(o.push(weth, price, VOL), keeper.address, gas=500_000)
            index = o.observation_count(weth).call() - 1
            send(o.settle(weth, self.expiry, index), keeper.address)
            warp(handle, now(handle) + DISPUTE_WINDOW)
            send(v.settle(), keeper.address)
            for (holder, series), amount in sorted(self.longs.items()):
                send(v.redeem(series, amount), holder)
            for holder, series in sorted(self.shorts):
                receipt = send(v.reclaim(series), holder)
                returned = vault.events.Reclaimed().process_receipt(receipt)[0].args.returned
                assert returned <= self.shorts[(holder, series)]
            self.longs, self.shorts = {}, {}
            self.spot = price
            self.roll()

        # --- invariants ---

        @invariant()
        def invariants(self):
            v = vault.functions
            # The tokens held cover every bucket the vault owes.
            owed = (
                v.total_idle().call()
                + v.total_locked().call()
                + v.queued_deposits().call()
                + v.reserved_for_withdrawals().call()
                + v.trader_collateral().call()
                + v.holder_reserve().call()
            )
            assert token.functions.balanceOf(vault.address).call() == owed  # every unit booked
            # Locked LP collateral covers every open long; posted collateral every open short.
            if not v.settled().call():
                supply = longs.functions.total_supply
                open_longs = sum(
                    v.max_payout(k, supply(s).call()).call()
                    for k, s in zip(STRIKES, self.series, strict=True)
                )
                assert v.total_locked().call() >= open_longs
                assert v.trader_collateral().call() >= sum(self.shorts.values())
            # LPs' claims (shares, including this epoch's queued withdrawals) within LP assets.
            epoch, shares = v.epoch().call(), 0
            for lp in lps:
                queued_epoch, queued = v.withdraw_receipt(lp).call()
                shares += v.share_balance(lp).call() + (queued if queued_epoch == epoch else 0)
            assert v.convertToAssets(shares).call() <= v.totalAssets().call()

    VaultMachine.TestCase.settings = settings(
        max_examples=5,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    VaultMachine.TestCase().runTest()
