"""Helpers shared by the oracle and option-vault tests: EIP-712 price updates and rollup time."""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_typed_data

from sequencer.commitments import EIP712_DOMAIN_FIELDS

WAD = 10**18
YEAR = 365 * 86_400


def sign_price_update(
    oracle, chain_id: int, asset: str, spot: int, volatility: int, timestamp: int, key: str
) -> bytes:
    """The 65-byte signature of a `PriceUpdate` for `oracle` on `chain_id`."""
    message = {
        "types": {
            "EIP712Domain": list(EIP712_DOMAIN_FIELDS),
            "PriceUpdate": [
                {"name": "asset", "type": "address"},
                {"name": "spot", "type": "uint256"},
                {"name": "volatility", "type": "uint256"},
                {"name": "timestamp", "type": "uint256"},
            ],
        },
        "primaryType": "PriceUpdate",
        "domain": {
            "name": "PriceOracle",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": str(oracle.address),
        },
        "message": {"asset": asset, "spot": spot, "volatility": volatility, "timestamp": timestamp},
    }
    signed = Account.sign_message(encode_typed_data(full_message=message), private_key=key)
    return bytes(signed.signature)


def now(handle) -> int:
    """The timestamp of the chain's latest block, seconds."""
    return int(handle.rpc("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)


def warp(handle, timestamp: int) -> None:
    """Mine an empty block at `timestamp` (seconds), so the next one is at least that late."""
    handle.rpc("evm_mine", [{"timestamp": timestamp}])


def next_block_at(handle, timestamp: int) -> None:
    """The next block (e.g. the next automined transaction) gets exactly `timestamp`."""
    handle.rpc("evm_setNextBlockTimestamp", [timestamp])


# --- an options market on the active chain: tokens, oracle, one call vault and one put vault ---

MAX_AGE = 3_600
DISPUTE_WINDOW = 600
DEVIATION = WAD // 2
RATE = WAD // 20  # 5 %
SPREAD = WAD // 500  # 0.2 % of spot per option
MAX_UTILISATION = 8 * WAD // 10
USDC = 10**6


def deploy_market(project, deployer, keeper, spot: int = 2000 * WAD, vol: int = 8 * WAD // 10):
    """Deploy WETH (18), USDC (6), a PriceOracle with a first price, and both vaults."""
    from types import SimpleNamespace

    weth = project.TestToken.deploy("Wrapped Ether", "WETH", 18, sender=deployer)
    usdc = project.TestToken.deploy("USD Coin", "USDC", 6, sender=deployer)
    oracle = project.PriceOracle.deploy(MAX_AGE, DISPUTE_WINDOW, sender=deployer)
    oracle.configure_asset(weth.address, DEVIATION, sender=deployer)
    oracle.set_reporter(keeper.address, True, sender=deployer)
    oracle.push(weth.address, spot, vol, sender=keeper)
    vaults = {}
    for is_call, collateral in ((True, weth), (False, usdc)):
        longs = project.OptionToken.deploy("https://options.example/{id}", sender=deployer)
        vault = project.OptionVault.deploy(
            collateral.address,
            weth.address,
            oracle.address,
            is_call,
            RATE,
            SPREAD,
            MAX_UTILISATION,
            keeper.address,
            longs.address,
            sender=deployer,
        )
        longs.set_vault(vault.address, sender=deployer)
        vaults[is_call] = SimpleNamespace(vault=vault, token=collateral, longs=longs)
    return SimpleNamespace(
        weth=weth, usdc=usdc, oracle=oracle, call=vaults[True], put=vaults[False]
    )


def fund(token, account, amount: int, spender) -> None:
    token.faucet(account.address, amount, sender=account)
    token.approve(spender.address, 2**256 - 1, sender=account)
