"""BundleSettlement on the rollup engines: target block, signature over the whole bundle, once
only, all-or-nothing, and approvals that only their owner's signed bundle can spend."""

import ape
from xrollup_helpers import erc20_call, key_of, next_block

from sequencer.bundles import Bundle, Call, Leg, Pull, bundle_abi, bundle_hash, sign_bundle

USDC = 10**6
FAR = 2**40  # a deadline far in the future (seconds)


def _funded(xr, rollup, deployer, owner, amount=100 * USDC):
    with rollup.use():
        xr.usdc.mint(owner, amount, sender=deployer)
        xr.usdc.approve(xr.settlement, 2**256 - 1, sender=owner)


def _pay_leg(xr, chain_id, target_block, to, amount) -> Leg:
    """Pull `amount` USDC from the owner into the agent, then pay it to `to` from the agent."""
    return Leg(
        chain_id,
        target_block,
        pulls=(Pull(xr.usdc.address, amount),),
        calls=(Call(xr.usdc.address, 0, erc20_call(xr.usdc, "transfer", to, amount)),),
    )


def _execute(xr, rollup, bundle, index, signature, executor, **kw):
    with rollup.use():
        return xr.settlement.execute_leg(
            bundle_abi(bundle), index, signature, sender=executor, **kw
        )


def test_leg_runs_in_its_target_block_on_the_owners_behalf(
    xr, rollup_a, deployer, trader, lp, sequencer_account
):
    _funded(xr, rollup_a, deployer, trader)
    leg = _pay_leg(xr, 901, next_block(rollup_a), lp, 10 * USDC)
    bundle = Bundle(trader.address, lp.address, FAR, 1, (leg, Leg(902, 1)))
    signature = sign_bundle(bundle, xr.domain, key_of(trader))

    receipt = _execute(xr, rollup_a, bundle, 0, signature, sequencer_account)

    assert receipt.block_number == leg.target_block
    with rollup_a.use():
        assert xr.usdc.balanceOf(lp) == 10 * USDC
        assert xr.usdc.balanceOf(trader) == 90 * USDC
        agent = xr.settlement.agent_of(trader)
        assert agent != ape.utils.ZERO_ADDRESS and xr.usdc.balanceOf(agent) == 0
        assert xr.settlement.settled(bundle_hash(bundle), 0)
        assert not xr.settlement.settled(bundle_hash(bundle), 1)
        (event,) = receipt.decode_logs(xr.settlement.LegSettled)
        assert bytes(event.bundle_hash) == bundle_hash(bundle)
        assert (event.leg_index, event.owner, event.beneficiary) == (0, trader, lp)
        assert (event.chain_id, event.target_block) == (901, leg.target_block)
        assert (event.agent, event.executor) == (agent, sequencer_account)
        (created,) = receipt.decode_logs(xr.settlement.AgentCreated)
        assert (created.owner, created.agent) == (trader, agent)


def test_leg_outside_its_target_block_reverts(xr, rollup_a, deployer, trader, lp):
    _funded(xr, rollup_a, deployer, trader)
    # A reverted transaction is still mined (one block), so each target is taken from the head.
    for offset in (0, -3, 2, 100):  # the current block, a past one, one too early, far ahead
        leg = _pay_leg(xr, 901, rollup_a.w3.eth.block_number + offset, lp, 10 * USDC)
        bundle = Bundle(trader.address, lp.address, FAR, 1, (leg,))
        signature = sign_bundle(bundle, xr.domain, key_of(trader))
        with ape.reverts("not target block"):
            _execute(xr, rollup_a, bundle, 0, signature, trader)
    with rollup_a.use():
        assert xr.usdc.balanceOf(lp) == 0


def test_leg_whose_signature_covers_another_set_of_legs_reverts(
    xr, rollup_a, deployer, trader, lp, keeper
):
    _funded(xr, rollup_a, deployer, trader)

    def variants(target):
        leg_a = _pay_leg(xr, 901, target, lp, 10 * USDC)
        signed = Bundle(trader.address, lp.address, FAR, 1, (leg_a, Leg(902, 50)))
        # Same leg here but another leg on the other chain, or none, or a bigger amount here, or
        # another beneficiary: the signature over `signed` covers none of them.
        others = [
            Bundle(trader.address, lp.address, FAR, 1, (leg_a, Leg(902, 51))),
            Bundle(trader.address, lp.address, FAR, 1, (leg_a,)),
            Bundle(trader.address, lp.address, FAR, 1, (_pay_leg(xr, 901, target, lp, 11),)),
            Bundle(trader.address, keeper.address, FAR, 1, (leg_a, Leg(902, 50))),
        ]
        return signed, others

    for which in range(4):
        signed, others = variants(next_block(rollup_a))
        signature = sign_bundle(signed, xr.domain, key_of(trader))
        with ape.reverts("invalid signature"):
            _execute(xr, rollup_a, others[which], 0, signature, trader)
    # The right bundle, signed by someone other than its owner.
    signed, _ = variants(next_block(rollup_a))
    forged = sign_bundle(
        Bundle(keeper.address, lp.address, FAR, 1, signed.legs), xr.domain, key_of(keeper)
    )
    with ape.reverts("invalid signature"):
        _execute(xr, rollup_a, signed, 0, forged, trader)
    with rollup_a.use():
        assert xr.usdc.balanceOf(lp) == 0
    # And the signature does run the bundle it covers.
    signed, _ = variants(next_block(rollup_a))
    _execute(xr, rollup_a, signed, 0, sign_bundle(signed, xr.domain, key_of(trader)), trader)
    with rollup_a.use():
        assert xr.usdc.balanceOf(lp) == 10 * USDC


def test_replayed_leg_reverts(xr, rollup_a, deployer, trader, lp):
    _funded(xr, rollup_a, deployer, trader)
    leg = _pay_leg(xr, 901, next_block(rollup_a), lp, 10 * USDC)
    bundle = Bundle(trader.address, lp.address, FAR, 1, (leg,))
    signature = sign_bundle(bundle, xr.domain, key_of(trader))
    _execute(xr, rollup_a, bundle, 0, signature, trader)
    with ape.reverts("leg already settled"):
        _execute(xr, rollup_a, bundle, 0, signature, trader)
    with rollup_a.use():
        assert xr.usdc.balanceOf(lp) == 10 * USDC


def test_replay_in_the_same_block_runs_once(xr, rollup_a, deployer, trader, lp, keeper):
    from sequencer.bundles import leg_transaction

    _funded(xr, rollup_a, deployer, trader)
    rollup_a.set_automine(False)
    target = next_block(rollup_a)
    bundle = Bundle(trader.address, lp.address, FAR, 1, (_pay_leg(xr, 901, target, lp, 10),))
    signature = sign_bundle(bundle, xr.domain, key_of(trader))
    tx = leg_transaction(bundle, 0, signature, xr.settlement.address)
    hashes = []
    for nonce in range(2):
        fields = {**tx, "nonce": nonce, "gas": 1_000_000, "gasPrice": 10**10}
        signed = rollup_a.w3.eth.account.sign_transaction(fields, key_of(keeper))
        hashes.append(rollup_a.w3.eth.send_raw_transaction(signed.raw_transaction))
    rollup_a.rpc("evm_mine")
    first, second = (rollup_a.w3.eth.get_transaction_receipt(h) for h in hashes)
    assert first["blockNumber"] == second["blockNumber"] == target
    assert (first["status"], second["status"]) == (1, 0)
    with rollup_a.use():
        assert xr.usdc.balanceOf(lp) == 10


def test_leg_on_another_chain_or_after_deadline_or_with_wrong_value_reverts(
    xr, rollup_a, deployer, trader, lp
):
    _funded(xr, rollup_a, deployer, trader)
    owner, ben = trader.address, lp.address

    def cases(target, now):
        pay = (Call(ben, 5),)
        return [
            ("wrong chain", Bundle(owner, ben, FAR, 1, (Leg(902, target),)), 0, 0),
            ("bundle expired", Bundle(owner, ben, now - 1, 1, (Leg(901, target),)), 0, 0),
            ("value mismatch", Bundle(owner, ben, FAR, 1, (Leg(901, target, (), pay),)), 0, 4),
            ("no such leg", Bundle(owner, ben, FAR, 1, (Leg(901, target),)), 1, 0),
        ]

    for which in range(4):
        with rollup_a.use():
            now = ape.chain.pending_timestamp
        reason, bundle, index, value = cases(next_block(rollup_a), now)[which]
        signature = sign_bundle(bundle, xr.domain, key_of(trader))
        with ape.reverts(reason):
            _execute(xr, rollup_a, bundle, index, signature, trader, value=value)


def test_ether_of_a_leg_is_forwarded_to_its_call(xr, rollup_a, trader, keeper):
    target = next_block(rollup_a)
    before = rollup_a.w3.eth.get_balance(keeper.address)
    leg = Leg(901, target, (), (Call(keeper.address, 7 * 10**15),))
    bundle = Bundle(trader.address, trader.address, FAR, 2, (leg,))
    signature = sign_bundle(bundle, xr.domain, key_of(trader))
    _execute(xr, rollup_a, bundle, 0, signature, trader, value=leg.value)
    assert rollup_a.w3.eth.get_balance(keeper.address) == before + 7 * 10**15


def test_a_failing_call_reverts_the_whole_leg(xr, rollup_a, deployer, trader, lp):
    _funded(xr, rollup_a, deployer, trader)
    target = next_block(rollup_a)
    leg = Leg(
        901,
        target,
        pulls=(Pull(xr.usdc.address, 10 * USDC),),
        calls=(
            Call(xr.usdc.address, 0, erc20_call(xr.usdc, "transfer", lp, 4 * USDC)),
            Call(xr.usdc.address, 0, erc20_call(xr.usdc, "transfer", lp, 7 * USDC)),  # > 6 left
        ),
    )
    bundle = Bundle(trader.address, lp.address, FAR, 1, (leg,))
    signature = sign_bundle(bundle, xr.domain, key_of(trader))
    with ape.reverts("erc20: transfer amount exceeds balance"):
        _execute(xr, rollup_a, bundle, 0, signature, trader)
    with rollup_a.use():
        assert xr.usdc.balanceOf(trader) == 100 * USDC  # the pull was undone too
        assert xr.usdc.balanceOf(lp) == 0
        assert not xr.settlement.settled(bundle_hash(bundle), 0)


def test_approvals_to_the_settlement_are_spent_only_by_their_owners_bundle(
    xr, rollup_a, deployer, trader, lp
):
    # lp (the victim) approved the settlement contract; trader signs a bundle trying to use it.
    _funded(xr, rollup_a, deployer, lp)
    _funded(xr, rollup_a, deployer, trader, 1)
    target = next_block(rollup_a)
    steal = erc20_call(xr.usdc, "transferFrom", lp, trader, 50 * USDC)
    leg = Leg(901, target, (), (Call(xr.usdc.address, 0, steal),))
    bundle = Bundle(trader.address, trader.address, FAR, 1, (leg,))
    with ape.reverts("erc20: insufficient allowance"):
        _execute(xr, rollup_a, bundle, 0, sign_bundle(bundle, xr.domain, key_of(trader)), trader)
    with rollup_a.use():
        assert xr.usdc.balanceOf(lp) == 100 * USDC


def test_agents_obey_only_their_settlement(xr, rollup_a, deployer, trader, lp):
    _funded(xr, rollup_a, deployer, trader)
    leg = _pay_leg(xr, 901, next_block(rollup_a), lp, 1)
    bundle = Bundle(trader.address, lp.address, FAR, 1, (leg,))
    _execute(xr, rollup_a, bundle, 0, sign_bundle(bundle, xr.domain, key_of(trader)), trader)
    from ape import project

    with rollup_a.use():
        agent = project.BundleAgent.at(xr.settlement.agent_of(trader))
        assert (agent.owner(), agent.settlement()) == (trader, xr.settlement)
        with ape.reverts("not settlement"):
            agent.execute(xr.usdc, 0, b"", sender=trader)
        with ape.reverts("already initialized"):
            agent.initialize(lp, sender=lp)
        with ape.reverts("not settlement"):  # the implementation itself is locked
            xr.agent.execute(xr.usdc, 0, b"", sender=trader)
        with ape.reverts("already initialized"):
            xr.agent.initialize(lp, sender=lp)
