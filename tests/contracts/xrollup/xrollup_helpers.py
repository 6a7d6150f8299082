"""Helpers shared by the cross-rollup tests: read messages from a receipt, relay them."""

from __future__ import annotations

from sequencer.messages import Message, messages_from_receipt


def sent_messages(rollup, messenger, receipt) -> list[Message]:
    """The messages a transaction on `rollup` sent, decoded from its receipt by web3 (not ape)."""
    raw = rollup.w3.eth.get_transaction_receipt(receipt.txn_hash)
    return messages_from_receipt(raw, messenger.address, rollup.chain_id)


def relay(rollup, messenger, message: Message, sender):
    """`sender` relays `message` on `rollup` (which must be its destination)."""
    assert message.dest_chain == rollup.chain_id
    with rollup.use():
        return messenger.relay_message(
            message.source_chain,
            message.nonce,
            message.sender,
            message.target,
            message.data,
            sender=sender,
        )


def key_of(account) -> bytes:
    """The private key of one of anvil's well-known test accounts (devnet only)."""
    return bytes.fromhex(str(account.private_key).removeprefix("0x"))


def erc20_call(token, fn: str, *args) -> bytes:
    """Calldata for an ERC-20/SuperToken function, encoded by ape from the contract's ABI."""
    return bytes(getattr(token, fn).encode_input(*args))


def next_block(rollup) -> int:
    return rollup.w3.eth.block_number + 1
