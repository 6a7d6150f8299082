"""Atomic bundles across both rollups: all legs land in one slot with success and a signed
receipt, or none lands and there is no receipt."""

import time

import requests
from ape import project
from test_sequencer_preconfs import GWEI, signed_transfer, wait_sealed
from web3 import Web3

from sequencer.commitments import BundleReceiptMsg, digest, legs_hash, recover
from sequencer.config import DEVNET_SEQUENCER_ADDRESS
from sequencer.mempool import next_base_fee


def _wait(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def _metric(service, name: str) -> float | None:
    """The value of an unlabelled metric on the service's /metrics page (None if absent)."""
    text = requests.get(service.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def _slot_offset(service) -> int:
    """head(A) - head(B) between slots (each slot mines one block on each rollup)."""
    samples = []
    for _ in range(5):
        chains = service.result("/", "seq_status")["chains"]
        samples.append(chains["901"]["head"] - chains["902"]["head"])
        time.sleep(0.03)
    return max(set(samples), key=samples.count)


def test_a_bundle_across_both_rollups_lands_in_one_slot_with_a_receipt(
    sequencer_service, chains, trader, lp, keeper, l1
):
    service = sequencer_service
    offset = _slot_offset(service)
    # promised traffic from another sender around the bundle
    for n in range(3):
        service.result(
            "/901",
            "eth_sendRawTransaction",
            [signed_transfer(lp.private_key, 901, n, keeper.address)],
        )
    leg_a = signed_transfer(trader.private_key, 901, 0, keeper.address, value=10**15)
    leg_b = signed_transfer(trader.private_key, 902, 0, keeper.address, value=2 * 10**15)
    deadline = int(l1.rpc("eth_blockNumber"), 16) + 50
    bundle = service.result(
        "/",
        "seq_sendBundle",
        [
            {
                "txs": {"901": [leg_a], "902": [leg_b]},
                "beneficiary": trader.address,
                "deadline": deadline,
            }
        ],
    )["bundleHash"]
    receipt = _wait(lambda: service.result("/", "seq_getBundleReceipt", [bundle]))
    assert service.result("/", "seq_getBundleStatus", [bundle])["status"] == "included"
    status = service.result("/", "seq_status")
    assert status["bundles"] == {"pending": 0, "included": 1, "dropped": 0}
    assert _metric(service, "seq_bundles_included_total") == 1
    assert _metric(service, "seq_bundles_pending") == 0
    legs = [
        (leg["chainId"], leg["blockNumber"], leg["index"], bytes.fromhex(leg["txHash"][2:]))
        for leg in receipt["legs"]
    ]
    assert [leg[0] for leg in legs] == [901, 902]
    for chain_id, number, index, tx_hash in legs:
        w3 = chains["rollup_a" if chain_id == 901 else "rollup_b"].w3
        mined = w3.eth.get_transaction_receipt(tx_hash)
        assert mined["status"] == 1
        assert (mined["blockNumber"], mined["transactionIndex"]) == (number, index)
    assert legs[0][1] - legs[1][1] == offset  # the same slot on both rollups
    msg = BundleReceiptMsg(bytes.fromhex(bundle[2:]), legs_hash(legs), trader.address, deadline)
    assert receipt["legsHash"] == "0x" + legs_hash(legs).hex()
    signature = bytes.fromhex(receipt["signature"][2:])
    assert recover(digest(service.domain, msg), signature) == DEVNET_SEQUENCER_ADDRESS
    # a leg is not a pre-confirmation, and cannot be sent again as one
    assert service.result("/901", "seq_getPreconfirmation", [receipt["legs"][0]["txHash"]]) is None
    again = service.rpc("/901", "eth_sendRawTransaction", [leg_a])
    assert again["error"]["message"] == "already known"
    # the sender's next nonce follows its legs on each rollup
    assert service.result("/901", "eth_getTransactionCount", [trader.address, "pending"]) == "0x1"
    after = signed_transfer(trader.private_key, 902, 1, keeper.address)
    wait_sealed(service, 902, service.result("/902", "eth_sendRawTransaction", [after]))


def test_a_bundle_with_a_failing_leg_lands_nowhere_and_has_no_receipt(
    start_service, chains, rollup_b, deployer, trader, lp, keeper, l1
):
    with rollup_b.use():
        probe = project.ChainProbe.deploy(sender=deployer)
    first_mined = {name: chains[name].w3.eth.block_number + 1 for name in ("rollup_a", "rollup_b")}
    service = start_service()
    promised = [  # promises in the same slots must survive the rewind of a dropped bundle
        service.result(
            "/901",
            "seq_sendRawTransaction",
            [signed_transfer(lp.private_key, 901, n, keeper.address)],
        )
        for n in range(2)
    ]
    leg_a = signed_transfer(trader.private_key, 901, 0, keeper.address, value=10**15)
    leg_b = signed_transfer(  # an unknown selector: the Vyper contract reverts
        trader.private_key,
        902,
        0,
        probe.address,
        value=0,
        data=b"\xde\xad\xbe\xef",
        gas=100_000,
        maxFeePerGas=50 * GWEI,
    )
    deadline = int(l1.rpc("eth_blockNumber"), 16) + 50
    bundle = service.result(
        "/",
        "seq_sendBundle",
        [
            {
                "txs": {"901": [leg_a], "902": [leg_b]},
                "beneficiary": trader.address,
                "deadline": deadline,
            }
        ],
    )["bundleHash"]
    status = _wait(
        lambda: (
            (s := service.result("/", "seq_getBundleStatus", [bundle]))["status"] != "pending" and s
        )
    )
    assert status["status"] == "dropped"
    assert service.result("/", "seq_getBundleReceipt", [bundle]) is None
    assert service.result("/", "seq_status")["bundles"] == {
        "pending": 0,
        "included": 0,
        "dropped": 1,
    }
    assert _metric(service, "seq_bundles_dropped_total") == 1
    for name, raw in (("rollup_a", leg_a), ("rollup_b", leg_b)):
        w3 = chains[name].w3
        assert w3.eth.get_transaction_count(trader.address) == 0  # no leg landed
        leg_hash = Web3.keccak(hexstr=raw)
        assert (
            w3.provider.make_request("eth_getTransactionReceipt", [leg_hash.to_0x_hex()])["result"]
            is None
        )
    for promise in promised:
        sealed = wait_sealed(service, 901, promise["txHash"])
        assert (sealed["blockNumber"], sealed["index"]) == (
            promise["blockNumber"],
            promise["index"],
        )
    # the rewound slot was mined again with the base fee its parent implies (anvil's base-fee
    # tracker would follow the undone block): each block is what a fresh engine would mine
    for name in ("rollup_a", "rollup_b"):
        w3 = chains[name].w3
        for number in range(first_mined[name] + 1, w3.eth.block_number + 1):
            parent, block = w3.eth.get_block(number - 1), w3.eth.get_block(number)
            assert block["baseFeePerGas"] == next_base_fee(
                parent["baseFeePerGas"], parent["gasUsed"], parent["gasLimit"]
            ), (name, number)
    # the rollups went on: a plain transaction with the same nonce is promised and mined
    tx_hash = service.result(
        "/901",
        "eth_sendRawTransaction",
        [signed_transfer(trader.private_key, 901, 0, keeper.address)],
    )
    assert wait_sealed(service, 901, tx_hash)["status"] == "success"
    assert service.result("/", "seq_status")["halted"] is None


def test_no_promise_takes_a_leg_nonce_while_the_slot_selects_its_bundles(
    start_service, chains, trader, lp, keeper, l1
):
    """Admission runs whenever bundle selection awaits (an account read from the engine). A
    transaction from a sender whose bundle is being selected, admitted at that moment, must
    either win (and the bundle wait or drop) or wait for the slot: never take the leg's nonce in
    the next block (the engine would refuse the promise and the builder halt)."""
    from test_sequencer_relays import _after_a_slot

    service = start_service(slot_ms=1_000)
    seq = service.seq
    conflicting = signed_transfer(trader.private_key, 901, 0, keeper.address, value=3)
    seen: dict = {}
    read_account = seq.ensure_account

    async def reading_lp_admits_the_conflict(chain, sender, refresh=False):
        if sender.lower() == lp.address.lower() and "answer" not in seen:
            seen["answer"] = None  # once
            try:
                seen["answer"] = await seq.send_raw(901, bytes.fromhex(conflicting[2:]))
            except Exception as exc:  # noqa: BLE001 - the test reports what happened
                seen["answer"] = exc
        return await read_account(chain, sender, refresh)

    service.call_in_loop(lambda: setattr(seq, "ensure_account", reading_lp_admits_the_conflict))
    deadline = int(l1.rpc("eth_blockNumber"), 16) + 50
    first = {  # the trader's legs, nonce 0 on both rollups
        "txs": {
            "901": [signed_transfer(trader.private_key, 901, 0, keeper.address, value=1)],
            "902": [signed_transfer(trader.private_key, 902, 0, keeper.address, value=2)],
        },
        "beneficiary": trader.address,
        "deadline": deadline,
    }
    second = {  # its selection reads lp's account (first use): admission runs meanwhile
        "txs": {"902": [signed_transfer(lp.private_key, 902, 0, keeper.address, value=4)]},
        "beneficiary": lp.address,
        "deadline": deadline,
    }
    _after_a_slot(service)
    answers = service.post(
        "/",
        [
            {"jsonrpc": "2.0", "id": i, "method": "seq_sendBundle", "params": [bundle]}
            for i, bundle in enumerate((first, second))
        ],
    ).json()
    hashes = [a["result"]["bundleHash"] for a in sorted(answers, key=lambda a: a["id"])]
    statuses = _wait(
        lambda: (
            (s := [service.result("/", "seq_getBundleStatus", [h])["status"] for h in hashes])
            and "pending" not in s
            and s
        )
    )
    record = seen["answer"]
    assert not isinstance(record, Exception), record
    # the promise won: it is kept where it was promised, the trader's bundle never lands
    sealed = wait_sealed(service, 901, "0x" + record.tx_hash.hex())
    assert (sealed["blockNumber"], sealed["index"]) == (record.block_number, record.index)
    mined = chains["rollup_a"].w3.eth.get_transaction_receipt(record.tx_hash)
    assert (mined["blockNumber"], mined["transactionIndex"]) == (record.block_number, record.index)
    assert statuses == ["dropped", "included"]
    assert service.result("/", "seq_status")["halted"] is None
