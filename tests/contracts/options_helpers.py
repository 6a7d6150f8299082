"""Helpers shared by the oracle and option-vault tests: EIP-712 price updates and rollup time."""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_typed_data

WAD = 10**18
YEAR = 365 * 86_400


def sign_price_update(
    oracle, chain_id: int, asset: str, spot: int, volatility: int, timestamp: int, key: str
) -> bytes:
    """The 65-byte signature of a `PriceUpdate` for `oracle` on `chain_id`."""
    message = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
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
