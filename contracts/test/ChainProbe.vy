# pragma version 0.4.3
"""
@title Chain probe
@custom:contract-name ChainProbe
@license AGPL-3.0-only
@notice A minimal contract that records the chain it was deployed on. The test harness and the
        deployment script use it to prove that one build deploys to the L1 and to both rollups.
"""

# @notice The chain id seen by the EVM at deployment.
DEPLOYED_CHAIN_ID: public(immutable(uint256))

# @notice The account that deployed this probe.
deployer: public(address)

# @notice A counter, so tests can see state change and be reverted by snapshots.
pings: public(uint256)


event Pinged:
    caller: indexed(address)
    pings: uint256


@deploy
def __init__():
    DEPLOYED_CHAIN_ID = chain.id
    self.deployer = msg.sender


@external
def ping() -> uint256:
    """
    @notice Count one ping and return the new count.
    @return The number of pings so far on this chain.
    """
    self.pings += 1
    log Pinged(caller=msg.sender, pings=self.pings)
    return self.pings


@view
@external
def current_chain_id() -> uint256:
    """
    @notice The chain id the EVM reports now.
    """
    return chain.id
