# pragma version ~=0.4.3
"""
@title Commitments harness
@custom:contract-name CommitmentsHarness
@license AGPL-3.0-only
@notice Test-only: exposes `contracts/lib/commitments.vy` so the parity tests can compare it
        with `sequencer/commitments.py`. Its EIP-712 domain is "SharedSequencer"/"1" with
        this contract as verifying contract, exactly as the Slasher's is.
"""

from snekmate.utils import eip712_domain_separator
from ..lib import commitments

initializes: eip712_domain_separator

exports: eip712_domain_separator.eip712Domain


@deploy
def __init__():
    eip712_domain_separator.__init__("SharedSequencer", "1")


@external
@view
def domain_separator() -> bytes32:
    """
    @notice The EIP-712 domain separator of this contract.
    """
    return eip712_domain_separator._domain_separator_v4()


@external
@pure
def header_hash(header: commitments.BatchHeader) -> bytes32:
    """
    @notice keccak256(abi_encode(header)).
    """
    return commitments._header_hash(header)


@external
@pure
def encode_header(header: commitments.BatchHeader) -> Bytes[2080]:
    """
    @notice abi_encode(header), to compare with the Python encoding byte for byte.
    """
    return abi_encode(header)


@external
@pure
def tx_leaf(leaf: commitments.TxLeaf) -> bytes32:
    """
    @notice The tx leaf of (chain id, block number, index, tx hash, status).
    """
    return commitments._tx_leaf(leaf)


@external
@pure
def block_leaf(leaf: commitments.BlockLeaf) -> bytes32:
    """
    @notice The block leaf of (chain id, block number, tx count, block hash).
    """
    return commitments._block_leaf(leaf)


@external
@pure
def legs_hash(legs: DynArray[commitments.Leg, commitments.MAX_LEGS]) -> bytes32:
    """
    @notice keccak256(abi_encode(legs)).
    """
    return commitments._legs_hash(legs)


@external
@pure
def verify(
    proof: DynArray[bytes32, commitments.MAX_PROOF_DEPTH], root: bytes32, leaf: bytes32
) -> bool:
    """
    @notice Whether `proof` proves `leaf` under `root` (sorted pairs).
    """
    return commitments._verify(proof, root, leaf)


@external
@view
def block_header_digest(message: commitments.BlockHeaderMsg) -> bytes32:
    """
    @notice The EIP-712 digest of a `BlockHeader` in this contract's domain.
    """
    return commitments._typed_digest(
        eip712_domain_separator._domain_separator_v4(),
        commitments._block_header_struct_hash(message),
    )


@external
@view
def preconf_digest(message: commitments.PreconfMsg) -> bytes32:
    """
    @notice The EIP-712 digest of a `Preconf` in this contract's domain.
    """
    return commitments._typed_digest(
        eip712_domain_separator._domain_separator_v4(), commitments._preconf_struct_hash(message)
    )


@external
@view
def bundle_receipt_digest(message: commitments.BundleReceiptMsg) -> bytes32:
    """
    @notice The EIP-712 digest of a `BundleReceipt` in this contract's domain.
    """
    return commitments._typed_digest(
        eip712_domain_separator._domain_separator_v4(),
        commitments._bundle_receipt_struct_hash(message),
    )


@external
@pure
def recover(digest: bytes32, signature: Bytes[65]) -> address:
    """
    @notice The address that signed `digest` (reverts on a malformed or malleable signature).
    """
    return commitments._recover(digest, signature)
