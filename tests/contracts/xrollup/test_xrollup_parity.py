"""Parity: random messages and bundles hash to the same bytes in Python and in the contracts.

`sequencer/messages.py` and `sequencer/bundles.py` are what the sequencer service uses to relay
messages and sign/submit bundle legs; the contracts are what the rollups enforce. Any difference
would make relays or legs revert, so both are compared on random inputs.
"""

from eth_utils import to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sequencer import bundles
from sequencer.bundles import Bundle, Call, Domain, Leg, Pull
from sequencer.messages import MAX_MESSAGE_BYTES, Message, message_hash

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
PARITY = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

uint256 = st.integers(0, 2**256 - 1)
small = st.integers(0, 2**64)
addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
blobs = st.one_of(st.binary(max_size=70), st.binary(min_size=400, max_size=512))
calls = st.builds(Call, target=addresses, value=st.one_of(small, uint256), data=blobs)
pulls = st.builds(Pull, token=addresses, amount=uint256)
legs = st.builds(
    Leg,
    chain_id=st.one_of(st.sampled_from([901, 902]), uint256),
    target_block=st.one_of(small, uint256),
    pulls=st.lists(pulls, max_size=bundles.MAX_PULLS).map(tuple),
    calls=st.lists(calls, max_size=3).map(tuple),
)
keys = st.integers(1, SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))


def _owner_of(key: bytes) -> str:
    from eth_account import Account

    return Account.from_key(key).address


@st.composite
def signed_bundles(draw):
    key = draw(keys)
    bundle = Bundle(
        owner=_owner_of(key),
        beneficiary=draw(addresses),
        deadline=draw(st.one_of(small, uint256)),
        nonce=draw(uint256),
        legs=tuple(draw(st.lists(legs, max_size=bundles.MAX_LEGS))),
    )
    return bundle, key


@PARITY
@given(
    source=uint256,
    dest=uint256,
    nonce=uint256,
    sender=addresses,
    target=addresses,
    data=st.binary(max_size=MAX_MESSAGE_BYTES),
)
def test_message_hash_matches_the_messenger(
    xr, rollup_a, source, dest, nonce, sender, target, data
):
    if source == dest:
        dest = (dest + 1) % 2**256
    message = Message(source, dest, nonce, sender, target, data)
    with rollup_a.use():
        onchain = xr.messenger.message_hash(source, dest, nonce, sender, target, data)
    assert bytes(onchain) == message_hash(message)


def test_sent_message_log_decodes_to_the_recorded_hash(xr, rollup_a, trader, lp):
    from xrollup_helpers import sent_messages

    with rollup_a.use():
        receipt = xr.messenger.send_message(902, lp, b"\x12\x34" * 300, sender=trader)
        (message,) = sent_messages(rollup_a, xr.messenger, receipt)
        assert message == Message(901, 902, 0, trader.address, lp.address, b"\x12\x34" * 300)
        assert xr.messenger.sent(message.hash)
        assert bytes(receipt.return_value) == message.hash


@PARITY
@given(signed=signed_bundles())
def test_bundle_hashes_digest_and_signature_match_the_settlement(xr, rollup_b, signed):
    bundle, key = signed
    value = bundles.bundle_abi(bundle)
    domain = xr.domain
    signature = bundles.sign_bundle(bundle, domain, key)
    with rollup_b.use():
        assert bytes(xr.settlement.bundle_hash(value)) == bundles.bundle_hash(bundle)
        assert bytes(xr.settlement.legs_hash(value)) == bundles.legs_hash(bundle)
        assert bytes(xr.settlement.bundle_digest(value)) == bundles.bundle_digest(bundle, domain)
        assert xr.settlement.recover_signer(value, signature) == bundle.owner
        for leg in bundle.legs[:2]:
            assert bytes(xr.settlement.leg_hash(bundles.leg_abi(leg))) == bundles.leg_hash(leg)
            for call in leg.calls[:1]:
                onchain = xr.settlement.call_hash(bundles.call_abi(call))
                assert bytes(onchain) == bundles.call_hash(call)


def test_domain_is_the_l1_chain_and_the_same_settlement_on_both_rollups(xr, rollup_a, rollup_b):
    expected = Domain(31337, xr.settlement.address)
    for rollup in (rollup_a, rollup_b):
        with rollup.use():
            assert bytes(xr.settlement.domain_separator()) == bundles.domain_separator(expected)
            fields = xr.settlement.eip712Domain()
            assert fields[1:5] == (
                bundles.EIP712_NAME,
                bundles.EIP712_VERSION,
                31337,
                xr.settlement.address,
            )
            assert bytes(xr.settlement.BUNDLE_TYPE_HASH()) == bundles.BUNDLE_TYPE_HASH
            assert bytes(xr.settlement.LEG_TYPE_HASH()) == bundles.LEG_TYPE_HASH
