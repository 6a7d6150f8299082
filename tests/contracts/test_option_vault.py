"""OptionVault on rollup A: a whole epoch for a call vault (WETH, 18 decimals) and a put vault
(USDC, 6 decimals), premiums against scipy, reverts with reasons, pause, ERC-4626 views."""

from __future__ import annotations

import math

import ape
import pytest
from ape import project
from options_helpers import (
    DISPUTE_WINDOW,
    RATE,
    SPREAD,
    USDC,
    WAD,
    YEAR,
    deploy_market,
    fund,
    next_block_at,
    now,
    warp,
)
from scipy.special import ndtr

VIRTUAL_SHARES = 10**6
SPOT = 2000 * WAD
VOL = 8 * WAD // 10


def bs(spot, strike, seconds, vol, rate, is_call):
    t = seconds / YEAR
    sd = vol * math.sqrt(t)
    d1 = (math.log(spot / strike) + rate * t) / sd + sd / 2
    kd = strike * math.exp(-rate * t)
    if is_call:
        return float(spot * ndtr(d1) - kd * ndtr(d1 - sd))
    return float(kd * ndtr(sd - d1) - spot * ndtr(-d1))


@pytest.fixture
def second_lp(accounts):
    return accounts[9]


@pytest.fixture
def market(rollup_a, deployer, keeper):
    with rollup_a.use():
        yield deploy_market(project, deployer, keeper, SPOT, VOL)


def start_epoch(handle, market, keeper, days=7, call_strikes=None, put_strikes=None):
    expiry = now(handle) + days * 86_400
    market.call.vault.roll(expiry, call_strikes or [2000 * WAD, 2200 * WAD], sender=keeper)
    market.put.vault.roll(expiry, put_strikes or [1800 * WAD, 2000 * WAD], sender=keeper)
    return expiry


def settle_at(handle, market, keeper, expiry, price):
    """Push the first price at/after expiry, record it, wait out the dispute window, settle."""
    next_block_at(handle, expiry + 1)
    market.oracle.push(market.weth.address, price, VOL, sender=keeper)
    index = market.oracle.observation_count(market.weth.address) - 1
    market.oracle.settle(market.weth.address, expiry, index, sender=keeper)
    warp(handle, now(handle) + DISPUTE_WINDOW)
    market.call.vault.settle(sender=keeper)
    market.put.vault.settle(sender=keeper)


def test_whole_epoch(rollup_a, market, lp, second_lp, trader, keeper):
    handle, call, put = rollup_a, market.call, market.put
    fund(call.token, lp, 100 * WAD, call.vault)
    fund(call.token, second_lp, 50 * WAD, call.vault)
    fund(put.token, lp, 200_000 * USDC, put.vault)
    fund(call.token, trader, 10 * WAD, call.vault)
    fund(put.token, trader, 100_000 * USDC, put.vault)

    # Epoch 0: LPs queue; the first roll mints at (0 + 1) / (0 + 1e6) per share.
    call.vault.request_deposit(100 * WAD, sender=lp)
    call.vault.request_deposit(50 * WAD, sender=second_lp)
    put.vault.request_deposit(200_000 * USDC, sender=lp)
    assert call.vault.totalAssets() == 0 and call.vault.queued_deposits() == 150 * WAD
    expiry = start_epoch(handle, market, keeper)
    assert call.vault.share_balance(lp) == 100 * WAD * VIRTUAL_SHARES
    assert call.vault.totalAssets() == 150 * WAD
    assert put.vault.totalAssets() == 200_000 * USDC

    # Traders: buy 10 calls at 2,200 from the call vault, sell 20 puts at 1,800 to the put vault.
    call_series = call.vault.series_id(expiry, 2200 * WAD)
    put_series = put.vault.series_id(expiry, 1800 * WAD)
    call_premium = call.vault.buy(call_series, 10 * WAD, 10 * WAD, expiry, sender=trader)
    call_premium = call_premium.events.filter(call.vault.Bought)[0].premium
    assert call.longs.balanceOf(trader.address, call_series) == 10 * WAD
    assert call.vault.total_locked() == 10 * WAD
    put_receipt = put.vault.sell(put_series, 20 * WAD, 0, expiry, sender=trader)
    sold = put_receipt.events.filter(put.vault.Sold)[0]
    assert sold.collateral == 20 * 1800 * USDC
    assert put.token.balanceOf(trader.address) == 100_000 * USDC - 36_000 * USDC + sold.premium
    assert put.vault.short_position(trader.address, put_series).amount == 20 * WAD

    # LPs ask to leave during the epoch: they stay exposed until the roll.
    lp_shares = call.vault.share_balance(lp)
    call.vault.request_withdraw(lp_shares, sender=lp)
    put_shares = put.vault.share_balance(lp)
    put.vault.request_withdraw(put_shares, sender=lp)

    # The price moves, then settles at 2,500 after expiry.
    t = now(handle)
    for step, price in enumerate((2100, 2300, 2450)):
        next_block_at(handle, t + (step + 1) * 86_400)
        market.oracle.push(market.weth.address, price * WAD, VOL, sender=keeper)
    with ape.reverts("vault: not expired"):
        call.vault.settle(sender=keeper)
    next_block_at(handle, expiry + 1)
    market.oracle.push(market.weth.address, 2500 * WAD, VOL, sender=keeper)
    index = market.oracle.observation_count(market.weth.address) - 1
    market.oracle.settle(market.weth.address, expiry, index, sender=keeper)
    with ape.reverts("oracle: in dispute window"):
        call.vault.settle(sender=keeper)
    warp(handle, now(handle) + DISPUTE_WINDOW)
    call.vault.settle(sender=keeper)
    put.vault.settle(sender=keeper)

    # Holders redeem: (2500 - 2200) / 2500 = 0.12 WETH per call; the put expired worthless.
    assert call.vault.payout_per_option(call_series) == 12 * WAD // 100
    paid = call.vault.redeem(call_series, 10 * WAD, sender=trader).events[-1].payout
    assert paid == 12 * WAD // 10
    assert call.longs.balanceOf(trader.address, call_series) == 0
    returned = put.vault.reclaim(put_series, sender=trader).events[-1].returned
    assert returned == 36_000 * USDC
    with ape.reverts("vault: no short position"):
        put.vault.reclaim(put_series, sender=trader)

    # Roll: withdrawals are processed at the exact price per share.
    call_assets = 150 * WAD + call_premium - 12 * WAD // 10
    put_assets = 200_000 * USDC - sold.premium
    assert call.vault.totalAssets() == call_assets
    assert put.vault.totalAssets() == put_assets
    call_supply, put_supply = call.vault.totalSupply(), put.vault.totalSupply()
    start_epoch(handle, market, keeper)
    expected = lp_shares * (call_assets + 1) // (call_supply + VIRTUAL_SHARES)
    assert call.vault.withdraw(sender=lp).events[-1].assets == expected
    assert call.token.balanceOf(lp.address) == expected
    expected_put = put_shares * (put_assets + 1) // (put_supply + VIRTUAL_SHARES)
    assert put.vault.withdraw(sender=lp).events[-1].assets == expected_put
    # The LP earned the call premium minus the payout, pro rata (2/3 of the pool).
    assert abs(expected - (100 * WAD + (call_premium - 12 * WAD // 10) * 2 // 3)) < 10**6
    # The second LP stayed; its shares are worth the rest.
    remaining = call.vault.convertToAssets(call.vault.share_balance(second_lp))
    assert abs(remaining - (call_assets - expected)) < 10**6
    # Every token the call vault holds is accounted for.
    held = call.token.balanceOf(call.vault.address)
    booked = (
        call.vault.total_idle()
        + call.vault.total_locked()
        + call.vault.queued_deposits()
        + call.vault.reserved_for_withdrawals()
        + call.vault.trader_collateral()
        + call.vault.holder_reserve()
    )
    assert held == booked


@pytest.mark.parametrize("is_call", [True, False])
def test_premiums_match_scipy(rollup_a, market, lp, trader, keeper, is_call):
    side = market.call if is_call else market.put
    scale = WAD if is_call else USDC
    fund(side.token, lp, 1_000_000 * scale, side.vault)
    fund(side.token, trader, 1_000_000 * scale, side.vault)
    side.vault.request_deposit(1_000_000 * scale, sender=lp)
    expiry = start_epoch(rollup_a, market, keeper, days=30)
    strike = 2200 * WAD if is_call else 1800 * WAD
    series = side.vault.series_id(expiry, strike)
    amount = 3 * WAD
    ask, bid = side.vault.quote(series, amount)
    seconds = expiry - now(rollup_a)
    price = bs(2000.0, strike / WAD, seconds, 0.8, RATE / WAD, is_call)
    spread = 2000.0 * SPREAD / WAD
    per_unit = 2000.0 if is_call else 1.0  # premiums of a call vault are paid in WETH
    expected_ask = (price + spread) * 3 / per_unit * scale
    expected_bid = (price - spread) * 3 / per_unit * scale
    assert ask == pytest.approx(expected_ask, rel=1e-9, abs=1)  # 1 unit: rounding up
    assert bid == pytest.approx(expected_bid, rel=1e-9, abs=1)  # 1 unit: rounding down
    # The trade charges what the quote said (same block timestamp), and slippage guards hold.
    next_block_at(rollup_a, now(rollup_a) + 1)
    ask_now, bid_now = side.vault.quote(series, amount)  # view at the same timestamp
    next_block_at(rollup_a, now(rollup_a) + 1)
    with ape.reverts("vault: premium above max"):
        side.vault.buy(series, amount, ask // 2, expiry, sender=trader)
    with ape.reverts("vault: premium below min"):
        side.vault.sell(series, amount, bid * 2, expiry, sender=trader)
    receipt = side.vault.buy(series, amount, ask * 101 // 100, expiry, sender=trader)
    assert receipt.events.filter(side.vault.Bought)[0].premium == pytest.approx(ask, rel=1e-6)
    assert ask_now >= bid_now


def test_trade_reverts(rollup_a, market, lp, trader, keeper, deployer):
    call = market.call
    fund(call.token, lp, 100 * WAD, call.vault)
    fund(call.token, trader, 100 * WAD, call.vault)
    call.vault.request_deposit(100 * WAD, sender=lp)
    series0 = call.vault.series_id(now(rollup_a) + 86_400, 2000 * WAD)
    with ape.reverts("vault: series not listed"):
        call.vault.buy(series0, WAD, WAD, now(rollup_a) + 60, sender=trader)
    expiry = start_epoch(rollup_a, market, keeper, days=1)
    series = call.vault.series_id(expiry, 2000 * WAD)
    with ape.reverts("vault: deadline passed"):
        call.vault.buy(series, WAD, WAD, now(rollup_a) - 1, sender=trader)
    with ape.reverts("vault: zero amount"):
        call.vault.buy(series, 0, WAD, expiry, sender=trader)
    with ape.reverts("vault: amount too large"):
        call.vault.sell(series, 10**30 + 1, 0, expiry, sender=trader)
    with ape.reverts("vault: series not listed"):
        call.vault.buy(call.vault.series_id(expiry, 2100 * WAD), WAD, WAD, expiry, sender=trader)
    # Utilisation: at most 80 % of 100 WETH (+ premiums) may be locked.
    with ape.reverts("vault: utilisation cap"):
        call.vault.buy(series, 83 * WAD, 100 * WAD, expiry, sender=trader)
    # A stale oracle refuses trades with the oracle's reason.
    warp(rollup_a, now(rollup_a) + 3_601)
    with ape.reverts("oracle: stale price"):
        call.vault.buy(series, WAD, WAD, expiry, sender=trader)
    with ape.reverts("oracle: stale price"):
        call.vault.sell(series, WAD, 0, expiry, sender=trader)
    # An expired series refuses trades.
    market.oracle.push(market.weth.address, SPOT, VOL, sender=keeper)
    warp(rollup_a, expiry)
    with ape.reverts("vault: series expired"):
        call.vault.buy(series, WAD, WAD, expiry + 10, sender=trader)
    # Settlement needs expiry and a final price; rolls need settlement and the keeper.
    with ape.reverts("vault: epoch not settled"):
        call.vault.roll(expiry + 86_400, [2000 * WAD], sender=keeper)
    with ape.reverts("oracle: not settled"):
        call.vault.settle(sender=trader)


def test_access_control_and_pause(rollup_a, market, lp, trader, keeper, deployer):
    call = market.call
    fund(call.token, lp, 100 * WAD, call.vault)
    fund(call.token, trader, 100 * WAD, call.vault)
    call.vault.request_deposit(50 * WAD, sender=lp)
    with ape.reverts("vault: not the keeper"):
        call.vault.roll(now(rollup_a) + 86_400, [2000 * WAD], sender=trader)
    with ape.reverts("vault: strikes not increasing"):
        call.vault.roll(now(rollup_a) + 86_400, [2000 * WAD, 2000 * WAD], sender=keeper)
    with ape.reverts("vault: expiry in the past"):
        call.vault.roll(now(rollup_a), [2000 * WAD], sender=keeper)
    with ape.reverts("vault: no strikes"):
        call.vault.roll(now(rollup_a) + 86_400, [], sender=keeper)
    for call_ in (
        lambda s: call.vault.pause(sender=s),
        lambda s: call.vault.set_keeper(s.address, sender=s),
        lambda s: call.vault.set_parameters(0, WAD, sender=s),
    ):
        with ape.reverts("ownable: caller is not the owner"):
            call_(trader)
    with ape.reverts("vault: utilisation above 100%"):
        call.vault.set_parameters(0, WAD + 1, sender=deployer)
    with ape.reverts("option token: not the vault"):
        call.longs.mint(trader.address, 1, WAD, sender=trader)
    with ape.reverts("option token: vault already set"):
        call.longs.set_vault(trader.address, sender=deployer)

    expiry = start_epoch(rollup_a, market, keeper)
    series = call.vault.series_id(expiry, 2000 * WAD)
    call.vault.buy(series, 5 * WAD, 5 * WAD, expiry, sender=trader)
    call.vault.request_withdraw(call.vault.share_balance(lp) // 2, sender=lp)
    call.vault.request_deposit(10 * WAD, sender=lp)

    receipt = call.vault.pause(sender=deployer)
    assert receipt.events.filter(call.vault.Paused)
    with ape.reverts("pausable: contract is paused"):
        call.vault.buy(series, WAD, WAD, expiry, sender=trader)
    with ape.reverts("pausable: contract is paused"):
        call.vault.sell(series, WAD, 0, expiry, sender=trader)
    with ape.reverts("pausable: contract is paused"):
        call.vault.request_deposit(WAD, sender=lp)
    # Never paused: cancelling, withdrawal requests, settlement, redemption, roll, withdrawal.
    assert call.vault.cancel_deposit(sender=lp).events[-1].assets == 10 * WAD
    call.vault.cancel_withdraw(sender=lp)
    call.vault.request_withdraw(call.vault.share_balance(lp) // 2, sender=lp)
    settle_at(rollup_a, market, keeper, expiry, 2100 * WAD)
    assert call.vault.redeem(series, 5 * WAD, sender=trader).events[-1].payout > 0
    start_epoch(rollup_a, market, keeper)
    assert call.vault.withdraw(sender=lp).events[-1].assets > 0
    with ape.reverts("vault: nothing to withdraw"):
        call.vault.withdraw(sender=lp)


def test_erc4626_views_and_donation(rollup_a, market, lp, trader, keeper):
    put = market.put
    fund(put.token, lp, 10_000 * USDC, put.vault)
    fund(put.token, trader, 10_000 * USDC, put.vault)
    assert put.vault.asset() == put.token.address
    assert put.vault.decimals() == 12
    put.vault.request_deposit(10_000 * USDC, sender=lp)
    start_epoch(rollup_a, market, keeper)
    shares = put.vault.share_balance(lp)
    assert put.vault.totalSupply() == shares
    assert put.vault.convertToAssets(shares) == 10_000 * USDC
    assert put.vault.convertToShares(10_000 * USDC) == shares
    for view in ("maxDeposit", "maxMint", "maxWithdraw", "maxRedeem"):
        assert getattr(put.vault, view)(lp.address) == 0
    with ape.reverts("vault: asynchronous, use request_deposit"):
        put.vault.previewDeposit(USDC)
    with ape.reverts("vault: asynchronous, use request_withdraw"):
        put.vault.previewRedeem(USDC)
    # A donation does not move the price per share.
    put.token.transfer(put.vault.address, 5_000 * USDC, sender=trader)
    assert put.vault.totalAssets() == 10_000 * USDC
    assert put.vault.convertToAssets(shares) == 10_000 * USDC


def test_disputed_settlement_price_is_corrected_before_the_vault_settles(
    rollup_a, market, lp, trader, keeper, deployer
):
    call = market.call
    fund(call.token, lp, 100 * WAD, call.vault)
    fund(call.token, trader, 100 * WAD, call.vault)
    call.vault.request_deposit(100 * WAD, sender=lp)
    expiry = start_epoch(rollup_a, market, keeper)
    series = call.vault.series_id(expiry, 2000 * WAD)
    call.vault.buy(series, 10 * WAD, 10 * WAD, expiry, sender=trader)
    with ape.reverts("vault: series not settled"):
        call.vault.redeem(series, 10 * WAD, sender=trader)

    # A bad print lands first after expiry; the owner corrects it inside the dispute window.
    next_block_at(rollup_a, expiry + 1)
    market.oracle.push(market.weth.address, 2900 * WAD, VOL, sender=keeper)
    index = market.oracle.observation_count(market.weth.address) - 1
    market.oracle.settle(market.weth.address, expiry, index, sender=trader)
    with ape.reverts("oracle: in dispute window"):
        call.vault.settle(sender=trader)
    with ape.reverts("ownable: caller is not the owner"):
        market.oracle.correct_settlement(market.weth.address, expiry, 2100 * WAD, sender=keeper)
    market.oracle.correct_settlement(market.weth.address, expiry, 2100 * WAD, sender=deployer)
    warp(rollup_a, now(rollup_a) + DISPUTE_WINDOW)
    receipt = call.vault.settle(sender=trader)
    assert receipt.events.filter(call.vault.Settled)[0].price == 2100 * WAD
    with ape.reverts("vault: nothing to settle"):
        call.vault.settle(sender=trader)
    # (2100 - 2000) / 2100 WETH per call, rounded down.
    per_option = 100 * WAD * WAD // (2100 * WAD)
    assert call.vault.payout_per_option(series) == per_option
    paid = call.vault.redeem(series, 10 * WAD, sender=trader).events[-1].payout
    assert paid == 10 * per_option


def test_vault_settles_on_the_fallback_price_after_a_feed_outage(
    rollup_a, market, lp, trader, keeper
):
    call, oracle, weth = market.call, market.oracle, market.weth.address
    fund(call.token, lp, 100 * WAD, call.vault)
    fund(call.token, trader, 100 * WAD, call.vault)
    call.vault.request_deposit(100 * WAD, sender=lp)
    expiry = start_epoch(rollup_a, market, keeper)
    series = call.vault.series_id(expiry, 2000 * WAD)
    call.vault.buy(series, 10 * WAD, 10 * WAD, expiry, sender=trader)
    call.vault.request_withdraw(call.vault.share_balance(lp), sender=lp)

    # The last update lands a minute before expiry; then the feed stops for good.
    next_block_at(rollup_a, expiry - 60)
    oracle.push(weth, 2300 * WAD, VOL, sender=keeper)
    index = oracle.observation_count(weth) - 1
    warp(rollup_a, expiry + oracle.FALLBACK_DELAY())
    with ape.reverts("oracle: not settled"):
        call.vault.settle(sender=trader)
    oracle.settle_fallback(weth, expiry, index, sender=trader)
    with ape.reverts("oracle: in dispute window"):
        call.vault.settle(sender=trader)
    warp(rollup_a, now(rollup_a) + DISPUTE_WINDOW)
    receipt = call.vault.settle(sender=trader)
    assert receipt.events.filter(call.vault.Settled)[0].price == 2300 * WAD
    market.put.vault.settle(sender=trader)

    # The holder redeems (2300 - 2000) / 2300 WETH per call; the LP leaves at the next roll.
    per_option = 300 * WAD * WAD // (2300 * WAD)
    assert call.vault.payout_per_option(series) == per_option
    paid = call.vault.redeem(series, 10 * WAD, sender=trader).events[-1].payout
    assert paid == 10 * per_option
    next_block_at(rollup_a, now(rollup_a) + 1)
    oracle.push(weth, 2300 * WAD, VOL, sender=keeper)  # the feed is back for the next epoch
    start_epoch(rollup_a, market, keeper)
    assert call.vault.withdraw(sender=lp).events[-1].assets > 0
    assert call.vault.share_balance(lp) == 0
