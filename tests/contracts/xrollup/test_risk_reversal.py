"""A cross-rollup risk reversal, settled atomically in one slot on the two rollup engines.

The trader buys a call on rollup A, bridges collateral to rollup B and sells a put on rollup B,
as one bundle signed once. The test plays the shared sequencer's block builder by hand: with both
engines on manual mining it sends leg A and mines rollup A's block at the slot timestamp, reads
the bridge message from that block, then sends the relay and leg B and mines rollup B's block at
the same timestamp. Both legs settle in their target blocks, in the same slot.

The option vault (contracts/l2/OptionVault.vy) is being written in parallel on another branch, so
the markets here are `contracts/test/StandInOptionMarket.vy`, a minimal fixed-premium stand-in;
switch to OptionVault's `buy`/`sell` when it lands on main.
"""

from dataclasses import dataclass

from ape import project
from eth_utils import keccak
from xrollup_helpers import erc20_call, key_of

from sequencer.bundles import Bundle, Call, Leg, Pull, bundle_hash, leg_transaction, sign_bundle
from sequencer.messages import messages_from_receipt, relay_transaction

USDC = 10**6
OPTIONS = 2
CALL_PREMIUM = 5 * USDC  # per option, on rollup A
PUT_PREMIUM = 4 * USDC  # per option, on rollup B
PUT_COLLATERAL = 100 * USDC  # per option sold, on rollup B
ZERO_ADDRESS = "0x" + "00" * 20
PREMIUM_A = OPTIONS * CALL_PREMIUM
COLLATERAL_B = OPTIONS * PUT_COLLATERAL
PREMIUM_B = OPTIONS * PUT_PREMIUM
LEG_SETTLED = keccak(
    text="LegSettled(bytes32,uint256,address,address,uint256,uint256,address,address)"
)


def _raw_tx(rollup, account, fields) -> bytes:
    tx = {
        **fields,
        "nonce": rollup.w3.eth.get_transaction_count(account.address),
        "gas": 2_000_000,
        "gasPrice": 10**10,
        "chainId": rollup.chain_id,
    }
    signed = rollup.w3.eth.account.sign_transaction(tx, key_of(account))
    return rollup.w3.eth.send_raw_transaction(signed.raw_transaction)


@dataclass
class Slot:
    """Everything one risk-reversal slot needs: markets, the signed bundle, the slot time."""

    call_market: object
    put_market: object
    bundle: Bundle
    signature: bytes
    slot_time: int
    supply_before: int


def _prepare(xr, rollup_a, rollup_b, deployer, trader) -> Slot:
    # --- setup (automine): markets, the trader's USDC on A, approvals on both rollups ---
    with rollup_a.use():
        call_market = project.StandInOptionMarket.deploy(
            xr.usdc, CALL_PREMIUM, PUT_COLLATERAL, sender=deployer
        )
        xr.usdc.mint(trader, 1_000 * USDC, sender=deployer)
        xr.usdc.approve(xr.settlement, 2**256 - 1, sender=trader)
    with rollup_b.use():
        put_market = project.StandInOptionMarket.deploy(
            xr.usdc, PUT_PREMIUM, PUT_COLLATERAL, sender=deployer
        )
        xr.usdc.mint(put_market, 1_000 * USDC, sender=deployer)  # the market's premium reserve
        xr.usdc.approve(xr.settlement, 2**256 - 1, sender=trader)  # before any USDC is on B
    supply_before = sum(_supply(r, xr) for r in (rollup_a, rollup_b))

    # --- the bundle: one signature over both legs ---
    rollup_a.set_automine(False)
    rollup_b.set_automine(False)
    target_a = rollup_a.w3.eth.block_number + 1
    target_b = rollup_b.w3.eth.block_number + 1
    slot_time = max(_timestamp(rollup_a), _timestamp(rollup_b)) + 2
    usdc = xr.usdc.address
    leg_a = Leg(
        901,
        target_a,
        pulls=(Pull(usdc, PREMIUM_A + COLLATERAL_B),),
        calls=(
            Call(usdc, 0, erc20_call(xr.usdc, "approve", call_market, PREMIUM_A)),
            Call(call_market.address, 0, _encode(call_market.buy, OPTIONS, PREMIUM_A)),
            Call(usdc, 0, erc20_call(xr.usdc, "bridge", 902, trader, COLLATERAL_B)),
        ),
    )
    leg_b = Leg(
        902,
        target_b,
        pulls=(Pull(usdc, COLLATERAL_B),),
        calls=(
            Call(usdc, 0, erc20_call(xr.usdc, "approve", put_market, COLLATERAL_B)),
            Call(put_market.address, 0, _encode(put_market.sell, OPTIONS, PREMIUM_B)),
            Call(usdc, 0, erc20_call(xr.usdc, "transfer", trader, PREMIUM_B)),
        ),
    )
    bundle = Bundle(trader.address, trader.address, slot_time + 60, 1, (leg_a, leg_b))
    signature = sign_bundle(bundle, xr.domain, key_of(trader))
    return Slot(call_market, put_market, bundle, signature, slot_time, supply_before)


def _mine_rollup_a(xr, rollup_a, slot: Slot, executor):
    """Rollup A's block of the slot: leg A. Returns its receipt and the bridge message."""
    tx_a = leg_transaction(slot.bundle, 0, slot.signature, xr.settlement.address)
    hash_a = _raw_tx(rollup_a, executor, tx_a)
    rollup_a.rpc("evm_mine", [{"timestamp": slot.slot_time}])
    receipt_a = rollup_a.w3.eth.get_transaction_receipt(hash_a)
    assert receipt_a["status"] == 1
    (message,) = messages_from_receipt(receipt_a, xr.messenger.address, 901)
    return receipt_a, message


def test_risk_reversal_bundle_settles_both_legs_in_one_slot(
    xr, rollup_a, rollup_b, deployer, relayer, sequencer_account, trader
):
    slot = _prepare(xr, rollup_a, rollup_b, deployer, trader)
    bundle = slot.bundle

    # --- the slot: rollup A's block first, then rollup B's with the relay before leg B ---
    receipt_a, message = _mine_rollup_a(xr, rollup_a, slot, sequencer_account)
    hash_relay = _raw_tx(rollup_b, relayer, relay_transaction(message, xr.messenger.address))
    tx_b = leg_transaction(bundle, 1, slot.signature, xr.settlement.address)
    hash_b = _raw_tx(rollup_b, sequencer_account, tx_b)
    rollup_b.rpc("evm_mine", [{"timestamp": slot.slot_time}])
    receipt_relay = rollup_b.w3.eth.get_transaction_receipt(hash_relay)
    receipt_b = rollup_b.w3.eth.get_transaction_receipt(hash_b)

    # --- both legs settled, in their target blocks, in the same slot ---
    assert (receipt_relay["status"], receipt_b["status"]) == (1, 1)
    assert receipt_a["blockNumber"] == bundle.legs[0].target_block
    assert receipt_relay["blockNumber"] == receipt_b["blockNumber"] == bundle.legs[1].target_block
    assert receipt_relay["transactionIndex"] < receipt_b["transactionIndex"]
    assert _timestamp(rollup_a, receipt_a["blockNumber"]) == slot.slot_time
    assert _timestamp(rollup_b, receipt_b["blockNumber"]) == slot.slot_time
    for receipt, index in ((receipt_a, 0), (receipt_b, 1)):
        (settled,) = [log for log in receipt["logs"] if bytes(log["topics"][0]) == LEG_SETTLED]
        assert bytes(settled["topics"][1]) == bundle_hash(bundle)
        assert int.from_bytes(bytes(settled["topics"][2]), "big") == index

    # --- positions and balances ---
    with rollup_a.use():
        agent_a = xr.settlement.agent_of(trader)
        assert slot.call_market.long_of(agent_a) == OPTIONS
        assert xr.usdc.balanceOf(trader) == 1_000 * USDC - PREMIUM_A - COLLATERAL_B
    with rollup_b.use():
        agent_b = xr.settlement.agent_of(trader)
        assert agent_b == agent_a  # CREATE2 from the same settlement address, salt = owner
        assert slot.put_market.short_of(agent_b) == OPTIONS
        assert xr.usdc.balanceOf(slot.put_market) == 1_000 * USDC - PREMIUM_B + COLLATERAL_B
        assert xr.usdc.balanceOf(trader) == PREMIUM_B
        assert xr.usdc.balanceOf(agent_b) == 0
    # Collateral moved between rollups, none was created or lost.
    assert sum(_supply(r, xr) for r in (rollup_a, rollup_b)) == slot.supply_before


def test_leg_b_placed_before_the_relay_fails_so_the_builder_must_relay_first(
    xr, rollup_a, rollup_b, deployer, relayer, sequencer_account, trader
):
    # What the block builder must not do: leg B ahead of the relay that funds it. Leg B reverts
    # (the trader has no USDC on B yet), which is why the builder places relays of what A sent
    # this slot before B's bundle legs, and simulates both legs before sealing either block.
    slot = _prepare(xr, rollup_a, rollup_b, deployer, trader)
    _, message = _mine_rollup_a(xr, rollup_a, slot, sequencer_account)
    tx_b = leg_transaction(slot.bundle, 1, slot.signature, xr.settlement.address)
    hash_b = _raw_tx(rollup_b, sequencer_account, tx_b)
    hash_relay = _raw_tx(rollup_b, relayer, relay_transaction(message, xr.messenger.address))
    rollup_b.rpc("evm_mine", [{"timestamp": slot.slot_time}])
    assert rollup_b.w3.eth.get_transaction_receipt(hash_b)["status"] == 0
    assert rollup_b.w3.eth.get_transaction_receipt(hash_relay)["status"] == 1
    with rollup_b.use():
        assert not xr.settlement.settled(bundle_hash(slot.bundle), 1)
        assert xr.usdc.balanceOf(trader) == COLLATERAL_B  # the bridge itself still landed
        assert xr.usdc.balanceOf(slot.put_market) == 1_000 * USDC  # no put was sold
        assert xr.settlement.agent_of(trader) == ZERO_ADDRESS


def _encode(method, *args) -> bytes:
    return bytes(method.encode_input(*args))


def _timestamp(rollup, block="latest") -> int:
    return rollup.w3.eth.get_block(block)["timestamp"]


def _supply(rollup, xr) -> int:
    with rollup.use():
        return xr.usdc.totalSupply()
