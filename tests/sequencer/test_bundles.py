"""sequencer/bundles.py without a chain: EIP-712 hashing against eth-account's independent
implementation, signing and recovery, leg calldata. Parity with BundleSettlement itself is tested
on the rollup engines in tests/contracts/xrollup/test_xrollup_parity.py."""

import pytest
from eth_abi import decode as abi_decode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer import bundles
from sequencer.bundles import (
    BUNDLE_ABI,
    EXECUTE_LEG_SELECTOR,
    Bundle,
    BundleError,
    Call,
    Domain,
    Leg,
    Pull,
    bundle_digest,
    bundle_hash,
    decode_execute_leg,
    execute_leg_calldata,
    leg_transaction,
    recover_signer,
    sign_bundle,
    typed_data,
)

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
uint256 = st.integers(0, 2**256 - 1)
addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
calls = st.builds(Call, target=addresses, value=uint256, data=st.binary(max_size=80))
pulls = st.builds(Pull, token=addresses, amount=uint256)
legs = st.builds(
    Leg,
    chain_id=uint256,
    target_block=uint256,
    pulls=st.lists(pulls, max_size=2).map(tuple),
    calls=st.lists(calls, max_size=3).map(tuple),
)
keys = st.integers(1, N - 1).map(lambda k: k.to_bytes(32, "big"))
domains = st.builds(Domain, chain_id=uint256, verifying_contract=addresses)


@st.composite
def signed(draw):
    key = draw(keys)
    bundle = Bundle(
        Account.from_key(key).address,
        draw(addresses),
        draw(uint256),
        draw(uint256),
        tuple(draw(st.lists(legs, max_size=3))),
    )
    return bundle, key


@settings(max_examples=60, deadline=None)
@given(signed=signed(), domain=domains)
def test_digest_signature_and_leg_calldata_match_eth_account_and_round_trip(signed, domain):
    bundle, key = signed
    if bundle.legs:
        calldata = execute_leg_calldata(bundle, len(bundle.legs) - 1, b"\x01" * 65)
        assert decode_execute_leg(calldata) == (bundle, len(bundle.legs) - 1, b"\x01" * 65)
    encoded = encode_typed_data(full_message=typed_data(bundle, domain))
    assert keccak(b"\x19" + encoded.version + encoded.header + encoded.body) == bundle_digest(
        bundle, domain
    )
    assert encoded.body == bundle_hash(bundle)
    signature = sign_bundle(bundle, domain, key)
    assert signature == Account.sign_message(encoded, key).signature
    assert recover_signer(bundle, domain, signature) == bundle.owner


def test_a_bundle_hash_covers_every_leg_and_field():
    owner, other = "0x" + "aa" * 20, "0x" + "bb" * 20
    leg = Leg(901, 10, (Pull(other, 5),), (Call(other, 0, b"\x01"),))
    base = Bundle(owner, owner, 100, 1, (leg, Leg(902, 10)))
    variants = [
        Bundle(owner, owner, 100, 1, (leg, Leg(902, 11))),
        Bundle(owner, owner, 100, 1, (leg,)),
        Bundle(owner, owner, 100, 1, (Leg(902, 10), leg)),
        Bundle(owner, other, 100, 1, base.legs),
        Bundle(owner, owner, 101, 1, base.legs),
        Bundle(owner, owner, 100, 2, base.legs),
        Bundle(other, owner, 100, 1, base.legs),
        Bundle(owner, owner, 100, 1, (Leg(901, 10, (Pull(other, 6),), leg.calls), Leg(902, 10))),
        Bundle(owner, owner, 100, 1, (Leg(901, 10, leg.pulls, (Call(other, 1, b"\x01"),)),)),
    ]
    hashes = {bundle_hash(b) for b in variants}
    assert len(hashes) == len(variants) and bundle_hash(base) not in hashes


def test_signing_refuses_a_key_that_is_not_the_owners():
    bundle = Bundle("0x" + "aa" * 20, "0x" + "aa" * 20, 1, 1, ())
    with pytest.raises(BundleError, match="not the bundle owner"):
        sign_bundle(bundle, Domain(31337, "0x" + "cc" * 20), b"\x01" * 32)


def test_recover_refuses_malformed_and_high_s_signatures():
    key = b"\x02" * 32
    bundle = Bundle(Account.from_key(key).address, "0x" + "aa" * 20, 1, 1, ())
    domain = Domain(31337, "0x" + "cc" * 20)
    signature = sign_bundle(bundle, domain, key)
    with pytest.raises(BundleError, match="65"):
        recover_signer(bundle, domain, signature[:64])
    s = int.from_bytes(signature[32:64], "big")
    flipped = signature[:32] + (N - s).to_bytes(32, "big") + bytes([55 - signature[64]])
    with pytest.raises(BundleError, match="high-s"):
        recover_signer(bundle, domain, flipped)
    other_domain = Domain(901, "0x" + "cc" * 20)
    assert recover_signer(bundle, other_domain, signature) != bundle.owner


def test_leg_transaction_carries_the_bundle_the_leg_and_its_value():
    key = b"\x03" * 32
    owner = Account.from_key(key).address
    leg = Leg(902, 77, (), (Call("0x" + "dd" * 20, 5, b"\x99"), Call("0x" + "ee" * 20, 7)))
    bundle = Bundle(owner, owner, 500, 9, (Leg(901, 76), leg))
    signature = sign_bundle(bundle, Domain(31337, "0x" + "cc" * 20), key)
    tx = leg_transaction(bundle, 1, signature, "0x" + "cc" * 20)
    assert (tx["chainId"], tx["value"]) == (902, 12)
    assert tx["data"][:4] == EXECUTE_LEG_SELECTOR
    value, index, sig = abi_decode([BUNDLE_ABI, "uint256", "bytes"], tx["data"][4:])
    assert (index, sig) == (1, signature)
    assert to_checksum_address(value[0]) == owner and value[4][1][1] == 77
    assert decode_execute_leg(tx["data"]) == (bundle, 1, signature)
    with pytest.raises(BundleError, match="not an execute_leg call"):
        decode_execute_leg(b"\x00" * 4 + tx["data"][4:])
    with pytest.raises(BundleError, match="no leg 2"):
        execute_leg_calldata(bundle, 2, signature)


def test_bounds_match_the_contract():
    target = "0x" + "dd" * 20
    with pytest.raises(BundleError, match="max 512"):
        Call(target, 0, bytes(bundles.MAX_CALL_BYTES + 1))
    with pytest.raises(BundleError, match="max 6"):
        Leg(901, 1, (), tuple(Call(target) for _ in range(bundles.MAX_CALLS + 1)))
    with pytest.raises(BundleError, match="max 4"):
        Bundle(target, target, 1, 1, tuple(Leg(901, 1) for _ in range(bundles.MAX_LEGS + 1)))
