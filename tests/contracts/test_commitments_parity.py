"""Parity of the commitment formats: `sequencer/commitments.py` vs `contracts/lib/commitments.vy`.

Random headers, leaves, trees, legs and typed messages must give byte-identical encodings, hashes,
roots/proof verification and recovered signers in Python and in the contract (through the
test-only `CommitmentsHarness`, deployed on the L1).
"""

from __future__ import annotations

import ape
import pytest
from eth_keys import keys
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sequencer import commitments as c

SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

b32 = st.binary(min_size=32, max_size=32)
u64 = st.integers(min_value=0, max_value=2**64 - 1)
u256 = st.integers(min_value=0, max_value=2**256 - 1)
status = st.sampled_from([c.STATUS_REVERTED, c.STATUS_SUCCESS, c.STATUS_SKIPPED])
private_keys = st.integers(min_value=1, max_value=c.SECP256K1_N - 1)


@st.composite
def rollups(draw) -> c.RollupCommitment:
    first = draw(u64)
    return c.RollupCommitment(
        chain_id=draw(u64),
        first_block=first,
        last_block=first + draw(st.integers(0, 1000)),
        parent_hash=draw(b32),
        last_block_hash=draw(b32),
        state_root=draw(b32),
        tx_root=draw(b32),
    )


@st.composite
def headers(draw) -> c.BatchHeader:
    return c.BatchHeader(
        sequence=draw(u256),
        prev_hash=draw(b32),
        term=draw(u256),
        rollups=tuple(draw(st.lists(rollups(), max_size=c.MAX_ROLLUPS))),
        bundle_root=draw(b32),
        forced_through=draw(u256),
        data_hash=draw(b32),
    )


@pytest.fixture(scope="module")
def harness(project, accounts):
    return project.CommitmentsHarness.deploy(sender=accounts[0])


@pytest.fixture(scope="module")
def domain(harness, chain):
    return c.Domain(chain_id=chain.chain_id, verifying_contract=str(harness.address))


def test_domain_separator_matches(harness, domain):
    assert bytes(harness.domain_separator()) == domain.separator()
    fields = harness.eip712Domain()
    assert (fields[1], fields[2]) == (c.EIP712_DOMAIN_NAME, c.EIP712_DOMAIN_VERSION)


@given(header=headers())
@SETTINGS
def test_header_encoding_and_hash(harness, header):
    assert bytes(harness.encode_header(header.as_tuple())) == header.encode()
    assert bytes(harness.header_hash(header.as_tuple())) == header.hash()


@given(chain_id=u256, number=u256, index=u256, tx_hash=b32, st_=status, count=u256, bh=b32)
@SETTINGS
def test_leaves(harness, chain_id, number, index, tx_hash, st_, count, bh):
    assert bytes(harness.tx_leaf((chain_id, number, index, tx_hash, st_))) == c.tx_leaf(
        chain_id, number, index, tx_hash, st_
    )
    assert bytes(harness.block_leaf((chain_id, number, count, bh))) == c.block_leaf(
        chain_id, number, count, bh
    )


@given(legs=st.lists(st.tuples(u64, u64, u64, b32), max_size=16))
@SETTINGS
def test_legs_hash(harness, legs):
    assert bytes(harness.legs_hash(legs)) == c.legs_hash(legs)


@given(leaves=st.lists(b32, min_size=1, max_size=64, unique=True), data=st.data())
@SETTINGS
def test_tree_proofs_verify_identically(harness, leaves, data):
    tree = c.MerkleTree(leaves)
    position = data.draw(st.integers(0, len(leaves) - 1))
    proof = tree.proof(position)
    assert harness.verify(proof, tree.root, leaves[position]) is True
    # the proof of one position does not prove a different leaf there, in either implementation
    other = bytes(32) if leaves[position] != bytes(32) else b"\x01" * 32
    assert harness.verify(proof, tree.root, other) is c.verify_proof(proof, tree.root, other)
    assert harness.verify(proof, tree.root, other) is False


def test_proof_of_ten_levels(harness):
    leaves = [c.tx_leaf(901, 1, i, i.to_bytes(32, "big"), 1) for i in range(1024)]
    tree = c.MerkleTree(leaves)
    proof = tree.proof(700)
    assert len(proof) == 10
    assert harness.verify(proof, tree.root, leaves[700]) is True
    assert harness.verify(proof, tree.root, leaves[701]) is False


@given(
    key=private_keys,
    chain_id=u64,
    number=u64,
    index=u64,
    h1=b32,
    h2=b32,
    deadline=u64,
    beneficiary=st.binary(min_size=20, max_size=20),
)
@SETTINGS
def test_typed_messages_digests_and_signers(
    harness, domain, key, chain_id, number, index, h1, h2, deadline, beneficiary
):
    signer = c.Signer(key.to_bytes(32, "big"))
    expected = keys.PrivateKey(key.to_bytes(32, "big")).public_key.to_checksum_address()
    header = c.BlockHeaderMsg(chain_id, number, h1, h2)
    preconf = c.PreconfMsg(chain_id, number, index, h1, deadline)
    receipt = c.BundleReceiptMsg(h1, h2, "0x" + beneficiary.hex(), deadline)
    on_chain = {
        header: harness.block_header_digest((chain_id, number, h1, h2)),
        preconf: harness.preconf_digest((chain_id, number, index, h1, deadline)),
        receipt: harness.bundle_receipt_digest((h1, h2, receipt.beneficiary, deadline)),
    }
    for message, vyper_digest in on_chain.items():
        digest = c.digest(domain, message)
        assert bytes(vyper_digest) == digest
        signature = signer.sign(domain, message)
        assert harness.recover(digest, signature) == c.recover(digest, signature) == expected


def test_recover_refuses_what_python_refuses(harness, domain):
    signer = c.Signer(b"\x07" * 32)
    message = c.PreconfMsg(901, 5, 0, b"\xaa" * 32, 40)
    digest = c.digest(domain, message)
    signature = signer.sign(domain, message)
    s = int.from_bytes(signature[32:64], "big")
    twin = signature[:32] + (c.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - signature[64]])
    with pytest.raises(ValueError, match="high s"):
        c.recover(digest, twin)
    with ape.reverts("ecdsa: invalid signature `s` value"):
        harness.recover(digest, twin)
    bad_v = signature[:64] + bytes([29])
    with pytest.raises(ValueError, match="v must be"):
        c.recover(digest, bad_v)
    with ape.reverts("ecdsa: invalid signature"):
        harness.recover(digest, bad_v)
    with ape.reverts("commitments: signature must be 65 bytes"):
        harness.recover(digest, signature[:64])
