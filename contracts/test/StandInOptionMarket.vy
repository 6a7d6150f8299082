# pragma version 0.4.3
"""
@title Stand-in option market (tests only)
@custom:contract-name StandInOptionMarket
@license AGPL-3.0-only
@notice A minimal stand-in for OptionVault, used only by the cross-rollup risk-reversal test
        while the vault is written in parallel on another branch: swap it for OptionVault's
        `buy` / `sell` when the vault lands on main. A fixed premium per option, in collateral
        base units; `buy` makes the caller long (pays the premium), `sell` makes the caller short
        (posts the collateral per option, receives the premium from the market's reserve).
"""

from ethereum.ercs import IERC20

# @notice The collateral token (base units).
COLLATERAL: public(immutable(address))

# @notice Premium per option, in collateral base units.
PREMIUM: public(immutable(uint256))

# @notice Collateral a seller posts per option, in collateral base units.
COLLATERAL_PER_OPTION: public(immutable(uint256))

# @notice Options held long by each account.
long_of: public(HashMap[address, uint256])

# @notice Options sold short by each account.
short_of: public(HashMap[address, uint256])


event OptionsBought:
    buyer: indexed(address)
    amount: uint256
    premium: uint256


event OptionsSold:
    seller: indexed(address)
    amount: uint256
    premium: uint256
    collateral: uint256


@deploy
def __init__(collateral_: address, premium_: uint256, collateral_per_option_: uint256):
    """
    @param collateral_ The collateral token.
    @param premium_ Premium per option (collateral base units).
    @param collateral_per_option_ Collateral per option sold (collateral base units).
    """
    COLLATERAL = collateral_
    PREMIUM = premium_
    COLLATERAL_PER_OPTION = collateral_per_option_


@external
def buy(amount: uint256, max_premium: uint256) -> uint256:
    """
    @notice Buy `amount` options, paying at most `max_premium` (collateral base units).
    @return The premium paid.
    """
    premium: uint256 = amount * PREMIUM
    assert premium <= max_premium, "premium above max"
    assert extcall IERC20(COLLATERAL).transferFrom(msg.sender, self, premium), "premium not paid"
    self.long_of[msg.sender] += amount
    log OptionsBought(buyer=msg.sender, amount=amount, premium=premium)
    return premium


@external
def sell(amount: uint256, min_premium: uint256) -> uint256:
    """
    @notice Sell `amount` options for at least `min_premium`, posting the collateral.
    @return The premium received.
    """
    premium: uint256 = amount * PREMIUM
    assert premium >= min_premium, "premium below min"
    collateral: uint256 = amount * COLLATERAL_PER_OPTION
    assert extcall IERC20(COLLATERAL).transferFrom(msg.sender, self, collateral), "no collateral"
    assert extcall IERC20(COLLATERAL).transfer(msg.sender, premium), "premium not sent"
    self.short_of[msg.sender] += amount
    log OptionsSold(seller=msg.sender, amount=amount, premium=premium, collateral=collateral)
    return premium
