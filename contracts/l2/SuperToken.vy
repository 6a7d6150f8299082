# pragma version 0.4.3
"""
@title SuperToken
@custom:contract-name SuperToken
@license AGPL-3.0-only
@notice An ERC-20 (snekmate) that moves between the rollups of the shared sequencer.
        `bridge(dest_chain, to, amount)` burns here and sends a message through the
        CrossRollupMessenger; the relayed message calls `finalize_bridge` on this token's twin
        (same address on every rollup), which mints to `to`. Only the messenger may mint that way,
        and only while relaying a message whose source-rollup sender is this token's own address.
        The owner can mint from a devnet faucet (`mint`): the devnet's collateral tokens are
        SuperTokens.
@dev Amounts are in the token's own base units (`decimals`: 6 for the USDC-like stable, 18 for the
     WETH-like token). Supply across rollups is conserved: a bridge burns `amount` here before the
     message exists, and the destination mints exactly `amount` once (the messenger refuses
     replays). `bridged_out` / `bridged_in` count both sides for audit.
"""

from ethereum.ercs import IERC20

implements: IERC20

from ethereum.ercs import IERC20Detailed

implements: IERC20Detailed

from snekmate.auth import ownable as ow

initializes: ow

from snekmate.tokens import erc20

initializes: erc20[ownable := ow]

exports: (
    erc20.totalSupply,
    erc20.balanceOf,
    erc20.allowance,
    erc20.name,
    erc20.symbol,
    erc20.decimals,
    erc20.transfer,
    erc20.approve,
    erc20.transferFrom,
    erc20.permit,
    erc20.nonces,
    erc20.DOMAIN_SEPARATOR,
    erc20.eip712Domain,
    ow.owner,
    erc20.transfer_ownership,
)


interface ICrossRollupMessenger:
    def send_message(dest_chain: uint256, target: address, data: Bytes[1024]) -> bytes32: nonpayable
    def next_nonce() -> uint256: view
    def xdomain_sender() -> address: view
    def xdomain_source_chain() -> uint256: view


# @notice The maximum number of peer rollups given at deployment.
MAX_PEERS: constant(uint256) = 8


# @notice The messenger that carries bridge messages (same address on every rollup).
MESSENGER: public(immutable(address))

# @notice True for every rollup this token may be bridged to and from (its twin lives there).
peers: public(HashMap[uint256, bool])

# @notice Total burned here by `bridge` (base units).
bridged_out: public(uint256)

# @notice Total minted here by `finalize_bridge` (base units).
bridged_in: public(uint256)

# @notice Total minted here by the devnet faucet (base units).
faucet_minted: public(uint256)


event BridgeSent:
    sender: indexed(address)
    to: indexed(address)
    dest_chain: indexed(uint256)
    amount: uint256
    message_hash: bytes32
    nonce: uint256


event BridgeFinalized:
    sender: indexed(address)
    to: indexed(address)
    source_chain: indexed(uint256)
    amount: uint256


event PeerSet:
    chain_id: indexed(uint256)
    enabled: bool


event FaucetMinted:
    to: indexed(address)
    amount: uint256


@deploy
def __init__(
    name_: String[25],
    symbol_: String[5],
    decimals_: uint8,
    messenger_: address,
    rollup_chain_ids_: DynArray[uint256, MAX_PEERS],
):
    """
    @notice The deployer becomes the owner (faucet). `messenger_` is the rollup's
            CrossRollupMessenger.
    @dev The same arguments are given on every rollup (so the token's address and code match);
         this rollup's own chain id in `rollup_chain_ids_` is skipped.
    @param name_ Token name (also the EIP-2612 permit domain name).
    @param symbol_ Token symbol.
    @param decimals_ Decimal places of the base unit.
    @param messenger_ The CrossRollupMessenger on this rollup.
    @param rollup_chain_ids_ The chain ids of the rollups where this token's twins live.
    """
    assert messenger_ != empty(address), "messenger is zero"
    ow.__init__()
    erc20.__init__(name_, symbol_, decimals_, name_, "1")
    MESSENGER = messenger_
    for chain_id: uint256 in rollup_chain_ids_:
        if chain_id != chain.id:
            self.peers[chain_id] = True
            log PeerSet(chain_id=chain_id, enabled=True)


@external
def bridge(dest_chain: uint256, to: address, amount: uint256) -> bytes32:
    """
    @notice Move `amount` of the caller's tokens to `to` on rollup `dest_chain`: burned here now,
            minted there when the sequencer relays the message (same slot from rollup A to B,
            next slot from B to A).
    @param dest_chain The destination rollup's chain id.
    @param to The recipient on the destination rollup.
    @param amount The amount, in base units.
    @return The hash of the bridge message.
    """
    assert amount > 0, "amount is zero"
    assert to != empty(address), "recipient is zero"
    assert self.peers[dest_chain], "unknown destination"
    erc20._burn(msg.sender, amount)
    self.bridged_out += amount
    nonce: uint256 = staticcall ICrossRollupMessenger(MESSENGER).next_nonce()
    data: Bytes[1024] = abi_encode(
        msg.sender, to, amount, method_id=method_id("finalize_bridge(address,address,uint256)")
    )
    message_hash: bytes32 = extcall ICrossRollupMessenger(MESSENGER).send_message(
        dest_chain, self, data
    )
    log BridgeSent(
        sender=msg.sender,
        to=to,
        dest_chain=dest_chain,
        amount=amount,
        message_hash=message_hash,
        nonce=nonce,
    )
    return message_hash


@external
def finalize_bridge(sender: address, to: address, amount: uint256):
    """
    @notice Mint a bridged amount. Only the messenger may call this, while relaying a message
            sent by this token's own address on its source rollup.
    @param sender The account that bridged on the source rollup.
    @param to The recipient here.
    @param amount The amount, in base units.
    """
    assert msg.sender == MESSENGER, "not messenger"
    assert staticcall ICrossRollupMessenger(MESSENGER).xdomain_sender() == self, "not from token"
    source_chain: uint256 = staticcall ICrossRollupMessenger(MESSENGER).xdomain_source_chain()
    assert self.peers[source_chain], "unknown source"
    erc20._mint(to, amount)
    self.bridged_in += amount
    log BridgeFinalized(sender=sender, to=to, source_chain=source_chain, amount=amount)


@external
def set_peer(chain_id: uint256, enabled: bool):
    """
    @notice Allow or forbid bridging to and from rollup `chain_id`. Owner only.
    @param chain_id The rollup's chain id.
    @param enabled Whether this token's twin on that rollup is trusted.
    """
    ow._check_owner()
    assert chain_id != chain.id, "peer is this chain"
    self.peers[chain_id] = enabled
    log PeerSet(chain_id=chain_id, enabled=enabled)


@external
def mint(to: address, amount: uint256):
    """
    @notice Devnet faucet: mint `amount` to `to`. Owner only.
    @param to The recipient.
    @param amount The amount, in base units.
    """
    ow._check_owner()
    erc20._mint(to, amount)
    self.faucet_minted += amount
    log FaucetMinted(to=to, amount=amount)
