"""A cross-rollup risk reversal on the real option vaults, settled atomically in one slot.

The trader buys an out-of-the-money call on rollup A's call vault (premium in WETH), bridges the
put's collateral (USDC) from A to B, and sells an out-of-the-money put to rollup B's put vault,
as one bundle signed once. Both rollups carry the devnet's whole deployment
(`scripts/deploy.py: deploy_rollup`), with an epoch open for trading on each (oracle price, LP
liquidity, the keeper's roll: `rollup_setup.open_epoch`). The trader signs the premiums the
vaults quote for the slot's block time as `max_premium` / `min_premium`.

The test plays the shared sequencer's block builder by hand: with both engines on manual mining
it sends leg A and mines rollup A's block at the slot timestamp, reads the bridge message from
that block, then sends the relay and leg B and mines rollup B's block at the same timestamp.
Both legs settle in their target blocks, in the same slot.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_abi import decode
from eth_utils import keccak
from options_helpers import now
from rollup_setup import USDC_UNIT, WAD, OpenEpoch, open_epoch, quote_at
from xrollup_helpers import erc20_call, key_of

from sequencer.bundles import Bundle, Call, Leg, Pull, bundle_hash, leg_transaction, sign_bundle
from sequencer.messages import messages_from_receipt, relay_transaction

SPOT = 2_000 * WAD  # USDC per WETH, wad
VOLATILITY = 8 * WAD // 10  # 80 %
CALL_STRIKES = (2_000 * WAD, 2_200 * WAD)
PUT_STRIKES = (1_800 * WAD, 2_000 * WAD)
CALL_STRIKE = CALL_STRIKES[1]  # 10 % out of the money
PUT_STRIKE = PUT_STRIKES[0]  # 10 % out of the money
EPOCH_SECONDS = 7 * 86_400
CALL_LIQUIDITY = 10 * WAD  # WETH the LP deposits in each rollup's call vault
PUT_LIQUIDITY = 20_000 * USDC_UNIT  # USDC the LP deposits in each rollup's put vault
OPTIONS = 2 * WAD  # options per leg, wad of underlying
TRADER_WETH = WAD  # the trader's WETH on A (pays the call premium)
TRADER_USDC = 5_000 * USDC_UNIT  # the trader's USDC on A (the put's collateral, bridged to B)
ZERO_ADDRESS = "0x" + "00" * 20
LEG_SETTLED = keccak(
    text="LegSettled(bytes32,uint256,address,address,uint256,uint256,address,address)"
)
BOUGHT = keccak(text="Bought(address,uint256,uint256,uint256,uint256,uint256,uint256)")
SOLD = keccak(text="Sold(address,uint256,uint256,uint256,uint256,uint256,uint256)")


@pytest.fixture(scope="module")
def epochs(deployment, chains, deployer, lp) -> dict[str, OpenEpoch]:
    """An epoch open for trading on both rollups' vaults (same strikes and expiry)."""
    rollups = [chains["rollup_a"], chains["rollup_b"]]
    expiry = max(now(r) for r in rollups) + EPOCH_SECONDS
    return {
        rollup.name: open_epoch(
            rollup,
            deployment.market,
            deployer,
            lp,
            spot=SPOT,
            volatility=VOLATILITY,
            call_strikes=CALL_STRIKES,
            put_strikes=PUT_STRIKES,
            call_liquidity=CALL_LIQUIDITY,
            put_liquidity=PUT_LIQUIDITY,
            expiry=expiry,
        )
        for rollup in rollups
    }


def _raw_tx(rollup, account, fields) -> bytes:
    tx = {
        **fields,
        "nonce": rollup.w3.eth.get_transaction_count(account.address),
        "gas": 3_000_000,
        "gasPrice": 10**10,
        "chainId": rollup.chain_id,
    }
    signed = rollup.w3.eth.account.sign_transaction(tx, key_of(account))
    return rollup.w3.eth.send_raw_transaction(signed.raw_transaction)


@dataclass
class Slot:
    """One risk-reversal slot: the series traded, the quoted premiums, the signed bundle."""

    call_series: int
    put_series: int
    call_premium: int  # the call vault's ask on A at the slot time, WETH wad
    put_premium: int  # the put vault's bid on B at the slot time, USDC 6 decimals
    put_collateral: int  # the put's maximum payout, posted on B, USDC 6 decimals
    bundle: Bundle
    signature: bytes
    slot_time: int
    usdc_supply_before: int


def _prepare(deployment, epochs, rollup_a, rollup_b, deployer, trader) -> Slot:
    xr, market = deployment.xr, deployment.market
    call_series = epochs["rollup_a"].call_series[CALL_STRIKES.index(CALL_STRIKE)]
    put_series = epochs["rollup_b"].put_series[PUT_STRIKES.index(PUT_STRIKE)]

    # --- setup (automine): the trader's WETH and USDC on A, approvals on both rollups ---
    with rollup_a.use():
        xr.weth.mint(trader, TRADER_WETH, sender=deployer)
        xr.usdc.mint(trader, TRADER_USDC, sender=deployer)
        xr.weth.approve(xr.settlement, 2**256 - 1, sender=trader)
        xr.usdc.approve(xr.settlement, 2**256 - 1, sender=trader)
    with rollup_b.use():
        xr.usdc.approve(xr.settlement, 2**256 - 1, sender=trader)  # before any USDC is on B
        put_collateral = market.put_vault.max_payout(PUT_STRIKE, OPTIONS)
    usdc_supply_before = sum(_supply(r, xr.usdc) for r in (rollup_a, rollup_b))

    # --- the quotes for the slot's block time, signed as the trades' premium limits ---
    rollup_a.set_automine(False)
    rollup_b.set_automine(False)
    target_a = rollup_a.w3.eth.block_number + 1
    target_b = rollup_b.w3.eth.block_number + 1
    slot_time = max(_timestamp(rollup_a), _timestamp(rollup_b)) + 2
    call_premium, _ = quote_at(rollup_a, market.call_vault, call_series, OPTIONS, slot_time)
    _, put_premium = quote_at(rollup_b, market.put_vault, put_series, OPTIONS, slot_time)
    assert 0 < call_premium < TRADER_WETH and 0 < put_premium < put_collateral

    # --- the bundle: one signature over both legs ---
    deadline = slot_time + 60
    usdc, weth = xr.usdc.address, xr.weth.address
    call_vault, put_vault = market.call_vault, market.put_vault
    leg_a = Leg(
        901,
        target_a,
        pulls=(Pull(weth, call_premium), Pull(usdc, put_collateral)),
        calls=(
            Call(weth, 0, erc20_call(xr.weth, "approve", call_vault, call_premium)),
            Call(
                call_vault.address,
                0,
                _encode(call_vault.buy, call_series, OPTIONS, call_premium, deadline),
            ),
            Call(usdc, 0, erc20_call(xr.usdc, "bridge", 902, trader, put_collateral)),
        ),
    )
    leg_b = Leg(
        902,
        target_b,
        pulls=(Pull(usdc, put_collateral),),
        calls=(
            # `sell` takes the collateral net of the premium; the premium goes to the trader.
            Call(usdc, 0, erc20_call(xr.usdc, "approve", put_vault, put_collateral - put_premium)),
            Call(
                put_vault.address,
                0,
                _encode(put_vault.sell, put_series, OPTIONS, put_premium, deadline),
            ),
            Call(usdc, 0, erc20_call(xr.usdc, "transfer", trader, put_premium)),
        ),
    )
    bundle = Bundle(trader.address, trader.address, deadline, 1, (leg_a, leg_b))
    signature = sign_bundle(bundle, xr.domain, key_of(trader))
    return Slot(
        call_series,
        put_series,
        call_premium,
        put_premium,
        put_collateral,
        bundle,
        signature,
        slot_time,
        usdc_supply_before,
    )


def _mine_rollup_a(deployment, rollup_a, slot: Slot, executor):
    """Rollup A's block of the slot: leg A. Returns its receipt and the bridge message."""
    xr = deployment.xr
    tx_a = leg_transaction(slot.bundle, 0, slot.signature, xr.settlement.address)
    hash_a = _raw_tx(rollup_a, executor, tx_a)
    rollup_a.rpc("evm_mine", [{"timestamp": slot.slot_time}])
    receipt_a = rollup_a.w3.eth.get_transaction_receipt(hash_a)
    assert receipt_a["status"] == 1
    (message,) = messages_from_receipt(receipt_a, xr.messenger.address, 901)
    return receipt_a, message


def test_risk_reversal_bundle_settles_both_legs_in_one_slot(
    deployment, epochs, rollup_a, rollup_b, deployer, relayer, sequencer_account, trader
):
    xr, market = deployment.xr, deployment.market
    slot = _prepare(deployment, epochs, rollup_a, rollup_b, deployer, trader)
    bundle = slot.bundle

    # --- the slot: rollup A's block first, then rollup B's with the relay before leg B ---
    receipt_a, message = _mine_rollup_a(deployment, rollup_a, slot, sequencer_account)
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
        (settled,) = _logs(receipt, xr.settlement.address, LEG_SETTLED)
        assert bytes(settled["topics"][1]) == bundle_hash(bundle)
        assert int.from_bytes(bytes(settled["topics"][2]), "big") == index

    # --- rollup A: the trader's agent is long the calls, paid exactly the quoted ask ---
    with rollup_a.use():
        agent = xr.settlement.agent_of(trader)
        assert market.call_longs.balanceOf(agent, slot.call_series) == OPTIONS
        assert xr.weth.balanceOf(trader) == TRADER_WETH - slot.call_premium
        assert xr.usdc.balanceOf(trader) == TRADER_USDC - slot.put_collateral
        assert (xr.weth.balanceOf(agent), xr.usdc.balanceOf(agent)) == (0, 0)
        call_lock = market.call_vault.max_payout(CALL_STRIKE, OPTIONS)
        assert market.call_vault.total_locked() == call_lock
        assert market.call_vault.total_idle() == CALL_LIQUIDITY + slot.call_premium - call_lock
        assert xr.weth.balanceOf(market.call_vault) == CALL_LIQUIDITY + slot.call_premium
    (bought,) = _logs(receipt_a, market.call_vault.address, BOUGHT)
    assert _event_words(bought)[:2] == [OPTIONS, slot.call_premium]  # amount, premium

    # --- rollup B: the same agent is short the puts, received exactly the quoted bid ---
    with rollup_b.use():
        assert xr.settlement.agent_of(trader) == agent  # CREATE2: same settlement, salt = owner
        assert market.put_vault.short_position(agent, slot.put_series) == (
            OPTIONS,
            slot.put_collateral,
        )
        assert market.put_vault.trader_collateral() == slot.put_collateral
        assert market.put_vault.total_idle() == PUT_LIQUIDITY - slot.put_premium
        assert xr.usdc.balanceOf(market.put_vault) == (
            PUT_LIQUIDITY + slot.put_collateral - slot.put_premium
        )
        assert xr.usdc.balanceOf(trader) == slot.put_premium
        assert xr.usdc.balanceOf(agent) == 0
        assert market.put_longs.balanceOf(agent, slot.put_series) == 0
    (sold,) = _logs(receipt_b, market.put_vault.address, SOLD)
    assert _event_words(sold)[:3] == [OPTIONS, slot.put_premium, slot.put_collateral]
    # The collateral moved from A to B; no USDC was created or lost on the way.
    assert sum(_supply(r, xr.usdc) for r in (rollup_a, rollup_b)) == slot.usdc_supply_before


def test_leg_b_placed_before_the_relay_fails_so_the_builder_must_relay_first(
    deployment, epochs, rollup_a, rollup_b, deployer, relayer, sequencer_account, trader
):
    # What the block builder must not do: leg B ahead of the relay that funds it. Leg B reverts
    # (the trader has no USDC on B yet), which is why the builder places relays of what A sent
    # this slot before B's bundle legs, and simulates both legs before sealing either block.
    xr, market = deployment.xr, deployment.market
    slot = _prepare(deployment, epochs, rollup_a, rollup_b, deployer, trader)
    _, message = _mine_rollup_a(deployment, rollup_a, slot, sequencer_account)
    tx_b = leg_transaction(slot.bundle, 1, slot.signature, xr.settlement.address)
    parent_b = rollup_b.w3.eth.block_number
    hash_b = _raw_tx(rollup_b, sequencer_account, tx_b)
    hash_relay = _raw_tx(rollup_b, relayer, relay_transaction(message, xr.messenger.address))
    rollup_b.rpc("evm_mine", [{"timestamp": slot.slot_time}])
    assert rollup_b.w3.eth.get_transaction_receipt(hash_b)["status"] == 0
    assert rollup_b.w3.eth.get_transaction_receipt(hash_relay)["status"] == 1
    # Why: replayed on the state leg B saw (B's parent block, in the target block's context), the
    # trader's USDC pull fails.
    call = {"from": sequencer_account.address, "to": tx_b["to"], "data": tx_b["data"]}
    context = {"number": hex(parent_b + 1), "time": hex(slot.slot_time)}
    reason = _revert_message(rollup_b, call, parent_b, context)
    assert "erc20: transfer amount exceeds balance" in reason
    with rollup_b.use():
        assert not xr.settlement.settled(bundle_hash(slot.bundle), 1)
        assert xr.usdc.balanceOf(trader) == slot.put_collateral  # the bridge itself still landed
        assert xr.settlement.agent_of(trader) == ZERO_ADDRESS
        # No put was sold: the put vault's book is as the LP left it.
        assert market.put_vault.trader_collateral() == 0
        assert market.put_vault.total_idle() == PUT_LIQUIDITY
        assert xr.usdc.balanceOf(market.put_vault) == PUT_LIQUIDITY


def _revert_message(rollup, call: dict, block: int, block_overrides: dict) -> str:
    """The error message of an eth_call on `block`'s state with the given block context."""
    answer = rollup.w3.provider.make_request(
        "eth_call", [{**call, "gas": hex(3_000_000)}, hex(block), {}, block_overrides]
    )
    assert "error" in answer, "the call did not revert"
    return answer["error"]["message"]


def _logs(receipt, address: str, topic: bytes) -> list:
    return [
        log
        for log in receipt["logs"]
        if log["address"].lower() == str(address).lower() and bytes(log["topics"][0]) == topic
    ]


def _event_words(log) -> list[int]:
    data = bytes(log["data"])
    return list(decode(["uint256"] * (len(data) // 32), data))


def _encode(method, *args) -> bytes:
    return bytes(method.encode_input(*args))


def _timestamp(rollup, block="latest") -> int:
    return rollup.w3.eth.get_block(block)["timestamp"]


def _supply(rollup, token) -> int:
    with rollup.use():
        return token.totalSupply()
