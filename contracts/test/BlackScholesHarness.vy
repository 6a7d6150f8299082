# pragma version ~=0.4.3
"""
@title Black-Scholes test harness
@custom:contract-name BlackScholesHarness
@license AGPL-3.0-only
@notice Test-only: exposes `contracts/lib/black_scholes.vy` for tests and `bench/black_scholes.py`,
        with the gas of one pricing call measured inside the EVM (`msg.gas` before and after).
"""

from contracts.lib import black_scholes


@view
@external
def call_price(
    spot: uint256, strike: uint256, seconds: uint256, volatility: uint256, rate: uint256
) -> uint256:
    """
    @notice The call price, wad (spot, strike wad; seconds; volatility, rate wad per year).
    """
    return black_scholes._price(spot, strike, seconds, volatility, rate, True)


@view
@external
def put_price(
    spot: uint256, strike: uint256, seconds: uint256, volatility: uint256, rate: uint256
) -> uint256:
    """
    @notice The put price, wad.
    """
    return black_scholes._price(spot, strike, seconds, volatility, rate, False)


@view
@external
def delta(
    spot: uint256, strike: uint256, seconds: uint256, volatility: uint256, rate: uint256, is_call: bool
) -> int256:
    """
    @notice The delta of a call or put, signed wad.
    """
    return black_scholes._delta(spot, strike, seconds, volatility, rate, is_call)


@view
@external
def ncdf(x: int256) -> int256:
    """
    @notice The standard normal CDF, wad in and out.
    """
    return black_scholes._ncdf(x)


@view
@external
def price_with_gas(
    spot: uint256, strike: uint256, seconds: uint256, volatility: uint256, rate: uint256, is_call: bool
) -> (uint256, uint256):
    """
    @notice The price (wad) and the gas that computing it took inside the EVM.
    """
    before: uint256 = msg.gas
    price: uint256 = black_scholes._price(spot, strike, seconds, volatility, rate, is_call)
    return price, before - msg.gas
