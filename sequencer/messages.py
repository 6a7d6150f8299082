"""Cross-rollup messages: the structure, its hash, and the bytes the relayer sends.

Owns the off-chain mirror of `contracts/l2/CrossRollupMessenger.vy`: the message hash
(byte-identical to the contract's, tested for parity), decoding a `MessageSent` log into a
`Message`, and the calldata of `relay_message`. Pure: it never talks to a chain, signs or
sends anything.

Message hash = keccak256(abi_encode(source_chain, dest_chain, nonce, sender, target, data)), the
standard ABI encoding of the tuple (uint256,uint256,uint256,address,address,bytes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address

MAX_MESSAGE_BYTES = 1024  # CrossRollupMessenger.MAX_MESSAGE_BYTES

MESSAGE_SENT_SIGNATURE = "MessageSent(bytes32,uint256,uint256,address,address,bytes)"
MESSAGE_SENT_TOPIC = keccak(text=MESSAGE_SENT_SIGNATURE)
MESSAGE_RELAYED_TOPIC = keccak(text="MessageRelayed(bytes32,uint256,uint256,address,address)")
SEND_MESSAGE_SELECTOR = function_signature_to_4byte_selector("send_message(uint256,address,bytes)")
RELAY_MESSAGE_SELECTOR = function_signature_to_4byte_selector(
    "relay_message(uint256,uint256,address,address,bytes)"
)
_HASH_TYPES = ["uint256", "uint256", "uint256", "address", "address", "bytes"]


class MessageError(ValueError):
    """A log or message that is not a well-formed cross-rollup message."""


@dataclass(frozen=True)
class Message:
    """One message sent from `source_chain` to `dest_chain` (addresses checksummed)."""

    source_chain: int
    dest_chain: int
    nonce: int
    sender: str
    target: str
    data: bytes

    def __post_init__(self) -> None:
        if len(self.data) > MAX_MESSAGE_BYTES:
            raise MessageError(f"message data is {len(self.data)} bytes, max {MAX_MESSAGE_BYTES}")
        if self.source_chain == self.dest_chain:
            raise MessageError("source and destination chain are the same")
        object.__setattr__(self, "sender", to_checksum_address(self.sender))
        object.__setattr__(self, "target", to_checksum_address(self.target))

    @property
    def hash(self) -> bytes:
        return message_hash(self)


def message_hash(message: Message) -> bytes:
    """The 32-byte message hash, as CrossRollupMessenger computes it."""
    return keccak(
        abi_encode(
            _HASH_TYPES,
            [
                message.source_chain,
                message.dest_chain,
                message.nonce,
                message.sender,
                message.target,
                message.data,
            ],
        )
    )


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    if hasattr(value, "hex"):  # HexBytes and friends
        return bytes(value)
    raise MessageError(f"cannot read bytes from {type(value).__name__}")


def decode_message_sent(log: Mapping[str, Any], source_chain: int) -> Message:
    """Decode one `MessageSent` log (web3 or JSON-RPC shape) emitted on `source_chain`.

    The recomputed hash must equal the log's indexed message hash; anything else is refused.
    """
    topics: Sequence[bytes] = [_as_bytes(t) for t in log["topics"]]
    if len(topics) != 4 or topics[0] != MESSAGE_SENT_TOPIC:
        raise MessageError("not a MessageSent log")
    dest_chain = int.from_bytes(topics[2], "big")
    nonce = int.from_bytes(topics[3], "big")
    try:
        sender, target, data = abi_decode(["address", "address", "bytes"], _as_bytes(log["data"]))
    except Exception as exc:  # eth_abi raises several decoding error types
        raise MessageError(f"malformed MessageSent data: {exc}") from exc
    message = Message(source_chain, dest_chain, nonce, sender, target, data)
    if message.hash != topics[1]:
        raise MessageError(
            f"MessageSent hash {topics[1].hex()} does not match its fields ({message.hash.hex()})"
        )
    return message


def messages_from_receipt(
    receipt: Mapping[str, Any], messenger: str, source_chain: int
) -> list[Message]:
    """Every message that `messenger` emitted in one transaction receipt, in log order."""
    messenger = to_checksum_address(messenger)
    out = []
    for log in receipt["logs"]:
        topics = log["topics"]
        if to_checksum_address(log["address"]) != messenger or not topics:
            continue
        if _as_bytes(topics[0]) == MESSAGE_SENT_TOPIC:
            out.append(decode_message_sent(log, source_chain))
    return out


def relay_calldata(message: Message) -> bytes:
    """Calldata of `CrossRollupMessenger.relay_message` for `message` (sent to dest_chain)."""
    return RELAY_MESSAGE_SELECTOR + abi_encode(
        ["uint256", "uint256", "address", "address", "bytes"],
        [message.source_chain, message.nonce, message.sender, message.target, message.data],
    )


def message_of_relay(dest_chain: int, calldata: bytes) -> Message:
    """The message a `relay_message` call on `dest_chain` relays (the inverse of
    `relay_calldata`)."""
    if calldata[:4] != RELAY_MESSAGE_SELECTOR:
        raise MessageError("not a relay_message call")
    try:
        source, nonce, sender, target, data = abi_decode(
            ["uint256", "uint256", "address", "address", "bytes"], calldata[4:]
        )
    except Exception as exc:  # eth_abi raises several decoding error types
        raise MessageError(f"malformed relay_message calldata: {exc}") from exc
    return Message(source, dest_chain, nonce, sender, target, data)


def relay_transaction(message: Message, messenger: str) -> dict[str, Any]:
    """The unsigned-transaction fields of a relay: to, data, value and chainId (the destination).

    The relayer adds nonce, gas and fees, signs, and the builder places it in the destination
    rollup's block (same slot for A->B, next slot for B->A), before any bundle leg there.
    """
    return {
        "to": to_checksum_address(messenger),
        "data": relay_calldata(message),
        "value": 0,
        "chainId": message.dest_chain,
    }


def send_message_calldata(dest_chain: int, target: str, data: bytes) -> bytes:
    """Calldata of `CrossRollupMessenger.send_message`."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise MessageError(f"message data is {len(data)} bytes, max {MAX_MESSAGE_BYTES}")
    return SEND_MESSAGE_SELECTOR + abi_encode(
        ["uint256", "address", "bytes"], [dest_chain, to_checksum_address(target), data]
    )
