"""The Python side of the commitment formats, checked against independent implementations.

(Parity with the Vyper side is tested in tests/contracts against the deployed contracts.)
"""

import os

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer import commitments as c

b32 = st.binary(min_size=32, max_size=32)
u64 = st.integers(min_value=0, max_value=2**64 - 1)
DOMAIN = c.Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
DOMAIN_JSON = {
    "name": "SharedSequencer",
    "version": "1",
    "chainId": 31337,
    "verifyingContract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
}


@given(st.lists(b32, min_size=1, max_size=40))
@settings(max_examples=60, deadline=None)
def test_every_leaf_has_a_proof_to_the_root(leaves):
    tree = c.MerkleTree(leaves)
    for position, leaf in enumerate(leaves):
        assert c.verify_proof(tree.proof(position), tree.root, leaf)
    # a leaf not in the tree does not verify with any of the proofs
    stranger = bytes(32) if bytes(32) not in leaves else b"\x01" * 32
    assert not any(c.verify_proof(tree.proof(p), tree.root, stranger) for p in range(len(leaves)))


def test_proof_depth_is_logarithmic():
    tree = c.MerkleTree([os.urandom(32) for _ in range(1024)])
    assert len(tree.proof(517)) == 10


@given(u64, u64, u64, b32, b32)
@settings(max_examples=40, deadline=None)
def test_preconf_digest_matches_eth_account_typed_data(chain_id, block, index, tx_hash, _):
    msg = c.PreconfMsg(chain_id, block, index, tx_hash, deadline=block + 7)
    reference = encode_typed_data(
        full_message={
            "types": {
                "EIP712Domain": list(c.EIP712_DOMAIN_FIELDS),
                "Preconf": [
                    {"name": "chainId", "type": "uint256"},
                    {"name": "blockNumber", "type": "uint256"},
                    {"name": "index", "type": "uint256"},
                    {"name": "txHash", "type": "bytes32"},
                    {"name": "deadline", "type": "uint256"},
                ],
            },
            "primaryType": "Preconf",
            "domain": DOMAIN_JSON,
            "message": {
                "chainId": chain_id,
                "blockNumber": block,
                "index": index,
                "txHash": tx_hash,
                "deadline": block + 7,
            },
        }
    )
    expected = keccak(b"\x19" + reference.version + reference.header + reference.body)
    assert c.digest(DOMAIN, msg) == expected


def test_block_header_and_receipt_digests_match_eth_account():
    def ref(primary, fields, message):
        m = encode_typed_data(
            full_message={
                "types": {
                    "EIP712Domain": list(c.EIP712_DOMAIN_FIELDS),
                    primary: fields,
                },
                "primaryType": primary,
                "domain": DOMAIN_JSON,
                "message": message,
            }
        )
        return keccak(b"\x19" + m.version + m.header + m.body)

    header = c.BlockHeaderMsg(901, 12, b"\x11" * 32, b"\x22" * 32)
    assert c.digest(DOMAIN, header) == ref(
        "BlockHeader",
        [
            {"name": "chainId", "type": "uint256"},
            {"name": "blockNumber", "type": "uint256"},
            {"name": "blockHash", "type": "bytes32"},
            {"name": "parentHash", "type": "bytes32"},
        ],
        {"chainId": 901, "blockNumber": 12, "blockHash": b"\x11" * 32, "parentHash": b"\x22" * 32},
    )
    receipt = c.BundleReceiptMsg(
        b"\x33" * 32, b"\x44" * 32, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", 99
    )
    assert c.digest(DOMAIN, receipt) == ref(
        "BundleReceipt",
        [
            {"name": "bundleHash", "type": "bytes32"},
            {"name": "legsHash", "type": "bytes32"},
            {"name": "beneficiary", "type": "address"},
            {"name": "deadline", "type": "uint256"},
        ],
        {
            "bundleHash": b"\x33" * 32,
            "legsHash": b"\x44" * 32,
            "beneficiary": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            "deadline": 99,
        },
    )


def test_sign_and_recover_round_trip_and_refuse_malleable_signatures():
    account = Account.create()
    signer = c.Signer(account.key)
    assert account.address in repr(signer) and account.key.hex() not in repr(signer)
    msg = c.PreconfMsg(901, 5, 0, b"\xaa" * 32, 40)
    sig = signer.sign(DOMAIN, msg)
    assert c.recover(c.digest(DOMAIN, msg), sig) == account.address
    # the same signature over another message recovers someone else
    other = c.PreconfMsg(901, 5, 1, b"\xaa" * 32, 40)
    assert c.recover(c.digest(DOMAIN, other), sig) != account.address
    # high-s twin of a valid signature is refused
    s = int.from_bytes(sig[32:64], "big")
    twin = sig[:32] + (c.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    with pytest.raises(ValueError, match="high s"):
        c.recover(c.digest(DOMAIN, msg), twin)
    with pytest.raises(ValueError, match="65 bytes"):
        c.recover(c.digest(DOMAIN, msg), sig[:64])


def test_leaves_reject_unknown_status_and_bad_hashes():
    with pytest.raises(ValueError, match="status"):
        c.tx_leaf(901, 1, 0, b"\x00" * 32, 3)
    with pytest.raises(ValueError, match="32 bytes"):
        c.block_leaf(901, 1, 0, b"\x00" * 31)


u256 = st.integers(min_value=0, max_value=2**256 - 1)


@given(u256, u256, u256, b32, st.sampled_from([0, 1, 2]), u256)
@settings(max_examples=200, deadline=None)
def test_leaves_are_keccak_of_their_abi_encoding(chain_id, number, index, tx_hash, status, count):
    """The leaves' hand-packed words (a batch computes one per transaction) are exactly
    eth_abi's encoding of the tuple, as the contracts hash it."""
    from eth_abi import encode

    assert c.tx_leaf(chain_id, number, index, tx_hash, status) == keccak(
        encode(
            ["uint256", "uint256", "uint256", "uint256", "bytes32", "uint256"],
            [1, chain_id, number, index, tx_hash, status],
        )
    )
    assert c.block_leaf(chain_id, number, count, tx_hash) == keccak(
        encode(
            ["uint256", "uint256", "uint256", "uint256", "bytes32"],
            [2, chain_id, number, count, tx_hash],
        )
    )


@pytest.mark.parametrize("bad", [-1, 2**256, "7", None])
def test_leaves_refuse_values_that_are_not_uint256(bad):
    with pytest.raises(ValueError, match="uint256"):
        c.tx_leaf(901, bad, 0, b"\x00" * 32, 1)
    with pytest.raises(ValueError, match="uint256"):
        c.block_leaf(bad, 1, 0, b"\x00" * 32)


def test_block_leaves_follow_tx_leaves_in_index_order():
    txs = (c.TxRecord(0, b"\x01" * 32, 1), c.TxRecord(1, b"\x02" * 32, 0))
    block = c.BlockRecord(901, 7, b"\x09" * 32, txs)
    assert block.leaves() == [
        c.tx_leaf(901, 7, 0, b"\x01" * 32, 1),
        c.tx_leaf(901, 7, 1, b"\x02" * 32, 0),
        c.block_leaf(901, 7, 2, b"\x09" * 32),
    ]


def test_header_hash_is_keccak_of_the_tuple_encoding():
    from eth_abi import decode

    rollup = c.RollupCommitment(901, 1, 4, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, b"\x04" * 32)
    header = c.BatchHeader(3, b"\x05" * 32, 2, (rollup,), b"\x06" * 32, 0, b"\x07" * 32)
    assert header.hash() == keccak(header.encode())
    (decoded,) = decode([c.HEADER_TYPE], header.encode())
    assert decoded[0] == 3 and decoded[3][0][0] == 901
    with pytest.raises(ValueError):
        c.BatchHeader(0, b"\x00" * 32, 0, (rollup,) * 9, b"\x00" * 32, 0, b"\x00" * 32)


@pytest.mark.parametrize("number", [0, 1, 2**64, 2**256 - 1])
def test_the_block_header_struct_hash_is_abi_encode_to_the_word(number):
    """The header's words are concatenated by hand (no eth_abi on the per-block path): the same
    bytes as abi.encode, across the uint256 range; outside it, refused."""
    from eth_abi import encode

    header = c.BlockHeaderMsg(number, number, b"\x11" * 32, b"\x22" * 32)
    words = encode(
        ["bytes32", "uint256", "uint256", "bytes32", "bytes32"],
        [c.BLOCK_HEADER_TYPEHASH, number, number, b"\x11" * 32, b"\x22" * 32],
    )
    assert header.struct_hash() == keccak(words)
    with pytest.raises(ValueError):
        c.BlockHeaderMsg(-1, number, b"\x11" * 32, b"\x22" * 32).struct_hash()
    with pytest.raises(ValueError):
        c.BlockHeaderMsg(901, 2**256, b"\x11" * 32, b"\x22" * 32).struct_hash()
