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
