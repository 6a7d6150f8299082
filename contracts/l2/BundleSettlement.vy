# pragma version 0.4.3
"""
@title Bundle settlement
@custom:contract-name BundleSettlement
@license AGPL-3.0-only
@notice The on-chain side of atomic cross-rollup bundles. A bundle is a list of legs, one or more
        per rollup; its owner signs the whole bundle once (EIP-712). Each leg runs here through
        `execute_leg(bundle, leg_index, signature)`: only on the leg's chain, only in the leg's
        target block, only before the bundle's deadline, only once, and all-or-nothing (any call
        that reverts reverts the leg). A leg can therefore never land alone in a later block at a
        worse price; the shared sequencer places every leg in the same slot and drops the bundle
        whole if any leg would fail.
@dev EIP-712 types (the same strings are in `sequencer/bundles.py`, tested for parity):
       Call(address target,uint256 value,bytes data)
       Pull(address token,uint256 amount)
       Leg(uint256 chainId,uint256 targetBlock,Pull[] pulls,Call[] calls)
       Bundle(address owner,address beneficiary,uint256 deadline,uint256 nonce,Leg[] legs)
     Domain: EIP712Domain(name "SharedSequencer BundleSettlement", version "1",
     chainId = the L1 chain id (immutable, 31337 on the devnet), verifyingContract = this
     contract). One signature must verify identically on every rollup, so the domain cannot use
     the rollup's own chain id; each leg names its chain inside the signed data instead. The
     L1 chain id is what the rollups share (and what the L1 Slasher's domain uses); the
     verifying contract ties the signature to this deployment, whose address is the same on every
     rollup (deterministic deployment, checked by scripts/deploy.py).
     Trust model: owners approve ERC-20s to this contract. A leg's `pulls` move
     `transferFrom(bundle.owner, agent, amount)` only from the signer of the bundle, into the
     owner's own BundleAgent (created on first use); the leg's calls then run from that agent.
     Signed calls never run from this contract, so an approval given here can only be spent by a
     bundle its owner signed. The owner trusts the targets it signs for; the executor (whoever
     sends the transaction, normally the sequencer) chooses nothing but whether to include the
     leg in its target block. Ether for calls comes with the transaction (`msg.value` must equal
     the sum of the leg's call values). Deadline is an L2 block timestamp in seconds.
"""

from ethereum.ercs import IERC20

from snekmate.utils import ecdsa
from snekmate.utils import message_hash_utils


interface IBundleAgent:
    def initialize(owner_: address): nonpayable
    def execute(target: address, amount: uint256, data: Bytes[MAX_CALL_BYTES]): payable


# @notice Bounds of a bundle (legs per bundle, pulls and calls per leg, calldata per call).
MAX_LEGS: public(constant(uint256)) = 4
MAX_PULLS: public(constant(uint256)) = 4
MAX_CALLS: public(constant(uint256)) = 6
MAX_CALL_BYTES: public(constant(uint256)) = 512

# @notice EIP-712 domain name and version.
EIP712_NAME: public(constant(String[40])) = "SharedSequencer BundleSettlement"
EIP712_VERSION: public(constant(String[8])) = "1"

_DOMAIN_TYPE_HASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
# @dev Each type string is the primary type followed by the referenced types in alphabetical order.
CALL_TYPE_HASH: public(constant(bytes32)) = keccak256("Call(address target,uint256 value,bytes data)")
PULL_TYPE_HASH: public(constant(bytes32)) = keccak256("Pull(address token,uint256 amount)")
LEG_TYPE_HASH: public(constant(bytes32)) = keccak256(
    "Leg(uint256 chainId,uint256 targetBlock,Pull[] pulls,Call[] calls)"
    "Call(address target,uint256 value,bytes data)"
    "Pull(address token,uint256 amount)"
)
BUNDLE_TYPE_HASH: public(constant(bytes32)) = keccak256(
    "Bundle(address owner,address beneficiary,uint256 deadline,uint256 nonce,Leg[] legs)"
    "Call(address target,uint256 value,bytes data)"
    "Leg(uint256 chainId,uint256 targetBlock,Pull[] pulls,Call[] calls)"
    "Pull(address token,uint256 amount)"
)


struct Call:
    target: address
    value: uint256  # wei
    data: Bytes[MAX_CALL_BYTES]


struct Pull:
    token: address
    amount: uint256  # the token's base units


struct Leg:
    chain_id: uint256
    target_block: uint256  # L2 block number on `chain_id`
    pulls: DynArray[Pull, MAX_PULLS]
    calls: DynArray[Call, MAX_CALLS]


struct Bundle:
    owner: address
    beneficiary: address
    deadline: uint256  # L2 block timestamp, seconds
    nonce: uint256
    legs: DynArray[Leg, MAX_LEGS]


# @notice The L1 chain id used in the EIP-712 domain (the same on every rollup).
L1_CHAIN_ID: public(immutable(uint256))

# @notice The BundleAgent implementation that owners' agents proxy to.
AGENT_IMPLEMENTATION: public(immutable(address))

_DOMAIN_SEPARATOR: immutable(bytes32)


# @notice settled[bundle_hash][leg_index] is True once that leg has run on this rollup.
settled: public(HashMap[bytes32, HashMap[uint256, bool]])

# @notice The agent of each bundle owner (empty until the owner's first leg here).
agent_of: public(HashMap[address, address])


event LegSettled:
    bundle_hash: indexed(bytes32)
    leg_index: indexed(uint256)
    owner: indexed(address)
    beneficiary: address
    chain_id: uint256
    target_block: uint256
    agent: address
    executor: address


event AgentCreated:
    owner: indexed(address)
    agent: address


@deploy
def __init__(l1_chain_id_: uint256, agent_implementation_: address):
    """
    @param l1_chain_id_ The L1 chain id for the EIP-712 domain (31337 on the devnet).
    @param agent_implementation_ A deployed BundleAgent implementation.
    """
    assert l1_chain_id_ != 0, "l1 chain id is zero"
    assert agent_implementation_.is_contract, "agent is not a contract"
    L1_CHAIN_ID = l1_chain_id_
    AGENT_IMPLEMENTATION = agent_implementation_
    _DOMAIN_SEPARATOR = keccak256(
        abi_encode(
            _DOMAIN_TYPE_HASH,
            keccak256(EIP712_NAME),
            keccak256(EIP712_VERSION),
            l1_chain_id_,
            self,
        )
    )


# --- settlement ---


@external
@payable
@nonreentrant
def execute_leg(bundle: Bundle, leg_index: uint256, signature: Bytes[65]) -> bytes32:
    """
    @notice Run leg `leg_index` of a bundle signed by its owner, on the owner's behalf.
    @dev Reverts unless: the leg exists, names this chain, has not run, this is its target block,
         the deadline (seconds) has not passed, the owner signed this exact bundle, and
         `msg.value` (wei) equals the sum of the leg's call values. Pulls move approved tokens
         from the owner to the owner's agent; calls run from the agent; any failure reverts all.
    @param bundle The whole bundle, every leg on every chain.
    @param leg_index The index of the leg to run.
    @param signature The owner's 65-byte EIP-712 signature over the bundle.
    @return The bundle hash (EIP-712 struct hash).
    """
    assert leg_index < len(bundle.legs), "no such leg"
    leg: Leg = bundle.legs[leg_index]
    assert leg.chain_id == chain.id, "wrong chain"
    bundle_hash: bytes32 = self._bundle_hash(bundle)
    assert not self.settled[bundle_hash][leg_index], "leg already settled"
    assert block.number == leg.target_block, "not target block"
    assert block.timestamp <= bundle.deadline, "bundle expired"
    digest: bytes32 = message_hash_utils._to_typed_data_hash(_DOMAIN_SEPARATOR, bundle_hash)
    assert ecdsa._recover_sig(digest, signature) == bundle.owner, "invalid signature"
    total_value: uint256 = 0
    for c: Call in leg.calls:
        total_value += c.value
    assert msg.value == total_value, "value mismatch"

    self.settled[bundle_hash][leg_index] = True
    agent: address = self._agent(bundle.owner)
    for p: Pull in leg.pulls:
        assert extcall IERC20(p.token).transferFrom(
            bundle.owner, agent, p.amount, default_return_value=True
        ), "pull failed"
    for c: Call in leg.calls:
        extcall IBundleAgent(agent).execute(c.target, c.value, c.data, value=c.value)

    log LegSettled(
        bundle_hash=bundle_hash,
        leg_index=leg_index,
        owner=bundle.owner,
        beneficiary=bundle.beneficiary,
        chain_id=leg.chain_id,
        target_block=leg.target_block,
        agent=agent,
        executor=msg.sender,
    )
    return bundle_hash


# --- views (also the parity surface for sequencer/bundles.py) ---


@view
@external
def domain_separator() -> bytes32:
    """
    @notice The EIP-712 domain separator (L1 chain id, this contract).
    @return The 32-byte domain separator, the same on every rollup.
    """
    return _DOMAIN_SEPARATOR


@view
@external
def eip712Domain() -> (bytes1, String[40], String[8], uint256, address, bytes32, DynArray[uint256, 1]):
    """
    @notice EIP-5267 description of the signing domain (chainId is the L1 chain id).
    @return Fields bitmap 0x0f, name, version, L1 chain id, this contract, no salt, no extensions.
    """
    return (0x0f, EIP712_NAME, EIP712_VERSION, L1_CHAIN_ID, self, empty(bytes32), [])


@pure
@external
def call_hash(c: Call) -> bytes32:
    """
    @notice EIP-712 struct hash of one call.
    @param c The call (target, value in wei, calldata).
    @return keccak256(abi_encode(CALL_TYPE_HASH, target, value, keccak256(data))).
    """
    return self._call_hash(c)


@pure
@external
def leg_hash(leg: Leg) -> bytes32:
    """
    @notice EIP-712 struct hash of one leg.
    @param leg The leg (chain id, target L2 block, pulls, calls).
    @return The 32-byte struct hash.
    """
    return self._leg_hash(leg)


@pure
@external
def legs_hash(bundle: Bundle) -> bytes32:
    """
    @notice EIP-712 encoding of the bundle's `legs` array: keccak256 of the legs' struct hashes.
    @param bundle The whole bundle.
    @return The 32-byte legs hash (the `legsHash` of a BundleReceipt).
    """
    return self._legs_hash(bundle.legs)


@pure
@external
def bundle_hash(bundle: Bundle) -> bytes32:
    """
    @notice The bundle hash: the EIP-712 struct hash of the bundle.
    @param bundle The whole bundle.
    @return The 32-byte bundle hash, the key of `settled`.
    """
    return self._bundle_hash(bundle)


@view
@external
def bundle_digest(bundle: Bundle) -> bytes32:
    """
    @notice The EIP-712 digest the owner signs.
    @param bundle The whole bundle.
    @return keccak256(0x1901 || domain separator || bundle hash).
    """
    return message_hash_utils._to_typed_data_hash(_DOMAIN_SEPARATOR, self._bundle_hash(bundle))


@view
@external
def recover_signer(bundle: Bundle, signature: Bytes[65]) -> address:
    """
    @notice The account whose signature `signature` is over this bundle.
    @param bundle The whole bundle.
    @param signature A 65-byte (r, s, v) or 64-byte (EIP-2098) signature.
    @return The signer (reverts on a malformed or high-s signature).
    """
    digest: bytes32 = message_hash_utils._to_typed_data_hash(
        _DOMAIN_SEPARATOR, self._bundle_hash(bundle)
    )
    return ecdsa._recover_sig(digest, signature)


# --- internal ---


@internal
def _agent(owner: address) -> address:
    agent: address = self.agent_of[owner]
    if agent == empty(address):
        agent = create_minimal_proxy_to(AGENT_IMPLEMENTATION, salt=convert(owner, bytes32))
        extcall IBundleAgent(agent).initialize(owner)
        self.agent_of[owner] = agent
        log AgentCreated(owner=owner, agent=agent)
    return agent


@internal
@pure
def _call_hash(c: Call) -> bytes32:
    return keccak256(abi_encode(CALL_TYPE_HASH, c.target, c.value, keccak256(c.data)))


@internal
@pure
def _pull_hash(p: Pull) -> bytes32:
    return keccak256(abi_encode(PULL_TYPE_HASH, p.token, p.amount))


@internal
@pure
def _leg_hash(leg: Leg) -> bytes32:
    pulls: DynArray[bytes32, MAX_PULLS] = []
    for p: Pull in leg.pulls:
        pulls.append(self._pull_hash(p))
    calls: DynArray[bytes32, MAX_CALLS] = []
    for c: Call in leg.calls:
        calls.append(self._call_hash(c))
    return keccak256(
        abi_encode(
            LEG_TYPE_HASH,
            leg.chain_id,
            leg.target_block,
            self._packed_pulls_hash(pulls),
            self._packed_calls_hash(calls),
        )
    )


@internal
@pure
def _legs_hash(legs: DynArray[Leg, MAX_LEGS]) -> bytes32:
    hashes: DynArray[bytes32, MAX_LEGS] = []
    for leg: Leg in legs:
        hashes.append(self._leg_hash(leg))
    if len(hashes) == 0:
        return keccak256(b"")
    # abi_encode of a bare dynamic array is its length word followed by the packed elements.
    return keccak256(slice(abi_encode(hashes, ensure_tuple=False), 32, 32 * len(hashes)))


@internal
@pure
def _bundle_hash(bundle: Bundle) -> bytes32:
    return keccak256(
        abi_encode(
            BUNDLE_TYPE_HASH,
            bundle.owner,
            bundle.beneficiary,
            bundle.deadline,
            bundle.nonce,
            self._legs_hash(bundle.legs),
        )
    )


@internal
@pure
def _packed_pulls_hash(hashes: DynArray[bytes32, MAX_PULLS]) -> bytes32:
    if len(hashes) == 0:
        return keccak256(b"")
    return keccak256(slice(abi_encode(hashes, ensure_tuple=False), 32, 32 * len(hashes)))


@internal
@pure
def _packed_calls_hash(hashes: DynArray[bytes32, MAX_CALLS]) -> bytes32:
    if len(hashes) == 0:
        return keccak256(b"")
    return keccak256(slice(abi_encode(hashes, ensure_tuple=False), 32, 32 * len(hashes)))
