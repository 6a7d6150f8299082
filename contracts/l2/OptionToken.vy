# pragma version ~=0.4.3
"""
@title Option token: the ERC-1155 long options of one OptionVault
@custom:contract-name OptionToken
@license AGPL-3.0-only
@notice snekmate's ERC-1155. Token id = series id of the vault
        (`expiry << 193 | is_call << 192 | strike`), one token = one option on 1e-18 units of
        underlying (amounts are wad). Only the vault, set once by the owner, mints (on `buy`)
        and burns (on `redeem`, after settlement); holders transfer freely.
"""

from snekmate.auth import ownable
from snekmate.tokens import erc1155

initializes: ownable
initializes: erc1155[ownable := ownable]

exports: (
    erc1155.owner,
    erc1155.balanceOf,
    erc1155.balanceOfBatch,
    erc1155.isApprovedForAll,
    erc1155.setApprovalForAll,
    erc1155.safeTransferFrom,
    erc1155.safeBatchTransferFrom,
    erc1155.supportsInterface,
    erc1155.uri,
    erc1155.total_supply,
    erc1155.exists,
)


# @notice The vault that mints and burns (zero until set).
vault: public(address)


event VaultSet:
    vault: indexed(address)


@deploy
def __init__(base_uri_: String[80]):
    """
    @param base_uri_ The ERC-1155 metadata base URI.
    """
    ownable.__init__()
    erc1155.__init__(base_uri_)


@external
def set_vault(vault_: address):
    """
    @notice Bind the token to its vault, once (owner only).
    """
    ownable._check_owner()
    assert self.vault == empty(address), "option token: vault already set"
    assert vault_ != empty(address), "option token: zero vault"
    self.vault = vault_
    log VaultSet(vault=vault_)


@external
def mint(to: address, id: uint256, amount: uint256):
    """
    @notice Mint `amount` (wad) longs of series `id` to `to` (vault only).
    """
    assert msg.sender == self.vault, "option token: not the vault"
    erc1155._safe_mint(to, id, amount, b"")


@external
def burn(holder: address, id: uint256, amount: uint256):
    """
    @notice Burn `amount` (wad) longs of series `id` held by `holder` (vault only, on redemption).
    """
    assert msg.sender == self.vault, "option token: not the vault"
    erc1155._burn(holder, id, amount)
