# pragma version 0.4.3
"""
@title Bundle agent
@custom:contract-name BundleAgent
@license AGPL-3.0-only
@notice One per bundle owner, created by BundleSettlement (a minimal proxy to this
        implementation, CREATE2 salt = the owner, so the same owner has the same agent address on
        every rollup). The calls of the owner's signed legs run from here, never from
        BundleSettlement itself: BundleSettlement holds every user's ERC-20 approvals, so letting
        signed calls run from it would let one signer spend another's approvals. An agent only
        ever holds what its own owner's legs put in it.
@dev Only the BundleSettlement that created (and initialised) the proxy may make it call out.
     The implementation contract locks itself at deployment (its settlement is itself).
"""

# @notice Largest calldata of one call, in bytes (BundleSettlement.MAX_CALL_BYTES).
MAX_CALL_BYTES: public(constant(uint256)) = 512

# @dev How much of a failing call's revert data is bubbled up, in bytes.
_MAX_REVERT_BYTES: constant(uint256) = 256


# @notice The BundleSettlement that drives this agent.
settlement: public(address)

# @notice The bundle owner whose legs this agent executes.
owner: public(address)


event AgentInitialized:
    settlement: indexed(address)
    owner: indexed(address)


@deploy
def __init__():
    """
    @notice Lock the implementation: proxies start with empty storage and are initialised by
            their creator; the implementation itself can never be driven.
    """
    self.settlement = self


@external
def initialize(owner_: address):
    """
    @notice Bind a fresh proxy to its creator (the settlement contract) and to its owner. Once.
    @param owner_ The bundle owner this agent acts for.
    """
    assert self.settlement == empty(address), "already initialized"
    assert owner_ != empty(address), "owner is zero"
    self.settlement = msg.sender
    self.owner = owner_
    log AgentInitialized(settlement=msg.sender, owner=owner_)


@external
@payable
def execute(target: address, amount: uint256, data: Bytes[MAX_CALL_BYTES]):
    """
    @notice Call `target` with `data` and `amount` wei. Settlement only. A failing call reverts
            with the target's revert data (or "call reverted" if it gave none).
    @param target The contract (or account) to call.
    @param amount The value to send, in wei.
    @param data The calldata, selector included.
    """
    assert msg.sender == self.settlement, "not settlement"
    success: bool = False
    response: Bytes[_MAX_REVERT_BYTES] = b""
    success, response = raw_call(
        target, data, max_outsize=_MAX_REVERT_BYTES, value=amount, revert_on_failure=False
    )
    if not success:
        if len(response) > 0:
            raw_revert(response)
        raise "call reverted"


@external
def onERC1155Received(
    operator: address, sender: address, id: uint256, amount: uint256, data: Bytes[1024]
) -> bytes4:
    """
    @notice Accept ERC-1155 tokens (e.g. long options bought by a leg).
    @return The ERC-1155 acceptance magic value.
    """
    return method_id("onERC1155Received(address,address,uint256,uint256,bytes)", output_type=bytes4)


@external
def onERC1155BatchReceived(
    operator: address,
    sender: address,
    ids: DynArray[uint256, 128],
    amounts: DynArray[uint256, 128],
    data: Bytes[1024],
) -> bytes4:
    """
    @notice Accept batches of ERC-1155 tokens.
    @return The ERC-1155 batch acceptance magic value.
    """
    return method_id(
        "onERC1155BatchReceived(address,address,uint256[],uint256[],bytes)", output_type=bytes4
    )


@external
def onERC721Received(operator: address, sender: address, id: uint256, data: Bytes[1024]) -> bytes4:
    """
    @notice Accept ERC-721 tokens.
    @return The ERC-721 acceptance magic value.
    """
    return method_id("onERC721Received(address,address,uint256,bytes)", output_type=bytes4)


@external
@payable
def __default__():
    """
    @notice Accept ether (e.g. refunds to the agent).
    """
    pass
