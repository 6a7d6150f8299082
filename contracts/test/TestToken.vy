# pragma version ~=0.4.3
"""
@title Test collateral token
@custom:contract-name TestToken
@license AGPL-3.0-only
@notice Test-only: snekmate's ERC-20 with a chosen number of decimals and an open faucet, used as
        vault collateral in tests and benchmarks (the devnet's collateral is SuperToken).
"""

from snekmate.auth import ownable
from snekmate.tokens import erc20

initializes: ownable
initializes: erc20[ownable := ownable]

exports: erc20.__interface__


event FaucetDripped:
    to: indexed(address)
    amount: uint256


@deploy
def __init__(name_: String[25], symbol_: String[5], decimals_: uint8):
    """
    @param decimals_ The token's decimals (18 for an underlying, 6 for a stable).
    """
    ownable.__init__()
    erc20.__init__(name_, symbol_, decimals_, name_, "1")


@external
def faucet(to: address, amount: uint256):
    """
    @notice Test-only: mint `amount` (token units) to `to`; anyone may call.
    """
    erc20._mint(to, amount)
    log FaucetDripped(to=to, amount=amount)
