"""The commitment formats of DESIGN §4.2, byte for byte as `contracts/lib/commitments.vy` has them.

Owns: batch headers and their hash, tx and block leaves, the Merkle tree over a rollup's range
(sorted-pair keccak, as snekmate's `merkle_proof_verification` verifies), and EIP-712 hashing,
signing and recovery of `BlockHeader`, `Preconf` and `BundleReceipt`.
Pure functions over plain data: it never talks to a chain and never stores a key.

Conventions:
- every integer is a uint256 on the wire; hashes are 32-byte `bytes`;
- `header_hash = keccak256(abi_encode(BatchHeader))`, the struct encoded as one tuple (Vyper's
  `abi_encode(header)`, eth-abi's `encode([HEADER_TYPE], [header])`);
- leaves are single-hashed: their pre-images are 160 or 192 bytes, never the 64 bytes of an
  inner node, so a leaf can never pass for a node;
- tree shape: leaves in position order, pairs hashed bottom-up, an odd node promoted unchanged.
  Any shape verifies with sorted pairs; this one is what the builder and the batcher commit to;
- deadlines in `Preconf` and `BundleReceipt` are L1 block numbers.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass, field
from typing import TYPE_CHECKING, Any

import coincurve
import seqcore  # the compiled request path (native/): the promise's digest and signature
from eth_abi import encode
from eth_keys import keys
from eth_utils import keccak, to_checksum_address

if TYPE_CHECKING:  # eth-account is imported lazily (only the batcher and tools need it)
    from eth_account.signers.local import LocalAccount

ZERO_HASH = b"\x00" * 32
MAX_ROLLUPS = 8

STATUS_REVERTED = 0
STATUS_SUCCESS = 1
STATUS_SKIPPED = 2

# A forced-queue item that the engine refused is committed as a tx leaf with status 2 at index
# SKIPPED_INDEX_BASE + its queue index: a position no real transaction can hold.
SKIPPED_INDEX_BASE = 2**128

TX_LEAF_TAG = 1
BLOCK_LEAF_TAG = 2

ROLLUP_TYPE = "(uint256,uint256,uint256,bytes32,bytes32,bytes32,bytes32)"
HEADER_TYPE = f"(uint256,bytes32,uint256,{ROLLUP_TYPE}[],bytes32,uint256,bytes32)"
LEG_TYPE = "(uint256,uint256,uint256,bytes32)"

EIP712_DOMAIN_NAME = "SharedSequencer"
EIP712_DOMAIN_VERSION = "1"
EIP712_DOMAIN_TYPEHASH = keccak(
    text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
# The same domain's fields as EIP-712 typed data lists them (eth_signTypedData_v4, eth-account).
EIP712_DOMAIN_FIELDS = (
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
)
BLOCK_HEADER_TYPEHASH = keccak(
    text="BlockHeader(uint256 chainId,uint256 blockNumber,bytes32 blockHash,bytes32 parentHash)"
)
PRECONF_TYPEHASH = keccak(
    text="Preconf(uint256 chainId,uint256 blockNumber,uint256 index,bytes32 txHash,"
    "uint256 deadline)"
)
BUNDLE_RECEIPT_TYPEHASH = keccak(
    text="BundleReceipt(bytes32 bundleHash,bytes32 legsHash,address beneficiary,uint256 deadline)"
)


def _b32(value: bytes, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise ValueError(f"{what} must be 32 bytes")
    return bytes(value)


# --- batch header ---


@dataclass(frozen=True)
class RollupCommitment:
    """What one batch commits to for one rollup: a contiguous range of its blocks."""

    chain_id: int
    first_block: int
    last_block: int
    parent_hash: bytes  # hash of block first_block - 1
    last_block_hash: bytes
    state_root: bytes  # state root after last_block
    tx_root: bytes  # Merkle root over the range's tx leaves and block leaves

    def __post_init__(self) -> None:
        if self.last_block < self.first_block:
            raise ValueError("last_block before first_block")
        for name in ("parent_hash", "last_block_hash", "state_root", "tx_root"):
            _b32(getattr(self, name), name)


@dataclass(frozen=True)
class BatchHeader:
    sequence: int
    prev_hash: bytes  # header hash of batch sequence - 1 (zero for the first)
    term: int
    rollups: tuple[RollupCommitment, ...]
    bundle_root: bytes
    forced_through: int  # forced-inclusion queue index consumed up to (exclusive)
    data_hash: bytes  # keccak256(payload) for calldata, the blob's versioned hash for blobs

    def __post_init__(self) -> None:
        if len(self.rollups) > MAX_ROLLUPS:
            raise ValueError(f"at most {MAX_ROLLUPS} rollups per batch")
        for name in ("prev_hash", "bundle_root", "data_hash"):
            _b32(getattr(self, name), name)

    def as_tuple(self) -> tuple:
        return (
            self.sequence,
            self.prev_hash,
            self.term,
            [astuple(r) for r in self.rollups],
            self.bundle_root,
            self.forced_through,
            self.data_hash,
        )

    def encode(self) -> bytes:
        """abi_encode(header): what the inbox's event carries and the slasher is re-supplied."""
        return encode([HEADER_TYPE], [self.as_tuple()])

    def hash(self) -> bytes:
        return keccak(self.encode())


def header_from_abi(value: Any) -> BatchHeader:
    """A BatchHeader from an ABI decoding of the struct (web3's tuple or mapping), as the
    inbox's `BatchPosted` event carries it."""

    def get(obj: Any, name: str, index: int) -> Any:
        return obj[name] if isinstance(obj, dict) or hasattr(obj, "keys") else obj[index]

    rollups = tuple(
        RollupCommitment(
            chain_id=get(r, "chain_id", 0),
            first_block=get(r, "first_block", 1),
            last_block=get(r, "last_block", 2),
            parent_hash=bytes(get(r, "parent_hash", 3)),
            last_block_hash=bytes(get(r, "last_block_hash", 4)),
            state_root=bytes(get(r, "state_root", 5)),
            tx_root=bytes(get(r, "tx_root", 6)),
        )
        for r in get(value, "rollups", 3)
    )
    return BatchHeader(
        sequence=get(value, "sequence", 0),
        prev_hash=bytes(get(value, "prev_hash", 1)),
        term=get(value, "term", 2),
        rollups=rollups,
        bundle_root=bytes(get(value, "bundle_root", 4)),
        forced_through=get(value, "forced_through", 5),
        data_hash=bytes(get(value, "data_hash", 6)),
    )


def header_hash(header: BatchHeader) -> bytes:
    return header.hash()


# --- leaves ---


def _uint256s(*values: int) -> bytes:
    """abi_encode of uint256 values (each a 32-byte big-endian word), without eth_abi's
    per-value type machinery: a batch computes a leaf per transaction."""
    try:
        return b"".join(v.to_bytes(32, "big") for v in values)
    except (OverflowError, AttributeError) as exc:
        raise ValueError(f"not a uint256 in {values!r:.200}") from exc


def tx_leaf(chain_id: int, block_number: int, index: int, tx_hash: bytes, status: int) -> bytes:
    """keccak256(abi_encode(1, chain_id, block_number, index, tx_hash, status))."""
    if status not in (STATUS_REVERTED, STATUS_SUCCESS, STATUS_SKIPPED):
        raise ValueError(f"unknown status {status}")
    return keccak(
        _uint256s(TX_LEAF_TAG, chain_id, block_number, index)
        + _b32(tx_hash, "tx_hash")
        + status.to_bytes(32, "big")
    )


def block_leaf(chain_id: int, block_number: int, tx_count: int, block_hash: bytes) -> bytes:
    """keccak256(abi_encode(2, chain_id, block_number, tx_count, block_hash))."""
    return keccak(
        _uint256s(BLOCK_LEAF_TAG, chain_id, block_number, tx_count) + _b32(block_hash, "block_hash")
    )


@dataclass(frozen=True)
class TxRecord:
    """One transaction as committed: its position, hash and status."""

    index: int
    tx_hash: bytes
    status: int


@dataclass(frozen=True)
class BlockRecord:
    """One rollup block as committed: its number, hash and transactions in order."""

    chain_id: int
    number: int
    block_hash: bytes
    txs: tuple[TxRecord, ...] = ()

    def leaves(self) -> list[bytes]:
        """The block's tx leaves in index order, then its block leaf."""
        out = [
            tx_leaf(self.chain_id, self.number, tx.index, tx.tx_hash, tx.status) for tx in self.txs
        ]
        out.append(block_leaf(self.chain_id, self.number, len(self.txs), self.block_hash))
        return out


def skipped_leaf(chain_id: int, block_number: int, queue_index: int, tx_hash: bytes) -> bytes:
    """The leaf of a forced-queue item the engine refused at the start of `block_number`."""
    return tx_leaf(
        chain_id, block_number, SKIPPED_INDEX_BASE + queue_index, tx_hash, STATUS_SKIPPED
    )


def range_leaves(
    blocks: Sequence[BlockRecord], skipped: Mapping[int, Sequence[bytes]] | None = None
) -> list[bytes]:
    """Every leaf of a rollup's range, in the order the tree commits them: per block, its tx
    leaves, then the leaves of forced items skipped at its start (`skipped`, by block number),
    then its block leaf."""
    leaves: list[bytes] = []
    for block in blocks:
        own = block.leaves()
        leaves.extend(own[:-1])
        leaves.extend((skipped or {}).get(block.number, ()))
        leaves.append(own[-1])
    return leaves


# --- Merkle tree (sorted pairs) ---


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


@dataclass
class MerkleTree:
    """A sorted-pair keccak Merkle tree over leaves in the given order."""

    leaves: list[bytes]
    _layers: list[list[bytes]] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        layer = [_b32(leaf, "leaf") for leaf in self.leaves]
        self._layers = [layer]
        while len(layer) > 1:
            nxt = [hash_pair(layer[i], layer[i + 1]) for i in range(0, len(layer) - 1, 2)]
            if len(layer) % 2:
                nxt.append(layer[-1])
            layer = nxt
            self._layers.append(layer)

    @property
    def root(self) -> bytes:
        return self._layers[-1][0]

    def proof(self, position: int) -> list[bytes]:
        """Sibling hashes from the leaf at `position` up to the root."""
        if not 0 <= position < len(self.leaves):
            raise IndexError(f"no leaf at position {position}")
        proof = []
        for layer in self._layers[:-1]:
            sibling = position ^ 1
            if sibling < len(layer):
                proof.append(layer[sibling])
            position //= 2
        return proof


def verify_proof(proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
    """What snekmate's merkle_proof_verification.verify computes."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root


def legs_hash(legs: Sequence[tuple[int, int, int, bytes]]) -> bytes:
    """keccak256(abi_encode(Leg[])), Leg = (chain_id, block_number, index, tx_hash): the positions
    that a bundle receipt promises for its legs."""
    return keccak(
        encode([f"{LEG_TYPE}[]"], [[(c, b, i, _b32(h, "tx_hash")) for c, b, i, h in legs]])
    )


# --- EIP-712 ---


@dataclass(frozen=True)
class Domain:
    """The signing domain: the Slasher on the L1 verifies every signed promise."""

    chain_id: int  # the L1 chain id
    verifying_contract: str  # the Slasher's address

    def separator(self) -> bytes:
        return eip712_domain_separator(
            EIP712_DOMAIN_NAME, EIP712_DOMAIN_VERSION, self.chain_id, self.verifying_contract
        )


@functools.lru_cache(maxsize=64)  # pure; a block header's signature needs it 8 times a second
def eip712_domain_separator(name: str, version: str, chain_id: int, contract: str) -> bytes:
    """EIP-712 `hashStruct(EIP712Domain(name, version, chainId, verifyingContract))`: the one
    definition for every domain of the project (promises here, bundles in `bundles.py`)."""
    return keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                EIP712_DOMAIN_TYPEHASH,
                keccak(text=name),
                keccak(text=version),
                chain_id,
                to_checksum_address(contract),
            ],
        )
    )


def typed_digest(domain: Domain, struct_hash: bytes) -> bytes:
    return keccak(b"\x19\x01" + domain.separator() + struct_hash)


@dataclass(frozen=True)
class BlockHeaderMsg:
    chain_id: int
    block_number: int
    block_hash: bytes
    parent_hash: bytes

    def struct_hash(self) -> bytes:
        # abi.encode of static words, concatenated (one header per block, empty ones too: eth_abi
        # cost more than the hash); the EIP-712 reference test holds it to eth_account's digest
        return keccak(
            BLOCK_HEADER_TYPEHASH
            + _uint256s(self.chain_id, self.block_number)
            + _b32(self.block_hash, "block_hash")
            + _b32(self.parent_hash, "parent_hash")
        )


@dataclass(frozen=True)
class PreconfMsg:
    chain_id: int
    block_number: int
    index: int
    tx_hash: bytes
    deadline: int  # L1 block number by which a batch must cover block_number

    def struct_hash(self) -> bytes:
        return keccak(
            encode(
                ["bytes32", "uint256", "uint256", "uint256", "bytes32", "uint256"],
                [
                    PRECONF_TYPEHASH,
                    self.chain_id,
                    self.block_number,
                    self.index,
                    _b32(self.tx_hash, "tx_hash"),
                    self.deadline,
                ],
            )
        )


@dataclass(frozen=True)
class BundleReceiptMsg:
    bundle_hash: bytes
    legs_hash: bytes
    beneficiary: str
    deadline: int  # L1 block number

    def struct_hash(self) -> bytes:
        return keccak(
            encode(
                ["bytes32", "bytes32", "bytes32", "address", "uint256"],
                [
                    BUNDLE_RECEIPT_TYPEHASH,
                    _b32(self.bundle_hash, "bundle_hash"),
                    _b32(self.legs_hash, "legs_hash"),
                    to_checksum_address(self.beneficiary),
                    self.deadline,
                ],
            )
        )


Message = BlockHeaderMsg | PreconfMsg | BundleReceiptMsg


def digest(domain: Domain, message: Message) -> bytes:
    return typed_digest(domain, message.struct_hash())


class Signer:
    """Signs EIP-712 digests with one secp256k1 key. The key never appears in repr or logs."""

    def __init__(self, private_key: bytes | str) -> None:
        raw = (
            bytes.fromhex(private_key.removeprefix("0x"))
            if isinstance(private_key, str)
            else (bytes(private_key))
        )
        self._key = keys.PrivateKey(raw)
        self._secp = coincurve.PrivateKey(raw)  # libsecp256k1: the signing fast path
        self.address = self._key.public_key.to_checksum_address()

    def __repr__(self) -> str:
        return f"Signer({self.address})"

    def local_account(self) -> LocalAccount:
        """The same key as an eth-account LocalAccount, for the L1 transaction manager."""
        from eth_account import Account

        return Account.from_key(self._key.to_bytes())

    def sign_digest(self, digest32: bytes) -> bytes:
        """65 bytes r || s || v with v in {27, 28} and low s (what snekmate's ecdsa accepts), for
        a precomputed 32-byte digest: the fast path (libsecp256k1 through coincurve, ~20 us; RFC
        6979 nonces, so the same bytes as eth-keys' `sign_msg_hash` at a third of its cost)."""
        sig = self._secp.sign_recoverable(_b32(digest32, "digest"), hasher=None)
        return sig[:64] + bytes([sig[64] + 27])

    def sign(self, domain: Domain, message: Message) -> bytes:
        return self.sign_digest(digest(domain, message))

    def preconf_signer(self, separator: bytes) -> seqcore.PreconfSigner:
        """This key's signer of `Preconf` promises in the domain of `separator`, compiled:
        `.sign(chain_id, block_number, index, tx_hash, deadline)` is the EIP-712 digest and its
        signature in one call, the same 65 bytes as `sign_digest(digest(domain, PreconfMsg(..)))`
        (tests/sequencer/test_native_parity.py), at about 3/4 of its CPU. Its numbers are
        64-bit (OverflowError above), as the journal stores them."""
        return seqcore.PreconfSigner(
            self._secp.secret, _b32(separator, "separator"), PRECONF_TYPEHASH
        )


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def recover(digest32: bytes, signature: bytes) -> str:
    """The checksummed address that signed `digest32`.

    Raises ValueError on what snekmate's `ecdsa` also refuses: a length other than 65, v not in
    {27, 28}, r or s out of range, or a high s (malleable signature).
    """
    if len(signature) != 65:
        raise ValueError("signature must be 65 bytes")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if v not in (27, 28):
        raise ValueError("signature v must be 27 or 28")
    if not (0 < r < SECP256K1_N and 0 < s <= SECP256K1_N // 2):
        raise ValueError("signature r or s out of range (high s is refused)")
    sig = keys.Signature(vrs=(v - 27, r, s))
    return sig.recover_public_key_from_msg_hash(_b32(digest32, "digest")).to_checksum_address()
