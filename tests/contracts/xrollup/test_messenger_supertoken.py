"""CrossRollupMessenger and SuperToken on the two rollup engines: bridge, relay, replay, forgery.

Parity of the message hash between the contract and `sequencer/messages.py` is in
`test_xrollup_parity.py`; the supply invariant under random traffic in `test_bridge_stateful.py`.
"""

import ape
import pytest
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector
from xrollup_helpers import relay, sent_messages

from sequencer.messages import Message

USDC = 10**6  # 6-decimal base units
FINALIZE = function_signature_to_4byte_selector("finalize_bridge(address,address,uint256)")


def _fund(rollup, token, owner, to, amount):
    with rollup.use():
        token.mint(to, amount, sender=owner)


def _bridge(rollup, token, sender, dest_chain, to, amount):
    with rollup.use():
        return token.bridge(dest_chain, to, amount, sender=sender)


def _supply(rollup, token) -> int:
    with rollup.use():
        return token.totalSupply()


def test_bridge_a_to_b_relayed_by_relayer_conserves_supply(
    xr, rollup_a, rollup_b, deployer, relayer, trader, lp
):
    _fund(rollup_a, xr.usdc, deployer, trader, 1_000 * USDC)
    before = _supply(rollup_a, xr.usdc) + _supply(rollup_b, xr.usdc)

    receipt = _bridge(rollup_a, xr.usdc, trader, rollup_b.chain_id, lp, 250 * USDC)
    (message,) = sent_messages(rollup_a, xr.messenger, receipt)
    assert (message.source_chain, message.dest_chain) == (901, 902)
    assert (message.sender, message.target) == (xr.usdc.address, xr.usdc.address)
    with rollup_a.use():
        assert xr.usdc.balanceOf(trader) == 750 * USDC
        assert xr.messenger.sent(message.hash)
        assert xr.usdc.bridged_out() == 250 * USDC
    # In flight: burned on A, not yet minted on B.
    assert _supply(rollup_a, xr.usdc) + _supply(rollup_b, xr.usdc) == before - 250 * USDC

    receipt = relay(rollup_b, xr.messenger, message, relayer)
    with rollup_b.use():
        assert xr.usdc.balanceOf(lp) == 250 * USDC
        assert xr.usdc.bridged_in() == 250 * USDC
        assert xr.messenger.relayed(message.hash)
        finalized = list(receipt.decode_logs(xr.usdc.BridgeFinalized))
        assert len(finalized) == 1
        assert finalized[0].source_chain == 901 and finalized[0].amount == 250 * USDC
        relayed = list(receipt.decode_logs(xr.messenger.MessageRelayed))
        assert relayed[0].message_hash == message.hash
    assert _supply(rollup_a, xr.usdc) + _supply(rollup_b, xr.usdc) == before


def test_bridge_b_to_a_carries_its_own_nonce(xr, rollup_a, rollup_b, deployer, relayer, trader):
    _fund(rollup_b, xr.weth, deployer, trader, 3 * 10**18)
    first = sent_messages(
        rollup_b, xr.messenger, _bridge(rollup_b, xr.weth, trader, 901, trader, 10**18)
    )[0]
    second = sent_messages(
        rollup_b, xr.messenger, _bridge(rollup_b, xr.weth, trader, 901, trader, 10**18)
    )[0]
    assert (first.nonce, second.nonce) == (0, 1)
    assert first.hash != second.hash
    relay(rollup_a, xr.messenger, second, relayer)  # relays need not be in nonce order
    relay(rollup_a, xr.messenger, first, relayer)
    with rollup_a.use():
        assert xr.weth.balanceOf(trader) == 2 * 10**18
    with rollup_b.use():
        assert xr.weth.balanceOf(trader) == 10**18


def test_relay_by_any_other_account_reverts(
    xr, rollup_a, rollup_b, deployer, relayer, trader, sequencer_account
):
    _fund(rollup_a, xr.usdc, deployer, trader, 10 * USDC)
    (message,) = sent_messages(
        rollup_a, xr.messenger, _bridge(rollup_a, xr.usdc, trader, 902, trader, 10 * USDC)
    )
    for intruder in (trader, deployer, sequencer_account):
        with ape.reverts("not relayer"):
            relay(rollup_b, xr.messenger, message, intruder)
    with rollup_b.use():
        assert xr.usdc.balanceOf(trader) == 0
        assert not xr.messenger.relayed(message.hash)


def test_replayed_relay_reverts(xr, rollup_a, rollup_b, deployer, relayer, trader):
    _fund(rollup_a, xr.usdc, deployer, trader, 10 * USDC)
    (message,) = sent_messages(
        rollup_a, xr.messenger, _bridge(rollup_a, xr.usdc, trader, 902, trader, 10 * USDC)
    )
    relay(rollup_b, xr.messenger, message, relayer)
    with ape.reverts("already relayed"):
        relay(rollup_b, xr.messenger, message, relayer)
    with rollup_b.use():
        assert xr.usdc.balanceOf(trader) == 10 * USDC
        assert xr.usdc.totalSupply() == 10 * USDC


def test_relay_with_forged_source_sender_cannot_mint(xr, rollup_b, relayer, trader):
    data = FINALIZE + abi_encode(["address", "address", "uint256"], [trader.address] * 2 + [10**24])
    # The relayer claims the message came from the trader, or from another contract address:
    # only this token's own address on the source rollup may mint.
    for forged_sender in (trader.address, xr.weth.address, xr.messenger.address):
        forged = Message(901, 902, 0, forged_sender, xr.usdc.address, data)
        with ape.reverts("not from token"):
            relay(rollup_b, xr.messenger, forged, relayer)
    with rollup_b.use():
        # Nor can anyone call the mint path directly.
        with ape.reverts("not messenger"):
            xr.usdc.finalize_bridge(trader, trader, 10**24, sender=trader)
        assert xr.usdc.totalSupply() == 0


def test_bridge_only_between_peer_rollups(xr, rollup_a, rollup_b, deployer, relayer, trader):
    _fund(rollup_a, xr.usdc, deployer, trader, 5 * USDC)
    with rollup_a.use():
        assert xr.usdc.peers(902) and not xr.usdc.peers(901) and not xr.usdc.peers(777)
        with ape.reverts("unknown destination"):
            xr.usdc.bridge(777, trader, 1, sender=trader)
    # A message from the token's address on a rollup that is not a peer cannot mint either.
    data = FINALIZE + abi_encode(["address", "address", "uint256"], [trader.address] * 2 + [5])
    foreign = Message(777, 902, 0, xr.usdc.address, xr.usdc.address, data)
    with ape.reverts("unknown source"):
        relay(rollup_b, xr.messenger, foreign, relayer)
    with rollup_b.use():
        with ape.reverts("ownable: caller is not the owner"):
            xr.usdc.set_peer(777, True, sender=trader)
        with ape.reverts("peer is this chain"):
            xr.usdc.set_peer(902, True, sender=deployer)
        receipt = xr.usdc.set_peer(777, True, sender=deployer)
        (event,) = receipt.decode_logs(xr.usdc.PeerSet)
        assert (event.chain_id, event.enabled) == (777, True)
    relay(rollup_b, xr.messenger, foreign, relayer)
    with rollup_b.use():
        assert xr.usdc.balanceOf(trader) == 5


def test_target_revert_reverts_the_relay_and_records_nothing(xr, rollup_b, relayer):
    # A message from the token itself whose mint must fail (recipient zero): the relay reverts
    # with the target's reason and the message stays relayable.
    data = FINALIZE + abi_encode(
        ["address", "address", "uint256"], [xr.usdc.address, "0x" + "00" * 20, 5]
    )
    message = Message(901, 902, 7, xr.usdc.address, xr.usdc.address, data)
    with ape.reverts("erc20: mint to the zero address"):
        relay(rollup_b, xr.messenger, message, relayer)
    with rollup_b.use():
        assert not xr.messenger.relayed(message.hash)


def test_xdomain_sender_reverts_outside_a_relay(xr, rollup_a):
    with rollup_a.use():
        with ape.reverts("not in a relay"):
            xr.messenger.xdomain_sender()
        with ape.reverts("not in a relay"):
            xr.messenger.xdomain_source_chain()


def test_send_message_refuses_own_chain_and_zero_target(xr, rollup_a, trader):
    with rollup_a.use():
        with ape.reverts("destination is this chain"):
            xr.messenger.send_message(901, trader, b"", sender=trader)
        with ape.reverts("target is zero"):
            xr.messenger.send_message(902, ape.utils.ZERO_ADDRESS, b"", sender=trader)
        with ape.reverts("target is messenger"):
            xr.messenger.send_message(902, xr.messenger, b"", sender=trader)


def test_relayer_is_changed_by_owner_only_with_event(
    xr, rollup_b, rollup_a, deployer, relayer, trader, keeper
):
    with rollup_b.use():
        with ape.reverts("ownable: caller is not the owner"):
            xr.messenger.set_relayer(trader, sender=trader)
        with ape.reverts("relayer is zero"):
            xr.messenger.set_relayer(ape.utils.ZERO_ADDRESS, sender=deployer)
        receipt = xr.messenger.set_relayer(keeper, sender=deployer)
        (event,) = receipt.decode_logs(xr.messenger.RelayerChanged)
        assert (event.previous_relayer, event.new_relayer) == (relayer.address, keeper.address)
        assert xr.messenger.relayer() == keeper.address
    _fund(rollup_a, xr.usdc, deployer, trader, 1 * USDC)
    (message,) = sent_messages(
        rollup_a, xr.messenger, _bridge(rollup_a, xr.usdc, trader, 902, trader, 1 * USDC)
    )
    with ape.reverts("not relayer"):
        relay(rollup_b, xr.messenger, message, relayer)
    relay(rollup_b, xr.messenger, message, keeper)


@pytest.mark.parametrize("token_name", ["usdc", "weth"])
def test_faucet_is_owner_only_and_logged(xr, rollup_a, deployer, trader, token_name):
    token = getattr(xr, token_name)
    with rollup_a.use():
        with ape.reverts("ownable: caller is not the owner"):
            token.mint(trader, 1, sender=trader)
        receipt = token.mint(trader, 123, sender=deployer)
        (event,) = receipt.decode_logs(token.FaucetMinted)
        assert (event.to, event.amount) == (trader.address, 123)
        assert token.faucet_minted() == 123
        assert token.decimals() == {"usdc": 6, "weth": 18}[token_name]


def test_bridge_refuses_bad_arguments(xr, rollup_a, deployer, trader):
    _fund(rollup_a, xr.usdc, deployer, trader, 5 * USDC)
    with rollup_a.use():
        with ape.reverts("amount is zero"):
            xr.usdc.bridge(902, trader, 0, sender=trader)
        with ape.reverts("recipient is zero"):
            xr.usdc.bridge(902, ape.utils.ZERO_ADDRESS, 1, sender=trader)
        with ape.reverts("erc20: burn amount exceeds balance"):
            xr.usdc.bridge(902, trader, 6 * USDC, sender=trader)
        with ape.reverts("unknown destination"):
            xr.usdc.bridge(901, trader, 1, sender=trader)
        assert xr.usdc.balanceOf(trader) == 5 * USDC
