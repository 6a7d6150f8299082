"""Faults of the service's dependencies and of its users' numbers never turn into broken
promises: deadlines outside what the sequencer can honour are refused before anything is stored,
wrong-shaped L1 answers stop promising (a stale L1 view) but never kill the L1 poll, and rollup
engine resets mid-slot are retried. A fault-injecting JSON-RPC proxy (faultproxy.py) sits
between the service and a real anvil."""

from __future__ import annotations

import time

import pytest
from conftest import write_manifest
from faultproxy import FaultProxy
from test_sequencer_preconfs import signed_transfer, wait_sealed

from sequencer.manifest import ChainEntry, Manifest


def _wait(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _l1_head(l1) -> int:
    return int(l1.rpc("eth_blockNumber"), 16)


def _bundle(trader, keeper, deadline, nonce=0):
    leg = signed_transfer(trader.private_key, 901, nonce, keeper.address)
    return {"txs": {"901": [leg]}, "beneficiary": trader.address, "deadline": deadline}


def _journaled_bundles(service) -> int:
    return service.call_in_loop(lambda: len(service.seq.journal.bundle_requests()))


# --- deadlines (issue #12 rows 1-2, issue #16 item 1) ---


@pytest.mark.parametrize("ahead", [2**63, 10**6, 601])
def test_a_bundle_deadline_beyond_the_evidence_window_is_refused_and_nothing_is_stored(
    sequencer_service, l1, trader, keeper, ahead
):
    """Deadline 2^63 used to crash the journal write and stop the service; head + 10^6 was
    signed. Both are refused with the latest acceptable deadline; the service goes on."""
    service = sequencer_service
    head = _l1_head(l1)
    deadline = ahead if ahead == 2**63 else head + ahead
    answer = service.rpc("/", "seq_sendBundle", [_bundle(trader, keeper, deadline)])
    error = answer["error"]
    if ahead == 2**63:
        # beyond what the journal and an ABI uint64 can hold: refused at the RPC edge
        assert error["code"] == -32602
        assert error["message"] == (
            "invalid argument 0: deadline: quantity above 9223372036854775807"
        )
    else:
        assert error["code"] == -32000
        assert "beyond the evidence window" in error["message"]
        assert error["data"]["latestDeadline"] >= head + 600
        assert error["data"]["evidenceWindowBlocks"] == 600
    assert _journaled_bundles(service) == 0
    assert service.running and service.result("/", "seq_status")["halted"] is None
    # the same legs with a deadline inside the window are taken and land
    ok = service.result("/", "seq_sendBundle", [_bundle(trader, keeper, _l1_head(l1) + 100)])
    assert _wait(lambda: service.result("/", "seq_getBundleReceipt", [ok["bundleHash"]]))


def test_a_bundle_deadline_the_batcher_cannot_meet_is_refused_with_the_earliest_one(
    sequencer_service, l1, trader, keeper
):
    service = sequencer_service
    head = _l1_head(l1)
    answer = service.rpc("/", "seq_sendBundle", [_bundle(trader, keeper, head + 1)])
    error = answer["error"]
    assert error["code"] == -32000 and "too soon" in error["message"]
    earliest = error["data"]["earliestDeadline"]
    assert earliest > head + 1 and str(earliest) in error["message"]
    assert _journaled_bundles(service) == 0
    status = service.result("/", "seq_status")["promising"]
    assert status["earliestDeadline"] >= earliest - 1
    # that deadline (or later) is signed
    ok = service.result("/", "seq_sendBundle", [_bundle(trader, keeper, earliest + 5)])
    receipt = _wait(lambda: service.result("/", "seq_getBundleReceipt", [ok["bundleHash"]]))
    assert receipt["deadline"] == earliest + 5


# --- the L1 view (issue #13 item 5) ---


@pytest.fixture
def l1_proxy(chains):
    proxy = FaultProxy(chains["l1"].url).start()
    yield proxy
    proxy.stop()


def _manifest_through(chains, tmp_path, proxies: dict[str, FaultProxy]):
    path = write_manifest(chains, tmp_path / "manifest-proxied.json")
    entries = {
        name: ChainEntry(
            name,
            handle.role,
            handle.chain_id,
            proxies[name].url if name in proxies else handle.url,
        )
        for name, handle in chains.items()
    }
    Manifest(name="test", chains=entries).save(path)
    return path


@pytest.mark.parametrize("fault", ["null", "array", "badhex", "garbage", "reset", "stall"])
def test_wrong_shaped_l1_answers_stop_promises_but_never_the_l1_poll(
    start_service, chains, l1, l1_proxy, tmp_path, trader, keeper, fault
):
    """`_poll_l1` caught only EngineError: 3 s of `result: null` ended it for good, the L1 head
    froze and deadlines were signed from it. Now the view ages, promises are refused while it
    is stale, and once L1 answers again the head follows L1 and promises resume."""
    manifest = _manifest_through(chains, tmp_path, {"l1": l1_proxy})
    service = start_service(
        manifest=manifest, l1_poll_s=0.1, l1_max_age_s=1.0, engine_timeout_s=0.5
    )
    l1_proxy.stall_s = 1.0
    raw = signed_transfer(trader.private_key, 901, 0, keeper.address)
    first = service.result("/901", "eth_sendRawTransaction", [raw])
    l1_proxy.set("eth_blockNumber", fault)
    _wait(lambda: l1_proxy.hits["eth_blockNumber"] >= 3, what="faulted L1 reads")
    refused = _wait(
        lambda: service.rpc(
            "/901",
            "eth_sendRawTransaction",
            [signed_transfer(trader.private_key, 901, 1, keeper.address)],
        ).get("error"),
        what="a refusal while the L1 view is stale",
    )
    assert refused["code"] == -32000 and "L1" in refused["message"]
    assert refused["data"]["reason"] == "l1_stale" and refused["data"]["retryAfterSeconds"] > 0
    assert service.result("/", "seq_status")["promising"]["reason"] == "l1_stale"
    l1_proxy.clear()
    l1.rpc("evm_mine", [])
    moved = _l1_head(l1)
    _wait(lambda: service.result("/", "seq_status")["l1Head"] >= moved, what="the L1 head")
    second = _wait(
        lambda: service.rpc(
            "/901",
            "eth_sendRawTransaction",
            [signed_transfer(trader.private_key, 901, 1, keeper.address)],
        ).get("result"),
        what="promises to resume",
    )
    assert wait_sealed(service, 901, first)["status"] == "success"
    assert wait_sealed(service, 901, second)["status"] == "success"
    assert service.result("/901", "seq_getPreconfirmation", [second])["deadline"] > moved


# --- rollup engine resets mid-slot (issue #13 item 5) ---


@pytest.fixture
def engine_proxy(chains):
    proxy = FaultProxy(chains["rollup_a"].url).start()
    yield proxy
    proxy.stop()


def _metric(service, name: str) -> float | None:
    import requests

    text = requests.get(service.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


@pytest.mark.parametrize(
    ("method", "fault", "forward_first", "times"),
    [
        ("evm_mine", "reset", True, 1),  # the block is mined, the answer is cut
        ("evm_mine", "reset", False, 1),  # nothing is mined
        ("eth_sendRawTransaction", "reset", True, 1),  # the pool took a tx, the answer is cut
        ("eth_getBlockByNumber", "reset", False, 3),  # a check, past the call's own retries
        ("eth_getBlockByNumber", "stall", False, 3),  # no answer within engine_timeout_s
        ("txpool_status", "null", False, 3),  # a wrong-shaped answer
        ("eth_getBlockByNumber", "null", False, 2),  # "no such block" that is not true
        ("eth_getBlockByNumber", "array", False, 2),
    ],
)
def test_an_engine_reset_mid_slot_is_retried_and_every_promise_is_kept(
    start_service,
    chains,
    engine_proxy,
    tmp_path,
    accounts,
    keeper,
    method,
    fault,
    forward_first,
    times,
):
    """A connection reset from rollup A's engine while a slot was in flight halted the service.
    Now the slot is recovered (a block the engine mined is checked against the journal and
    sealed; one it did not is loaded again from scratch) and every promise lands at its
    position, with one signed header per block."""
    manifest = _manifest_through(chains, tmp_path, {"rollup_a": engine_proxy})
    service = start_service(manifest=manifest, slot_ms=300, engine_timeout_s=1.0)
    engine_proxy.stall_s = 2.0
    rollup = chains["rollup_a"]
    senders = [accounts[i] for i in (4, 5, 6)]
    promises = []

    def promise(sender, nonce):
        raw = signed_transfer(sender.private_key, 901, nonce, keeper.address)
        promises.append(service.result("/901", "seq_sendRawTransaction", [raw]))

    for sender in senders:
        promise(sender, 0)
    engine_proxy.forward_first = forward_first
    engine_proxy.set(method, fault, times=times)
    for sender in senders:
        promise(sender, 1)
    _wait(lambda: method not in engine_proxy.faults, what="the fault to be hit")
    for sender in senders:
        promise(sender, 2)
    for p in promises:
        assert wait_sealed(service, 901, p["txHash"])["status"] == "success"
        mined = rollup.w3.eth.get_transaction_receipt(p["txHash"])
        assert (mined["blockNumber"], mined["transactionIndex"]) == (p["blockNumber"], p["index"])
    assert service.result("/", "seq_status")["halted"] is None
    if method != "eth_sendRawTransaction":  # (a cut send may meet the preloader instead)
        assert _metric(service, "seq_engine_faults_total") >= 1
    for number in sorted({p["blockNumber"] for p in promises}):
        header = service.result("/901", "seq_getBlockHeader", [number])
        assert header["blockHash"] == rollup.w3.eth.get_block(number)["hash"].to_0x_hex()


def test_a_waiting_bundle_whose_deadline_can_no_longer_be_met_is_dropped_not_receipted(
    sequencer_service, l1, trader, keeper
):
    """A bundle is receipted when it lands, possibly long after it was accepted: one whose
    deadline the batcher can no longer meet by then is dropped, never receipted."""
    service = sequencer_service
    head = _l1_head(l1)
    deadline = head + 10
    waiting = _bundle(trader, keeper, deadline, nonce=1)  # its sender is still at nonce 0
    sent = service.result("/", "seq_sendBundle", [waiting])
    for _ in range(7):
        l1.rpc("evm_mine", [])
    moved = _l1_head(l1)
    _wait(lambda: service.result("/", "seq_status")["l1Head"] >= moved, what="the L1 head")
    assert service.result("/", "seq_status")["promising"]["earliestDeadline"] > deadline
    first = signed_transfer(trader.private_key, 901, 0, keeper.address)
    wait_sealed(service, 901, service.result("/901", "seq_sendRawTransaction", [first])["txHash"])
    status = _wait(
        lambda: (
            (s := service.result("/", "seq_getBundleStatus", [sent["bundleHash"]]))
            and s["status"] != "pending"
            and s
        ),
        what="the bundle to settle",
    )
    assert status["status"] == "dropped" and "can no longer be met" in status["reason"]
    assert service.result("/", "seq_getBundleReceipt", [sent["bundleHash"]]) is None


@pytest.fixture
def engine_b_proxy(chains):
    proxy = FaultProxy(chains["rollup_b"].url).start()
    yield proxy
    proxy.stop()


def test_an_engine_reset_in_a_bundle_slot_undoes_the_slot_and_the_bundle_lands_whole(
    start_service, chains, engine_b_proxy, tmp_path, trader, lp, keeper, l1
):
    """Rollup B's engine cuts the connection while the bundle's leg goes to it, after leg A was
    mined on rollup A: the slot is undone on both rollups (no leg alone), the bundle is offered
    again and lands whole with its receipt; the promises around it keep their positions."""
    manifest = _manifest_through(chains, tmp_path, {"rollup_b": engine_b_proxy})
    service = start_service(manifest=manifest, slot_ms=300)
    promises = [
        service.result(
            "/901",
            "seq_sendRawTransaction",
            [signed_transfer(lp.private_key, 901, n, keeper.address)],
        )
        for n in range(3)
    ]
    # the pipelined send is tried twice on a closed connection: cut both
    engine_b_proxy.set("eth_sendRawTransaction", "reset", times=2)
    leg_a = signed_transfer(trader.private_key, 901, 0, keeper.address, value=10**15)
    leg_b = signed_transfer(trader.private_key, 902, 0, keeper.address, value=2 * 10**15)
    sent = service.result(
        "/",
        "seq_sendBundle",
        [
            {
                "txs": {"901": [leg_a], "902": [leg_b]},
                "beneficiary": trader.address,
                "deadline": _l1_head(l1) + 100,
            }
        ],
    )
    receipt = _wait(lambda: service.result("/", "seq_getBundleReceipt", [sent["bundleHash"]]))
    assert "eth_sendRawTransaction" not in engine_b_proxy.faults  # the cut did happen
    assert _metric(service, "seq_engine_faults_total") >= 1
    for leg in receipt["legs"]:
        rollup = chains["rollup_a" if leg["chainId"] == 901 else "rollup_b"]
        mined = rollup.w3.eth.get_transaction_receipt(leg["txHash"])
        assert mined["status"] == 1
        assert (mined["blockNumber"], mined["transactionIndex"]) == (
            leg["blockNumber"],
            leg["index"],
        )
    for p in promises:
        assert wait_sealed(service, 901, p["txHash"])["status"] == "success"
        mined = chains["rollup_a"].w3.eth.get_transaction_receipt(p["txHash"])
        assert (mined["blockNumber"], mined["transactionIndex"]) == (p["blockNumber"], p["index"])
    assert service.result("/", "seq_status")["halted"] is None
    assert service.result("/", "seq_getBundleStatus", [sent["bundleHash"]])["status"] == "included"
