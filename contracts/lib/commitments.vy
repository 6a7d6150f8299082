# pragma version ~=0.4.3
"""
@title Shared commitment formats
@custom:contract-name commitments
@license AGPL-3.0-only
@notice The one on-chain definition of the formats of DESIGN §4.2, byte for byte as
        `sequencer/commitments.py` has them: the batch header and its hash, tx and block
        leaves, the legs hash of a bundle receipt, the EIP-712 struct hashes of `BlockHeader`,
        `Preconf` and `BundleReceipt`, signature recovery and Merkle membership.
@dev A stateless module: the contract that imports it owns the EIP-712 domain (snekmate's
     `eip712_domain_separator`, name "SharedSequencer", version "1") and passes its
     separator in. Every integer is a uint256 on the wire; deadlines are L1 block numbers.
     Leaves are single-hashed and their pre-images are 160 or 192 bytes, never the 64 bytes
     of an inner node, so a leaf can never pass for a node of the sorted-pair tree.
"""

from snekmate.utils import ecdsa
from snekmate.utils import merkle_proof_verification
from snekmate.utils import message_hash_utils


# @dev At most this many rollups in one batch header.
MAX_ROLLUPS: constant(uint256) = 8
# @dev At most this many legs in one bundle receipt.
MAX_LEGS: constant(uint256) = 16
# @dev The longest Merkle proof accepted as evidence (a tree of up to 2**32 leaves).
MAX_PROOF_DEPTH: constant(uint256) = 32

# @dev Transaction status in a tx leaf.
STATUS_REVERTED: constant(uint256) = 0
STATUS_SUCCESS: constant(uint256) = 1
STATUS_SKIPPED: constant(uint256) = 2

# @dev The first word of every leaf says what it is.
TX_LEAF_TAG: constant(uint256) = 1
BLOCK_LEAF_TAG: constant(uint256) = 2

BLOCK_HEADER_TYPEHASH: constant(bytes32) = keccak256(
    "BlockHeader(uint256 chainId,uint256 blockNumber,bytes32 blockHash,bytes32 parentHash)"
)
PRECONF_TYPEHASH: constant(bytes32) = keccak256(
    "Preconf(uint256 chainId,uint256 blockNumber,uint256 index,bytes32 txHash,uint256 deadline)"
)
BUNDLE_RECEIPT_TYPEHASH: constant(bytes32) = keccak256(
    "BundleReceipt(bytes32 bundleHash,bytes32 legsHash,address beneficiary,uint256 deadline)"
)


# @dev What one batch commits to for one rollup: a contiguous range of its blocks.
struct RollupCommitment:
    chain_id: uint256
    first_block: uint256
    last_block: uint256
    parent_hash: bytes32  # hash of block first_block - 1
    last_block_hash: bytes32
    state_root: bytes32  # state root after last_block
    tx_root: bytes32  # sorted-pair Merkle root over the range's tx leaves and block leaves


# @dev One commitment per batch, for every rollup at once.
struct BatchHeader:
    sequence: uint256
    prev_hash: bytes32  # header hash of batch sequence - 1 (zero for the first)
    term: uint256
    rollups: DynArray[RollupCommitment, MAX_ROLLUPS]
    bundle_root: bytes32
    forced_through: uint256  # forced-inclusion queue consumed up to this index (exclusive)
    data_hash: bytes32  # keccak256(payload) for calldata, the blob's versioned hash for blobs


# @dev A position promised to one leg of a bundle.
struct Leg:
    chain_id: uint256
    block_number: uint256
    index: uint256
    tx_hash: bytes32


# @dev The fields of a tx leaf, as re-supplied in evidence.
struct TxLeaf:
    chain_id: uint256
    block_number: uint256
    index: uint256
    tx_hash: bytes32
    status: uint256


# @dev The fields of a block leaf, as re-supplied in evidence.
struct BlockLeaf:
    chain_id: uint256
    block_number: uint256
    tx_count: uint256
    block_hash: bytes32


# @dev One forced-inclusion request in the Inbox's queue.
struct ForcedItem:
    chain_id: uint256
    sender: address
    tx_hash: bytes32  # keccak256 of the raw signed transaction
    deadline: uint256  # L1 block number by which a batch must consume it
    fee: uint256  # wei paid


# @dev EIP-712 `BlockHeader`: a sealed rollup block, signed by the sequencer.
struct BlockHeaderMsg:
    chain_id: uint256
    block_number: uint256
    block_hash: bytes32
    parent_hash: bytes32


# @dev EIP-712 `Preconf`: a promised position for a transaction.
struct PreconfMsg:
    chain_id: uint256
    block_number: uint256
    index: uint256
    tx_hash: bytes32
    deadline: uint256  # L1 block number by which a batch must cover block_number


# @dev EIP-712 `BundleReceipt`: every leg of a bundle succeeded at its position.
struct BundleReceiptMsg:
    bundle_hash: bytes32
    legs_hash: bytes32
    beneficiary: address
    deadline: uint256  # L1 block number


@internal
@pure
def _header_hash(header: BatchHeader) -> bytes32:
    """
    @dev keccak256(abi_encode(header)), the struct encoded as one tuple.
    """
    return keccak256(abi_encode(header))


@internal
@pure
def _tx_leaf(leaf: TxLeaf) -> bytes32:
    """
    @dev keccak256(abi_encode(1, chain_id, block_number, index, tx_hash, status)).
    """
    return keccak256(
        abi_encode(
            TX_LEAF_TAG, leaf.chain_id, leaf.block_number, leaf.index, leaf.tx_hash, leaf.status
        )
    )


@internal
@pure
def _block_leaf(leaf: BlockLeaf) -> bytes32:
    """
    @dev keccak256(abi_encode(2, chain_id, block_number, tx_count, block_hash)).
    """
    return keccak256(
        abi_encode(BLOCK_LEAF_TAG, leaf.chain_id, leaf.block_number, leaf.tx_count, leaf.block_hash)
    )


@internal
@pure
def _legs_hash(legs: DynArray[Leg, MAX_LEGS]) -> bytes32:
    """
    @dev keccak256(abi_encode(Leg[])): the positions a bundle receipt promises.
    """
    return keccak256(abi_encode(legs))


@internal
@pure
def _block_header_struct_hash(message: BlockHeaderMsg) -> bytes32:
    return keccak256(
        abi_encode(
            BLOCK_HEADER_TYPEHASH,
            message.chain_id,
            message.block_number,
            message.block_hash,
            message.parent_hash,
        )
    )


@internal
@pure
def _preconf_struct_hash(message: PreconfMsg) -> bytes32:
    return keccak256(
        abi_encode(
            PRECONF_TYPEHASH,
            message.chain_id,
            message.block_number,
            message.index,
            message.tx_hash,
            message.deadline,
        )
    )


@internal
@pure
def _bundle_receipt_struct_hash(message: BundleReceiptMsg) -> bytes32:
    return keccak256(
        abi_encode(
            BUNDLE_RECEIPT_TYPEHASH,
            message.bundle_hash,
            message.legs_hash,
            message.beneficiary,
            message.deadline,
        )
    )


@internal
@pure
def _typed_digest(domain_separator: bytes32, struct_hash: bytes32) -> bytes32:
    """
    @dev keccak256("\x19\x01" || domain_separator || struct_hash).
    """
    return message_hash_utils._to_typed_data_hash(domain_separator, struct_hash)


@internal
@pure
def _recover(digest: bytes32, signature: Bytes[65]) -> address:
    """
    @dev The signer of `digest`. Only 65-byte r || s || v signatures are accepted (the
         64-byte EIP-2098 form would give one promise two encodings); high s and invalid
         signatures revert in snekmate's `ecdsa`.
    """
    assert len(signature) == 65, "commitments: signature must be 65 bytes"
    return ecdsa._recover_sig(digest, signature)


@internal
@pure
def _verify(proof: DynArray[bytes32, MAX_PROOF_DEPTH], root: bytes32, leaf: bytes32) -> bool:
    """
    @dev Membership of `leaf` in the sorted-pair tree with root `root`.
    """
    return merkle_proof_verification._verify(proof, root, leaf)
