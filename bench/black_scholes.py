"""Benchmark: on-chain Black-Scholes (`contracts/lib/black_scholes.vy`) against scipy, same run.

    .venv/bin/python bench/black_scholes.py

Starts its own anvil, deploys the test-only `BlackScholesHarness`, prices every call and put of
the issue's grid on-chain (spot 1000; strike 500-2000; time 1 hour-2 years; volatility 5 %-300 %;
rate 0-10 %) and with scipy, and prints the max absolute error, the max relative error (over
prices of at least MIN_PRICE_FOR_RELATIVE), and the mean and max gas of one pricing call measured
inside the EVM (`msg.gas` around the library call, so no transaction or ABI overhead). scipy's
float64 reference resolves prices near 1,000 only to ~1e-13, so the error is also measured against
a 60-digit Decimal evaluation of the same formula (`normal_cdf_fit.ncdf`). Compares
them to the targets (max abs error <= 1e-10, mean gas <= 6,000) and to Lyra v1 (about 13,400 gas).
Writes bench/results/black_scholes.{json,md}. Owns nothing on-chain beyond its own anvil.
"""

from __future__ import annotations

import itertools
import math
import statistics
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from scipy.special import ndtr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _evm import anvil, compile_contract, deploy, write_results  # noqa: E402
from normal_cdf_fit import ncdf  # noqa: E402  (80-digit decimal arithmetic)

WAD = 10**18
YEAR = 365 * 86_400
SPOT = 1000.0
STRIKES = [500, 600, 750, 900, 1000, 1100, 1250, 1500, 1750, 2000]
TIMES = [3_600, 86_400, 7 * 86_400, 30 * 86_400, 91 * 86_400, 182 * 86_400, YEAR, 2 * YEAR]
VOLATILITIES = [0.05, 0.10, 0.20, 0.35, 0.50, 0.75, 1.00, 1.50, 2.00, 3.00]
RATES = [0.0, 0.01, 0.05, 0.10]
TARGET_ABS_ERROR = 1e-10
TARGET_MEAN_GAS = 6_000
LYRA_V1_GAS = 13_400  # Lyra v1 BlackScholes, as quoted in the issue
MIN_PRICE_FOR_RELATIVE = 1e-6


def scipy_price(spot: float, strike: float, seconds: int, vol: float, rate: float, is_call: bool):
    t = seconds / YEAR
    sd = vol * math.sqrt(t)
    d1 = (math.log(spot / strike) + rate * t) / sd + sd / 2
    d2 = d1 - sd
    kd = strike * math.exp(-rate * t)
    if is_call:
        return float(spot * ndtr(d1) - kd * ndtr(d2))
    return float(kd * ndtr(-d2) - spot * ndtr(-d1))


def exact_price(
    spot: int, strike: int, seconds: int, vol: int, rate: int, is_call: bool
) -> Decimal:
    """The price to ~60 digits from the on-chain inputs (wad integers), in Decimal."""
    s, k = Decimal(spot) / WAD, Decimal(strike) / WAD
    t = Decimal(seconds) / YEAR
    sd = Decimal(vol) / WAD * t.sqrt()
    rt = Decimal(rate) / WAD * t
    d1 = ((s / k).ln() + rt) / sd + sd / 2
    d2 = d1 - sd
    kd = k * (-rt).exp()

    def n(x: Decimal) -> Decimal:  # the Taylor series is exact enough up to |x| = 12
        if abs(x) > 12:
            return Decimal(1) if x > 0 else Decimal(0)
        return ncdf(x)

    if is_call:
        return s * n(d1) - kd * n(d2)
    return kd * (1 - n(d2)) - s * (1 - n(d1))


@dataclass(frozen=True)
class Point:
    strike: int
    seconds: int
    vol: float
    rate: float
    is_call: bool
    onchain: float
    reference: float
    exact_error: float  # |on-chain - 60-digit reference|, from the exact integers
    gas: int


def wad(x: float) -> int:
    return round(x * WAD)


def run() -> list[Point]:
    harness_code = compile_contract("contracts/test/BlackScholesHarness.vy")
    points = []
    with anvil() as w3:
        harness = deploy(w3, harness_code)
        grid = itertools.product(STRIKES, TIMES, VOLATILITIES, RATES, (True, False))
        for strike, seconds, vol, rate, is_call in grid:
            args = (wad(SPOT), strike * WAD, seconds, wad(vol), wad(rate), is_call)
            price, gas = harness.functions.price_with_gas(*args).call()
            ref = scipy_price(SPOT, float(strike), seconds, vol, rate, is_call)
            exact = exact_price(*args)
            exact_error = float(abs(Decimal(price) / WAD - exact))
            points.append(
                Point(strike, seconds, vol, rate, is_call, price / WAD, ref, exact_error, gas)
            )
    return points


def main() -> None:
    started = time.monotonic()
    points = run()
    abs_errors = [abs(p.onchain - p.reference) for p in points]
    rel_errors = [
        abs(p.onchain - p.reference) / p.reference
        for p in points
        if p.reference >= MIN_PRICE_FOR_RELATIVE
    ]
    gas = [p.gas for p in points]
    worst = max(points, key=lambda p: abs(p.onchain - p.reference))
    max_abs, max_rel = float(max(abs_errors)), float(max(rel_errors))
    mean_gas, max_gas = statistics.fmean(gas), max(gas)
    max_exact = max(p.exact_error for p in points)
    abs_ok, gas_ok = max_abs <= TARGET_ABS_ERROR, mean_gas <= TARGET_MEAN_GAS
    lines = [
        f"Black-Scholes on-chain vs scipy: {len(points)} prices (calls and puts), spot {SPOT:g}",
        f"  grid: strikes {STRIKES[0]}-{STRIKES[-1]} ({len(STRIKES)}), times 1 h-2 y "
        f"({len(TIMES)}), vols {VOLATILITIES[0]:.0%}-{VOLATILITIES[-1]:.0%} "
        f"({len(VOLATILITIES)}), rates {RATES[0]:.0%}-{RATES[-1]:.0%} ({len(RATES)})",
        f"  max abs error   {max_abs:.3e}   target <= {TARGET_ABS_ERROR:.0e}   "
        f"{'MET' if abs_ok else 'NOT MET'}",
        f"    (worst: {'call' if worst.is_call else 'put'} K={worst.strike} T={worst.seconds}s "
        f"vol={worst.vol:.0%} r={worst.rate:.0%}: {worst.onchain!r} vs {worst.reference!r})",
        f"  max rel error   {max_rel:.3e}   (prices >= {MIN_PRICE_FOR_RELATIVE:g})",
        f"  max abs error vs a 60-digit reference (no float64 rounding): {max_exact:.3e}",
        f"  gas per price   mean {mean_gas:,.0f}  max {max_gas:,}  min {min(gas):,}   "
        f"target mean <= {TARGET_MEAN_GAS:,}   {'MET' if gas_ok else 'NOT MET'}   "
        f"(Lyra v1 ~{LYRA_V1_GAS:,}: {LYRA_V1_GAS / mean_gas:.1f}x)",
        f"  wall time {time.monotonic() - started:.1f} s",
    ]
    print("\n".join(lines))
    data = {
        "points": len(points),
        "max_abs_error": max_abs,
        "max_rel_error": max_rel,
        "max_abs_error_exact_reference": max_exact,
        "mean_gas": mean_gas,
        "max_gas": max_gas,
        "target_abs_error": TARGET_ABS_ERROR,
        "target_mean_gas": TARGET_MEAN_GAS,
        "abs_error_met": abs_ok,
        "gas_met": gas_ok,
    }
    path = write_results("black_scholes", data, "```\n" + "\n".join(lines) + "\n```\n")
    print(f"  results: {path}")


if __name__ == "__main__":
    main()
