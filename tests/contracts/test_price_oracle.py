"""PriceOracle on rollup A: signed and pushed updates, bounds, staleness, settlement, disputes."""

from __future__ import annotations

import ape
import pytest
from ape import project
from options_helpers import WAD, next_block_at, now, sign_price_update, warp

MAX_AGE = 3_600
DISPUTE_WINDOW = 1_800
DEVIATION = WAD // 5  # 20 %
VOL = 8 * WAD // 10


@pytest.fixture
def signer(accounts):
    return accounts[8]


@pytest.fixture
def env(rollup_a, deployer, keeper, signer):
    with rollup_a.use():
        token = project.TestToken.deploy("Wrapped Ether", "WETH", 18, sender=deployer)
        oracle = project.PriceOracle.deploy(MAX_AGE, DISPUTE_WINDOW, sender=deployer)
        oracle.configure_asset(token.address, DEVIATION, sender=deployer)
        oracle.set_signer(signer.address, True, sender=deployer)
        oracle.set_reporter(keeper.address, True, sender=deployer)
        yield rollup_a, oracle, str(token.address)


def signed(oracle, handle, asset, spot, vol, ts, account):
    return sign_price_update(oracle, handle.chain_id, asset, spot, vol, ts, account.private_key)


def test_signed_update_relayed_by_anyone(env, signer, relayer):
    handle, oracle, asset = env
    ts = now(handle)
    sig = signed(oracle, handle, asset, 2000 * WAD, VOL, ts, signer)
    receipt = oracle.submit_signed(asset, 2000 * WAD, VOL, ts, sig, sender=relayer)
    [event] = receipt.events.filter(oracle.PriceUpdated)
    assert event.source == signer.address and event.index == 0
    # the log's own `timestamp` argument: ape's `event.timestamp` is the block's time
    assert event.spot == 2000 * WAD and event.volatility == VOL
    assert event.event_arguments["timestamp"] == ts
    assert oracle.latest(asset) == (2000 * WAD, VOL, ts)


def test_signature_checks(env, signer, relayer, trader):
    handle, oracle, asset = env
    ts = now(handle)
    sig = signed(oracle, handle, asset, 2000 * WAD, VOL, ts, signer)
    with ape.reverts("oracle: not an authorised signer"):  # the message was altered
        oracle.submit_signed(asset, 2001 * WAD, VOL, ts, sig, sender=relayer)
    impostor = signed(oracle, handle, asset, 2000 * WAD, VOL, ts, trader)
    with ape.reverts("oracle: not an authorised signer"):
        oracle.submit_signed(asset, 2000 * WAD, VOL, ts, impostor, sender=relayer)
    oracle.submit_signed(asset, 2000 * WAD, VOL, ts, sig, sender=relayer)
    with ape.reverts("oracle: timestamp not increasing"):  # a replay
        oracle.submit_signed(asset, 2000 * WAD, VOL, ts, sig, sender=relayer)
    future = now(handle) + 600
    early = signed(oracle, handle, asset, 2000 * WAD, VOL, future, signer)
    with ape.reverts("oracle: timestamp in the future"):
        oracle.submit_signed(asset, 2000 * WAD, VOL, future, early, sender=relayer)


def test_signature_is_bound_to_its_rollup(env, rollup_b, deployer, signer, relayer):
    handle, oracle_a, asset = env
    ts = now(handle)
    sig = signed(oracle_a, handle, asset, 2000 * WAD, VOL, ts, signer)
    with rollup_b.use():
        oracle_b = project.PriceOracle.deploy(MAX_AGE, DISPUTE_WINDOW, sender=deployer)
        oracle_b.configure_asset(asset, DEVIATION, sender=deployer)
        oracle_b.set_signer(signer.address, True, sender=deployer)
        warp(rollup_b, ts + 1)
        with ape.reverts("oracle: not an authorised signer"):
            oracle_b.submit_signed(asset, 2000 * WAD, VOL, ts, sig, sender=relayer)
        own = signed(oracle_b, rollup_b, asset, 2000 * WAD, VOL, ts, signer)
        oracle_b.submit_signed(asset, 2000 * WAD, VOL, ts, own, sender=relayer)
        assert oracle_b.observation_count(asset) == 1


def test_push_by_reporter_only_and_input_bounds(env, keeper, trader, deployer):
    handle, oracle, asset = env
    with ape.reverts("oracle: not a reporter"):
        oracle.push(asset, 2000 * WAD, VOL, sender=trader)
    with ape.reverts("oracle: unknown asset"):
        oracle.push(deployer.address, 2000 * WAD, VOL, sender=keeper)
    with ape.reverts("oracle: zero spot"):
        oracle.push(asset, 0, VOL, sender=keeper)
    with ape.reverts("oracle: volatility out of range"):
        oracle.push(asset, 2000 * WAD, 0, sender=keeper)
    with ape.reverts("oracle: volatility out of range"):
        oracle.push(asset, 2000 * WAD, 5 * WAD + 1, sender=keeper)
    receipt = oracle.push(asset, 2000 * WAD, VOL, sender=keeper)
    assert receipt.events.filter(oracle.PriceUpdated)[0].source == keeper.address
    t = now(handle)
    next_block_at(handle, t)
    with ape.reverts("oracle: timestamp not increasing"):
        oracle.push(asset, 2000 * WAD, VOL, sender=keeper)


def test_deviation_bound_and_staleness(env, keeper):
    handle, oracle, asset = env
    oracle.push(asset, 1000 * WAD, VOL, sender=keeper)
    t = now(handle)
    next_block_at(handle, t + 10)
    with ape.reverts("oracle: deviation too large"):
        oracle.push(asset, 1201 * WAD, VOL, sender=keeper)
    next_block_at(handle, t + 11)
    oracle.push(asset, 1200 * WAD, VOL, sender=keeper)  # exactly 20 %
    next_block_at(handle, t + 12)
    with ape.reverts("oracle: deviation too large"):
        oracle.push(asset, 959 * WAD, VOL, sender=keeper)
    assert oracle.latest(asset)[0] == 1200 * WAD
    warp(handle, t + 11 + MAX_AGE + 1)
    with ape.reverts("oracle: stale price"):
        oracle.latest(asset)
    # After an outage the bound no longer anchors to the stale price.
    oracle.push(asset, 3000 * WAD, VOL, sender=keeper)
    assert oracle.latest(asset)[0] == 3000 * WAD


def test_settlement_dispute_and_finality(env, keeper, deployer, trader):
    handle, oracle, asset = env
    t = now(handle)
    expiry = t + 100
    next_block_at(handle, t + 50)
    oracle.push(asset, 1000 * WAD, VOL, sender=keeper)  # index 0: before expiry
    with ape.reverts("oracle: no such observation"):
        oracle.settle(asset, expiry, 1, sender=trader)
    next_block_at(handle, expiry + 5)
    oracle.push(asset, 1100 * WAD, VOL, sender=keeper)  # index 1: first at/after expiry
    next_block_at(handle, expiry + 9)
    oracle.push(asset, 1150 * WAD, VOL, sender=keeper)  # index 2
    with ape.reverts("oracle: observation before expiry"):
        oracle.settle(asset, expiry, 0, sender=trader)
    with ape.reverts("oracle: not the first at expiry"):
        oracle.settle(asset, expiry, 2, sender=trader)
    with ape.reverts("oracle: not settled"):
        oracle.final_price(asset, expiry)
    receipt = oracle.settle(asset, expiry, 1, sender=trader)
    recorded_at = now(handle)
    [event] = receipt.events.filter(oracle.SettlementRecorded)
    assert event.price == 1100 * WAD and event.observed_at == expiry + 5
    assert event.final_at == recorded_at + DISPUTE_WINDOW
    assert event.source == oracle.SOURCE_AT_EXPIRY() == 0
    with ape.reverts("oracle: already settled"):
        oracle.settle(asset, expiry, 1, sender=trader)
    with ape.reverts("oracle: in dispute window"):
        oracle.final_price(asset, expiry)
    assert not oracle.is_final(asset, expiry)
    with ape.reverts("ownable: caller is not the owner"):
        oracle.correct_settlement(asset, expiry, 1090 * WAD, sender=trader)
    receipt = oracle.correct_settlement(asset, expiry, 1090 * WAD, sender=deployer)
    [corrected] = receipt.events.filter(oracle.SettlementCorrected)
    assert corrected.previous_price == 1100 * WAD and corrected.price == 1090 * WAD
    warp(handle, recorded_at + DISPUTE_WINDOW)
    assert oracle.is_final(asset, expiry)
    assert oracle.final_price(asset, expiry) == 1090 * WAD
    settlement = oracle.settlement(asset, expiry)
    assert settlement.corrected and settlement.source == oracle.SOURCE_AT_EXPIRY()
    with ape.reverts("oracle: settlement is final"):
        oracle.correct_settlement(asset, expiry, 1000 * WAD, sender=deployer)


def test_fallback_settlement_when_the_feed_stops(env, keeper, deployer, trader):
    handle, oracle, asset = env
    delay = oracle.FALLBACK_DELAY()
    assert delay == 86_400
    t = now(handle)
    early, expiry = t + 20, t + 5_000
    next_block_at(handle, t + 10)
    oracle.push(asset, 1000 * WAD, VOL, sender=keeper)  # index 0
    next_block_at(handle, expiry - 100)
    oracle.push(asset, 1050 * WAD, VOL, sender=keeper)  # index 1: the last; then the feed stops
    warp(handle, expiry + delay - 60)
    with ape.reverts("oracle: fallback delay not over"):
        oracle.settle_fallback(asset, expiry, 1, sender=trader)
    with ape.reverts("oracle: fallback delay not over"):  # an expiry in the future
        oracle.settle_fallback(asset, 2**256 - 1, 1, sender=trader)
    # `early` has an observation after it (index 1): only the normal path settles it.
    with ape.reverts("oracle: observed at expiry, use settle"):
        oracle.settle_fallback(asset, early, 0, sender=trader)
    oracle.settle(asset, early, 1, sender=trader)
    warp(handle, expiry + delay)
    with ape.reverts("oracle: no such observation"):
        oracle.settle_fallback(asset, expiry, 2, sender=trader)
    with ape.reverts("oracle: not the last before expiry"):
        oracle.settle_fallback(asset, expiry, 0, sender=trader)
    with ape.reverts("oracle: observation before expiry"):
        oracle.settle(asset, expiry, 1, sender=trader)
    receipt = oracle.settle_fallback(asset, expiry, 1, sender=trader)
    recorded_at = now(handle)
    [event] = receipt.events.filter(oracle.SettlementRecorded)
    assert event.price == 1050 * WAD and event.observed_at == expiry - 100
    assert event.final_at == recorded_at + DISPUTE_WINDOW
    assert event.source == oracle.SOURCE_FALLBACK() == 1
    with ape.reverts("oracle: already settled"):
        oracle.settle_fallback(asset, expiry, 1, sender=trader)
    # The dispute window applies as to a normal settlement.
    with ape.reverts("oracle: in dispute window"):
        oracle.final_price(asset, expiry)
    assert not oracle.is_final(asset, expiry)
    oracle.correct_settlement(asset, expiry, 1040 * WAD, sender=deployer)
    warp(handle, recorded_at + DISPUTE_WINDOW)
    assert oracle.is_final(asset, expiry)
    assert oracle.final_price(asset, expiry) == 1040 * WAD
    settlement = oracle.settlement(asset, expiry)
    assert settlement.corrected and settlement.source == oracle.SOURCE_FALLBACK()
    assert settlement.observed_at == expiry - 100 and settlement.recorded_at == recorded_at

    # The last observation may be at most MAX_AGE before the expiry.
    oldest = expiry - 100 + MAX_AGE
    warp(handle, oldest + 1 + delay)
    with ape.reverts("oracle: last observation too old"):
        oracle.settle_fallback(asset, oldest + 1, 1, sender=trader)
    assert oracle.settle_fallback(asset, oldest, 1, sender=trader).return_value == 1050 * WAD


def test_owner_settles_when_no_observation_is_usable(env, keeper, deployer, trader):
    handle, oracle, asset = env
    delay = oracle.FALLBACK_DELAY()
    t = now(handle)
    next_block_at(handle, t + 10)
    oracle.push(asset, 1000 * WAD, VOL, sender=keeper)  # the only observation
    fresh, stale = t + 100, t + 11 + MAX_AGE  # last observation 90 s / MAX_AGE + 1 s before
    warp(handle, stale + delay - 60)
    with ape.reverts("oracle: fallback delay not over"):
        oracle.settle_by_owner(asset, stale, 990 * WAD, sender=deployer)
    warp(handle, stale + delay)
    with ape.reverts("ownable: caller is not the owner"):
        oracle.settle_by_owner(asset, stale, 990 * WAD, sender=trader)
    with ape.reverts("oracle: unknown asset"):
        oracle.settle_by_owner(trader.address, stale, 990 * WAD, sender=deployer)
    with ape.reverts("oracle: zero spot"):
        oracle.settle_by_owner(asset, stale, 0, sender=deployer)
    # Whenever an observation can settle, the owner may not.
    with ape.reverts("oracle: observation usable, use settle_fallback"):
        oracle.settle_by_owner(asset, fresh, 990 * WAD, sender=deployer)
    with ape.reverts("oracle: observed at expiry, use settle"):
        oracle.settle_by_owner(asset, t + 5, 990 * WAD, sender=deployer)
    with ape.reverts("oracle: last observation too old"):
        oracle.settle_fallback(asset, stale, 0, sender=trader)
    receipt = oracle.settle_by_owner(asset, stale, 990 * WAD, sender=deployer)
    recorded_at = now(handle)
    [event] = receipt.events.filter(oracle.SettlementRecorded)
    assert event.price == 990 * WAD and event.observed_at == 0
    assert event.source == oracle.SOURCE_OWNER() == 2
    assert event.final_at == recorded_at + DISPUTE_WINDOW
    with ape.reverts("oracle: already settled"):
        oracle.settle_by_owner(asset, stale, 991 * WAD, sender=deployer)
    with ape.reverts("oracle: in dispute window"):
        oracle.final_price(asset, stale)
    warp(handle, recorded_at + DISPUTE_WINDOW)
    assert oracle.final_price(asset, stale) == 990 * WAD
    assert oracle.settlement(asset, stale).source == oracle.SOURCE_OWNER()


def test_owner_settles_an_asset_never_observed(env, deployer, trader):
    handle, oracle, asset = env
    expiry = now(handle) + 10
    warp(handle, expiry + oracle.FALLBACK_DELAY())
    with ape.reverts("oracle: no such observation"):
        oracle.settle_fallback(asset, expiry, 0, sender=trader)
    receipt = oracle.settle_by_owner(asset, expiry, 1234 * WAD, sender=deployer)
    assert receipt.events.filter(oracle.SettlementRecorded)[0].source == oracle.SOURCE_OWNER()
    assert oracle.settlement(asset, expiry).price == 1234 * WAD


def test_administration_is_owner_only(env, trader, deployer):
    _, oracle, asset = env
    with ape.reverts("ownable: caller is not the owner"):
        oracle.configure_asset(asset, WAD, sender=trader)
    with ape.reverts("ownable: caller is not the owner"):
        oracle.set_signer(trader.address, True, sender=trader)
    with ape.reverts("ownable: caller is not the owner"):
        oracle.set_reporter(trader.address, True, sender=trader)
    with ape.reverts("oracle: zero deviation bound"):
        oracle.configure_asset(asset, 0, sender=deployer)
    receipt = oracle.set_reporter(trader.address, True, sender=deployer)
    assert receipt.events.filter(oracle.ReporterSet)[0].reporter == trader.address
    receipt = oracle.configure_asset(asset, WAD // 10, sender=deployer)
    assert receipt.events.filter(oracle.AssetConfigured)[0].max_deviation == WAD // 10
