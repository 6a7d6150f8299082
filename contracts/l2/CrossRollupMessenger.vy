# pragma version 0.4.3
"""
@title Cross-rollup messenger
@custom:contract-name CrossRollupMessenger
@license AGPL-3.0-only
@notice Carries calls from a contract on one rollup to a contract on another. `send_message`
        records the hash of a message and emits it with this rollup's next nonce; the shared
        sequencer's relayer account replays it on the destination rollup with `relay_message`,
        once, and the target sees the original sender through `xdomain_sender()` for the
        duration of the call.
@dev The message hash (also computed by `sequencer/messages.py`, tested for parity) is
         keccak256(abi_encode(source_chain, dest_chain, nonce, sender, target, data))
     with uint256 chain ids and nonce, address sender/target and dynamic `bytes` data, i.e. the
     standard ABI encoding of the tuple (uint256,uint256,uint256,address,address,bytes).
     What the messenger trusts: the relayer account, for the authenticity of a relayed message
     (nothing on this rollup can see the other rollup's state). A forged relay is not invisible:
     the source rollup stores `sent[hash]` for every real message, so a relay without a matching
     `sent` entry on the source is provable against the committed state roots. Replay is refused
     on-chain by the message hash; a relay whose target reverts reverts whole and records nothing,
     so the relayer may retry it.
"""

from snekmate.auth import ownable

initializes: ownable

exports: ownable.__interface__


# @notice The largest message payload, in bytes (the calldata passed to the target).
MAX_MESSAGE_BYTES: public(constant(uint256)) = 1024

# @dev How much of a failing target's revert data is bubbled up, in bytes.
_MAX_REVERT_BYTES: constant(uint256) = 256


# @notice The account allowed to relay messages into this rollup (the sequencer's relayer).
relayer: public(address)

# @notice The nonce the next message sent from this rollup will carry.
next_nonce: public(uint256)

# @notice True for the hash of every message sent from this rollup.
sent: public(HashMap[bytes32, bool])

# @notice True for the hash of every message relayed into this rollup.
relayed: public(HashMap[bytes32, bool])

# @dev The sender and source chain of the message being relayed (empty outside a relay).
_xdomain_sender: transient(address)
_xdomain_source_chain: transient(uint256)


event MessageSent:
    message_hash: indexed(bytes32)
    dest_chain: indexed(uint256)
    nonce: indexed(uint256)
    sender: address
    target: address
    data: Bytes[MAX_MESSAGE_BYTES]


event MessageRelayed:
    message_hash: indexed(bytes32)
    source_chain: indexed(uint256)
    nonce: indexed(uint256)
    sender: address
    target: address


event RelayerChanged:
    previous_relayer: indexed(address)
    new_relayer: indexed(address)


@deploy
def __init__(relayer_: address):
    """
    @notice The deployer becomes the owner; `relayer_` may relay messages.
    @param relayer_ The sequencer's relayer account.
    """
    assert relayer_ != empty(address), "relayer is zero"
    ownable.__init__()
    self.relayer = relayer_
    log RelayerChanged(previous_relayer=empty(address), new_relayer=relayer_)


@external
def set_relayer(new_relayer: address):
    """
    @notice Replace the relayer account. Owner only.
    @param new_relayer The new relayer account.
    """
    ownable._check_owner()
    assert new_relayer != empty(address), "relayer is zero"
    log RelayerChanged(previous_relayer=self.relayer, new_relayer=new_relayer)
    self.relayer = new_relayer


@external
def send_message(dest_chain: uint256, target: address, data: Bytes[MAX_MESSAGE_BYTES]) -> bytes32:
    """
    @notice Send `data` as a call to `target` on rollup `dest_chain`, from the caller.
    @dev The message is recorded (`sent[hash]`) and emitted with this rollup's next nonce.
    @param dest_chain The destination rollup's chain id.
    @param target The contract to call on the destination rollup.
    @param data The calldata for `target` (selector included), at most MAX_MESSAGE_BYTES bytes.
    @return The message hash.
    """
    assert dest_chain != chain.id, "destination is this chain"
    assert target != empty(address), "target is zero"
    assert target != self, "target is messenger"
    nonce: uint256 = self.next_nonce
    self.next_nonce = nonce + 1
    message_hash: bytes32 = self._message_hash(chain.id, dest_chain, nonce, msg.sender, target, data)
    self.sent[message_hash] = True
    log MessageSent(
        message_hash=message_hash,
        dest_chain=dest_chain,
        nonce=nonce,
        sender=msg.sender,
        target=target,
        data=data,
    )
    return message_hash


@external
@nonreentrant
def relay_message(
    source_chain: uint256, nonce: uint256, sender: address, target: address, data: Bytes[MAX_MESSAGE_BYTES]
) -> bytes32:
    """
    @notice Deliver a message sent on rollup `source_chain` to `target` here. Relayer only, once
            per message. If the target reverts, the relay reverts whole (with the target's
            revert data) and nothing is recorded.
    @param source_chain The chain id of the rollup the message was sent from.
    @param nonce The message's nonce on the source rollup.
    @param sender The account that sent the message on the source rollup.
    @param target The contract to call here.
    @param data The calldata for `target`.
    @return The message hash.
    """
    assert msg.sender == self.relayer, "not relayer"
    assert source_chain != chain.id, "source is this chain"
    assert target != self, "target is messenger"
    message_hash: bytes32 = self._message_hash(source_chain, chain.id, nonce, sender, target, data)
    assert not self.relayed[message_hash], "already relayed"
    self.relayed[message_hash] = True

    self._xdomain_sender = sender
    self._xdomain_source_chain = source_chain
    success: bool = False
    response: Bytes[_MAX_REVERT_BYTES] = b""
    success, response = raw_call(
        target, data, max_outsize=_MAX_REVERT_BYTES, revert_on_failure=False
    )
    self._xdomain_sender = empty(address)
    self._xdomain_source_chain = 0
    if not success:
        if len(response) > 0:
            raw_revert(response)
        raise "target reverted"

    log MessageRelayed(
        message_hash=message_hash, source_chain=source_chain, nonce=nonce, sender=sender, target=target
    )
    return message_hash


@view
@external
def xdomain_sender() -> address:
    """
    @notice The sender, on its source rollup, of the message being relayed. Reverts outside a
            relay, so a target can never mistake a direct call for a relayed one.
    @return The cross-domain sender.
    """
    sender: address = self._xdomain_sender
    assert sender != empty(address), "not in a relay"
    return sender


@view
@external
def xdomain_source_chain() -> uint256:
    """
    @notice The chain id of the rollup the message being relayed was sent from. Reverts outside a
            relay.
    @return The source rollup's chain id.
    """
    assert self._xdomain_sender != empty(address), "not in a relay"
    return self._xdomain_source_chain


@pure
@external
def message_hash(
    source_chain: uint256,
    dest_chain: uint256,
    nonce: uint256,
    sender: address,
    target: address,
    data: Bytes[MAX_MESSAGE_BYTES],
) -> bytes32:
    """
    @notice The hash that identifies a message (see the contract's @dev for the format).
    @param source_chain The chain id of the rollup the message is sent from.
    @param dest_chain The chain id of the rollup the message is relayed to.
    @param nonce The message's nonce on the source rollup.
    @param sender The account that sent it on the source rollup.
    @param target The contract called on the destination rollup.
    @param data The calldata for `target`.
    @return keccak256(abi_encode(source_chain, dest_chain, nonce, sender, target, data)).
    """
    return self._message_hash(source_chain, dest_chain, nonce, sender, target, data)


@internal
@pure
def _message_hash(
    source_chain: uint256,
    dest_chain: uint256,
    nonce: uint256,
    sender: address,
    target: address,
    data: Bytes[MAX_MESSAGE_BYTES],
) -> bytes32:
    return keccak256(abi_encode(source_chain, dest_chain, nonce, sender, target, data))
