"""Reusable setup of the harness's two rollup engines, for contract tests and end-to-end tests.

It owns: deploying a rollup's contracts on both engines with the real deployment code
(`scripts/deploy.py`) at the same addresses, wrapping the manifest entries in ape contracts, and
opening an options epoch that a trader can trade in (oracle price, LP liquidity, the keeper's
roll), plus quoting a vault at a future block time (what a trader signs as `max_premium` /
`min_premium`). It never mines on its own: every transaction it sends needs automine on (the
harness's default at the start of each test), and it never leaves a rollup in another mode.
Importable from any test folder (`tests/conftest.py` puts `tests/contracts` on `sys.path`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from ape import project
from eth_abi import decode

from sequencer.bundles import Domain
from sequencer.manifest import ContractEntry

WAD = 10**18
USDC_UNIT = 10**6
L1_CHAIN_ID = 31337  # the EIP-712 domain chain id of BundleSettlement (scripts/deploy.py)

# manifest name -> contract type
XROLLUP_TYPES = {
    "CrossRollupMessenger": "CrossRollupMessenger",
    "USDC": "SuperToken",
    "WETH": "SuperToken",
    "BundleAgent": "BundleAgent",
    "BundleSettlement": "BundleSettlement",
}
OPTION_TYPES = {
    "PriceOracle": "PriceOracle",
    "OptionVaultCall": "OptionVault",
    "OptionTokenCall": "OptionToken",
    "OptionVaultPut": "OptionVault",
    "OptionTokenPut": "OptionToken",
}

Entries = dict[str, ContractEntry]


@dataclass
class XRollup:
    """The cross-rollup contracts (same address on both rollups) and their EIP-712 domain."""

    messenger: object
    usdc: object
    weth: object
    agent: object
    settlement: object
    domain: Domain


@dataclass
class OptionMarket:
    """One rollup's options market as `deploy_rollup` wires it (same addresses on every rollup):
    a call vault holding WETH, a put vault holding USDC, their ERC-1155 longs, one PriceOracle
    for WETH. The deployer is the oracle's reporter and the vaults' owner and keeper."""

    oracle: object
    call_vault: object
    call_longs: object
    put_vault: object
    put_longs: object
    weth: object
    usdc: object


@dataclass(frozen=True)
class OpenEpoch:
    """An epoch open for trading on one rollup: its expiry (seconds) and listed series ids."""

    expiry: int
    call_series: tuple[int, ...]
    put_series: tuple[int, ...]


@contextmanager
def deployed_on_rollups(rollups: Sequence, deploy: Callable[[], Entries]) -> Iterator[Entries]:
    """Run `deploy` (e.g. `lambda: deploy_rollup(roles, chain_ids)`) on every rollup from a
    fresh snapshot, check every contract has the same address on each, and yield the first
    rollup's entries; on exit, revert every rollup to its snapshot (so later modules see fresh
    engines). Automine is on while inside."""
    snapshots = {}
    entries = {}
    try:
        for rollup in rollups:
            rollup.rpc("anvil_dropAllTransactions")
            rollup.set_automine(True)
            snapshots[rollup.name] = rollup.snapshot()
            with rollup.use():
                entries[rollup.name] = deploy()
        first = entries[rollups[0].name]
        for rollup in rollups[1:]:
            other = entries[rollup.name]
            for name, entry in first.items():
                assert other[name].address == entry.address, f"{name} differs between rollups"
        yield first
    finally:
        for rollup in rollups:
            if rollup.name in snapshots:
                rollup.set_automine(True)
                rollup.rpc("anvil_dropAllTransactions")
                rollup.revert(snapshots[rollup.name])


def _contracts(rollup, entries: Entries, types: dict[str, str]) -> dict[str, object]:
    with rollup.use():
        return {
            name: getattr(project, ctype).at(entries[name].address) for name, ctype in types.items()
        }


def xrollup_from(rollup, entries: Entries) -> XRollup:
    """The cross-rollup contracts of `entries`, as ape contracts bound by address (they serve
    whichever rollup is active, since the addresses match)."""
    c = _contracts(rollup, entries, XROLLUP_TYPES)
    return XRollup(
        messenger=c["CrossRollupMessenger"],
        usdc=c["USDC"],
        weth=c["WETH"],
        agent=c["BundleAgent"],
        settlement=c["BundleSettlement"],
        domain=Domain(L1_CHAIN_ID, entries["BundleSettlement"].address),
    )


def option_market_from(rollup, entries: Entries) -> OptionMarket:
    """The options market of `deploy_rollup`'s entries, as ape contracts."""
    c = _contracts(rollup, entries, {**OPTION_TYPES, "WETH": "SuperToken", "USDC": "SuperToken"})
    return OptionMarket(
        oracle=c["PriceOracle"],
        call_vault=c["OptionVaultCall"],
        call_longs=c["OptionTokenCall"],
        put_vault=c["OptionVaultPut"],
        put_longs=c["OptionTokenPut"],
        weth=c["WETH"],
        usdc=c["USDC"],
    )


def open_epoch(
    rollup,
    market: OptionMarket,
    owner,
    lp,
    *,
    spot: int,
    volatility: int,
    call_strikes: Sequence[int],
    put_strikes: Sequence[int],
    call_liquidity: int,
    put_liquidity: int,
    expiry: int,
) -> OpenEpoch:
    """Open the first epoch of both vaults on `rollup` for trading.

    `owner` (the deployer of `deploy_rollup`: token owner, oracle reporter, vault keeper) pushes
    the oracle's WETH `spot` and `volatility` (wad), mints `call_liquidity` WETH (wad) and
    `put_liquidity` USDC (6 decimals) to `lp`, who queues them as deposits; then the keeper rolls
    both vaults to `expiry` (seconds) with the given strikes (wad, increasing), which turns the
    deposits into LP assets. Needs automine on `rollup`; the oracle price is fresh for the
    oracle's `MAX_AGE` seconds of block time after this call.
    """
    with rollup.use():
        market.oracle.push(market.weth.address, spot, volatility, sender=owner)
        for vault, token, amount in (
            (market.call_vault, market.weth, call_liquidity),
            (market.put_vault, market.usdc, put_liquidity),
        ):
            token.mint(lp, amount, sender=owner)
            token.approve(vault, amount, sender=lp)
            vault.request_deposit(amount, sender=lp)
        market.call_vault.roll(expiry, list(call_strikes), sender=owner)
        market.put_vault.roll(expiry, list(put_strikes), sender=owner)
        call_series = tuple(market.call_vault.series_id(expiry, k) for k in call_strikes)
        put_series = tuple(market.put_vault.series_id(expiry, k) for k in put_strikes)
        assert market.call_vault.totalAssets() == call_liquidity
        assert market.put_vault.totalAssets() == put_liquidity
    return OpenEpoch(expiry, call_series, put_series)


def quote_at(rollup, vault, series: int, amount: int, timestamp: int) -> tuple[int, int]:
    """The vault's `quote(series, amount)` as it will be in a block at `timestamp` (seconds) on
    the current state of `rollup`: (ask, bid), collateral token units. This is what `buy` will
    charge and `sell` will pay in that block if the oracle does not move (eth_call with a
    block-time override)."""
    data = bytes(vault.quote.encode_input(series, amount))
    call = {"to": str(vault.address), "data": "0x" + data.hex()}
    result = rollup.rpc("eth_call", [call, "latest", {}, {"time": hex(timestamp)}])
    ask, bid = decode(["uint256", "uint256"], bytes.fromhex(result.removeprefix("0x")))
    return ask, bid
