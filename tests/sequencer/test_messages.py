"""sequencer/messages.py without a chain: hash layout, log decoding, relay calldata.

Parity with the contract is tested on the rollup engines in
tests/contracts/xrollup/test_xrollup_parity.py.
"""

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer.messages import (
    MAX_MESSAGE_BYTES,
    MESSAGE_SENT_TOPIC,
    RELAY_MESSAGE_SELECTOR,
    Message,
    MessageError,
    decode_message_sent,
    message_hash,
    messages_from_receipt,
    relay_calldata,
    relay_transaction,
)

SENDER = "0x" + "11" * 20
TARGET = "0x" + "22" * 20
MESSENGER = "0x" + "33" * 20


def _log(message: Message, topic_hash: bytes | None = None) -> dict:
    return {
        "address": MESSENGER,
        "topics": [
            MESSAGE_SENT_TOPIC,
            topic_hash if topic_hash is not None else message.hash,
            message.dest_chain.to_bytes(32, "big"),
            message.nonce.to_bytes(32, "big"),
        ],
        "data": abi_encode(
            ["address", "address", "bytes"], [message.sender, message.target, message.data]
        ),
    }


def test_hash_is_keccak_of_the_abi_encoded_tuple():
    message = Message(901, 902, 3, SENDER, TARGET, b"\xde\xad")
    encoded = (
        (901).to_bytes(32, "big")
        + (902).to_bytes(32, "big")
        + (3).to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex("11" * 20)
        + bytes(12)
        + bytes.fromhex("22" * 20)
        + (6 * 32).to_bytes(32, "big")  # offset of `data` after the six head words
        + (2).to_bytes(32, "big")
        + b"\xde\xad"
        + bytes(30)
    )
    assert message_hash(message) == keccak(encoded)


@settings(max_examples=50)
@given(
    nonce=st.integers(0, 2**256 - 1),
    data=st.binary(max_size=MAX_MESSAGE_BYTES),
    dest=st.integers(0, 2**64),
)
def test_decode_round_trips_and_relay_calldata_carries_the_fields(nonce, data, dest):
    source = dest + 1
    message = Message(source, dest, nonce, SENDER, TARGET, data)
    assert decode_message_sent(_log(message), source) == message
    # Hex-string logs (raw JSON-RPC) decode the same.
    raw = {
        "address": MESSENGER,
        "topics": ["0x" + bytes(t).hex() for t in _log(message)["topics"]],
        "data": "0x" + _log(message)["data"].hex(),
    }
    assert messages_from_receipt({"logs": [raw]}, MESSENGER, source) == [message]
    calldata = relay_calldata(message)
    assert calldata[:4] == RELAY_MESSAGE_SELECTOR
    fields = abi_decode(["uint256", "uint256", "address", "address", "bytes"], calldata[4:])
    assert fields == (source, nonce, SENDER, TARGET, data)
    tx = relay_transaction(message, MESSENGER)
    assert (tx["chainId"], tx["value"], tx["data"]) == (dest, 0, calldata)


def test_a_log_whose_hash_does_not_match_its_fields_is_refused():
    message = Message(901, 902, 0, SENDER, TARGET, b"x")
    with pytest.raises(MessageError, match="does not match"):
        decode_message_sent(_log(message, topic_hash=b"\x01" * 32), 901)
    # Decoded as if emitted on another chain, the hash no longer matches either.
    with pytest.raises(MessageError, match="does not match"):
        decode_message_sent(_log(message), 903)


def test_other_logs_and_other_contracts_are_ignored_or_refused():
    message = Message(901, 902, 0, SENDER, TARGET, b"")
    other = {**_log(message), "topics": [keccak(text="Transfer(address,address,uint256)")] * 3}
    with pytest.raises(MessageError, match="not a MessageSent log"):
        decode_message_sent(other, 901)
    foreign = {**_log(message), "address": "0x" + "44" * 20}
    receipt = {"logs": [other, foreign, _log(message)]}
    assert messages_from_receipt(receipt, MESSENGER, 901) == [message]


def test_oversized_or_same_chain_messages_are_refused():
    with pytest.raises(MessageError, match="max 1024"):
        Message(901, 902, 0, SENDER, TARGET, bytes(MAX_MESSAGE_BYTES + 1))
    with pytest.raises(MessageError, match="same"):
        Message(901, 901, 0, SENDER, TARGET, b"")
