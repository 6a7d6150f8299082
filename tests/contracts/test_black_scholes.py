"""contracts/lib/black_scholes.vy through the test-only BlackScholesHarness, on the L1 (pure maths).

Prices against scipy, put-call parity, the normal CDF's bound, delta, the near-zero clamp and
every domain revert with its reason.
"""

from __future__ import annotations

import math
from decimal import Decimal

import ape
import pytest
from ape import project
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import ndtr

WAD = 10**18
YEAR = 365 * 86_400


@pytest.fixture(scope="module")
def bs(accounts):
    return project.BlackScholesHarness.deploy(sender=accounts[0])


def reference(spot, strike, seconds, vol, rate, is_call):
    t = seconds / YEAR
    sd = vol * math.sqrt(t)
    d1 = (math.log(spot / strike) + rate * t) / sd + sd / 2
    kd = strike * math.exp(-rate * t)
    if is_call:
        return float(spot * ndtr(d1) - kd * ndtr(d1 - sd))
    return float(kd * ndtr(sd - d1) - spot * ndtr(-d1))


CASES = [
    # spot, strike, seconds, vol, rate
    (1000, 1000, 30 * 86_400, 0.5, 0.0),
    (1000, 1500, YEAR, 0.8, 0.05),
    (1000, 600, 3_600, 0.05, 0.10),
    (1000, 2000, 2 * YEAR, 3.0, 0.01),
    (2500, 2400, 7 * 86_400, 0.65, 0.03),
    (1, 1.2, 91 * 86_400, 1.2, 0.0),
]


@pytest.mark.parametrize("case", CASES)
def test_prices_match_scipy(bs, case):
    spot, strike, seconds, vol, rate = case
    args = (int(spot * WAD), int(strike * WAD), seconds, int(vol * WAD), int(rate * WAD))
    call = bs.call_price(*args) / WAD
    put = bs.put_price(*args) / WAD
    scale = max(spot, strike)
    assert call == pytest.approx(
        reference(spot, strike, seconds, vol, rate, True), abs=1e-12 * scale
    )
    assert put == pytest.approx(
        reference(spot, strike, seconds, vol, rate, False), abs=1e-12 * scale
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    strike=st.integers(min_value=500 * WAD, max_value=2000 * WAD),
    seconds=st.integers(min_value=1, max_value=5 * YEAR),
    vol=st.integers(min_value=10**15, max_value=5 * WAD),
    rate=st.integers(min_value=0, max_value=WAD // 5),
)
def test_put_call_parity(bs, strike, seconds, vol, rate):
    spot = 1000 * WAD
    call = bs.call_price(spot, strike, seconds, vol, rate)
    put = bs.put_price(spot, strike, seconds, vol, rate)
    rt = Decimal(rate) / WAD * Decimal(seconds) / YEAR
    discounted = Decimal(strike) / WAD * (-rt).exp()  # 28 significant digits
    # C - P = S - K e^(-rT), to 1e-12 in price units (absolute, at spot 1000).
    assert abs(Decimal(call - put) / WAD - (1000 - discounted)) <= Decimal("1e-12")


def test_normal_cdf_bound(bs):
    """N(x) within 1e-15 of scipy on a dense grid (the fit's bound is 3e-16 vs 80 digits)."""
    worst = 0.0
    for i in range(-900, 901, 7):
        x = i / 100 + 0.003
        onchain = bs.ncdf(int(x * WAD)) / WAD
        worst = max(worst, abs(onchain - float(ndtr(int(x * WAD) / WAD))))
    assert worst < 1e-15
    assert bs.ncdf(0) == pytest.approx(WAD // 2, abs=100)
    assert bs.ncdf(40 * WAD) == WAD
    assert bs.ncdf(-40 * WAD) == 0


def test_delta(bs):
    spot, strike, seconds, vol, rate = 1000 * WAD, 1100 * WAD, 60 * 86_400, 6 * WAD // 10, 0
    t = seconds / YEAR
    sd = 0.6 * math.sqrt(t)
    d1 = math.log(1000 / 1100) / sd + sd / 2
    assert bs.delta(spot, strike, seconds, vol, rate, True) / WAD == pytest.approx(
        float(ndtr(d1)), abs=1e-15
    )
    assert bs.delta(spot, strike, seconds, vol, rate, False) / WAD == pytest.approx(
        float(ndtr(d1)) - 1, abs=1e-15
    )


def test_near_zero_time_or_volatility_returns_intrinsic(bs):
    spot, rate = 1000 * WAD, 5 * WAD // 100
    # T = 0: undiscounted intrinsic value.
    assert bs.call_price(spot, 900 * WAD, 0, WAD // 2, rate) == 100 * WAD
    assert bs.put_price(spot, 900 * WAD, 0, WAD // 2, rate) == 0
    assert bs.put_price(spot, 1100 * WAD, 0, WAD // 2, rate) == 100 * WAD
    # sigma = 0 with time left: the discounted intrinsic value max(S - K e^(-rT), 0).
    discounted = 1010 * math.exp(-0.05 * 0.5)
    assert bs.call_price(spot, 1010 * WAD, YEAR // 2, 0, rate) / WAD == pytest.approx(
        1000 - discounted, abs=1e-12
    )
    assert bs.put_price(spot, 1010 * WAD, YEAR // 2, 0, rate) == 0
    # sigma * sqrt(T) of a few wei: no revert, within wei of the intrinsic value.
    assert bs.call_price(spot, 900 * WAD, 1, 1, 0) == 100 * WAD
    assert bs.delta(spot, 900 * WAD, 0, WAD, 0, True) == WAD
    assert bs.delta(spot, 1100 * WAD, 0, WAD, 0, True) == 0
    # One second, 5 % vol, at the money: the closed form still applies (no clamp).
    tiny = bs.call_price(spot, spot, 1, 5 * WAD // 100, 0) / WAD
    assert tiny == pytest.approx(reference(1000, 1000, 1, 0.05, 0.0, True), rel=1e-9)


@pytest.mark.parametrize(
    "args,reason",
    [
        ((0, 1000 * WAD, YEAR, WAD, 0), "bs: spot out of range"),
        ((10**37, 10**37, YEAR, WAD, 0), "bs: spot out of range"),
        ((1000 * WAD, 10**5, YEAR, WAD, 0), "bs: strike out of range"),
        ((1000 * WAD, 9 * WAD, YEAR, WAD, 0), "bs: spot/strike out of range"),
        ((1000 * WAD, 100_001 * WAD, YEAR, WAD, 0), "bs: spot/strike out of range"),
        ((1000 * WAD, 1000 * WAD, YEAR, 5 * WAD + 1, 0), "bs: volatility above 500%"),
        ((1000 * WAD, 1000 * WAD, 5 * YEAR + 1, WAD, 0), "bs: time above 5 years"),
        ((1000 * WAD, 1000 * WAD, YEAR, WAD, WAD + 1), "bs: rate above 100%"),
    ],
)
def test_domain_reverts_with_reason(bs, args, reason):
    with ape.reverts(reason):
        bs.call_price(*args)
    with ape.reverts(reason):
        bs.put_price(*args)


def test_domain_edges_are_priced(bs):
    """The edges of the documented domain price without reverting, and stay within bounds."""
    spot = 1000 * WAD
    for strike in (10 * WAD, 100_000 * WAD):
        for args in ((spot, strike, 5 * YEAR, 5 * WAD, WAD), (spot, strike, 1, 1, 0)):
            call, put = bs.call_price(*args), bs.put_price(*args)
            assert call <= spot
            assert put <= strike
