"""The service as a subprocess, SIGKILLed under load and restarted on the same journal: every
pre-confirmation it answered is kept at its promised position, nothing promised is lost."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from conftest import TEST_SLASHER
from test_sequencer_preconfs import signed_transfer
from web3 import Web3

from sequencer.devnet import free_port
from sequencer.faults import FAULT_BUNDLE_SEAL, FAULT_BUNDLE_SLOT, FAULT_ENV

ROOT = Path(__file__).resolve().parents[2]


def _start(
    manifest: Path, journal: Path, port: int, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "sequencer.cli",
        "run",
        "--manifest",
        str(manifest),
        "--port",
        str(port),
        "--journal",
        str(journal),
        "--slot-ms",
        "100",
        "--devnet-key",
        "--slasher-address",
        TEST_SLASHER,
    ]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=open(log, "ab"),
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    line = proc.stdout.readline()
    assert "sequencer listening on" in line, log.read_text()[-3000:]
    return proc


def _rpc(url, method, params, timeout=10):
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    return requests.post(url, json=body, timeout=timeout).json()


def test_sigkill_under_load_keeps_every_promise(chains, manifest_path, tmp_path, accounts):
    for name in ("rollup_a", "rollup_b"):
        chains[name].set_automine(False)
    journal, port = tmp_path / "journal.sqlite", free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "service.log"
    senders = [accounts[i] for i in range(4, 10)]
    receiver = accounts[3].address
    acknowledged: list[dict] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(sender, chain_id):
        nonce = 0
        while not stop.is_set():
            raw = signed_transfer(sender.private_key, chain_id, nonce, receiver)
            try:
                answer = _rpc(f"{base}/{chain_id}", "seq_sendRawTransaction", [raw], timeout=5)
            except requests.RequestException:
                return
            assert "error" not in answer, answer
            with lock:
                acknowledged.append(answer["result"])
            nonce += 1

    proc = _start(manifest_path, journal, port, log)
    threads = [threading.Thread(target=load, args=(s, 901 + i % 2)) for i, s in enumerate(senders)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 400 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)  # under load: requests in flight, a block maybe half-built
    proc.wait()
    stop.set()
    for thread in threads:
        thread.join(10)
    assert len(acknowledged) >= 400

    proc = _start(manifest_path, journal, port, log)
    try:
        deadline = time.monotonic() + 30
        pending = None
        while time.monotonic() < deadline:
            status = _rpc(base, "seq_status", [])["result"]
            pending = sum(c["pending"] for c in status["chains"].values())
            if pending == 0:
                break
            time.sleep(0.1)
        assert pending == 0 and status["halted"] is None
        for promise in acknowledged:
            w3 = chains["rollup_a" if promise["chainId"] == 901 else "rollup_b"].w3
            receipt = w3.eth.get_transaction_receipt(promise["txHash"])
            assert receipt["status"] == 1
            assert (receipt["blockNumber"], receipt["transactionIndex"]) == (
                promise["blockNumber"],
                promise["index"],
            ), promise
            again = _rpc(
                f"{base}/{promise['chainId']}", "seq_getPreconfirmation", [promise["txHash"]]
            )["result"]
            assert again["signature"] == promise["signature"]
            assert again["status"] in ("mined", "success")
        # And it keeps serving: the next nonce of a sender follows what the engine has.
        sender = senders[0]
        nonce = int(
            _rpc(f"{base}/901", "eth_getTransactionCount", [sender.address, "pending"])["result"],
            16,
        )
        assert nonce == chains["rollup_a"].w3.eth.get_transaction_count(sender.address)
        answer = _rpc(
            f"{base}/901",
            "seq_sendRawTransaction",
            [signed_transfer(sender.private_key, 901, nonce, receiver)],
        )
        assert "error" not in answer, answer
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def _wait_idle(base: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _rpc(base, "seq_status", [])["result"]
        if sum(c["pending"] for c in status["chains"].values()) == 0:
            return status
        time.sleep(0.1)
    raise AssertionError(f"still pending after {timeout}s: {status}")


def _receipt(w3, raw: str):
    tx_hash = Web3.keccak(hexstr=raw).to_0x_hex()
    return w3.provider.make_request("eth_getTransactionReceipt", [tx_hash])["result"]


@pytest.mark.parametrize("fault", [FAULT_BUNDLE_SLOT, FAULT_BUNDLE_SEAL])
def test_a_crash_mid_bundle_slot_never_lands_one_leg_alone(
    chains, manifest_path, tmp_path, trader, lp, keeper, l1, fault
):
    """The builder exits (fault injection: SEQUENCER_TEST_FAULT) in a bundle slot: right after
    rollup A's block is mined with leg A, before leg B is sent (the restart rolls the slot back:
    no leg stays alone, and the journaled bundle is offered again and lands whole), or right
    after A's block is sealed, with B's mined (the restart seals B's block as mined and signs the
    bundle's receipt). Either way the bundle lands whole with its receipt, and every promise
    made before the crash is kept."""
    for name in ("rollup_a", "rollup_b"):
        chains[name].set_automine(False)
    w3a, w3b = chains["rollup_a"].w3, chains["rollup_b"].w3
    journal, port = tmp_path / "journal.sqlite", free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "service.log"
    proc = _start(manifest_path, journal, port, log, {FAULT_ENV: fault})
    try:
        # The legs follow lp's three promises on each rollup (nonce 3): a slot can take the
        # bundle only once lp has no promise after that slot's block, so the block of rollup A
        # that the crash leaves half landed holds some of these promises before leg A.
        leg_a = signed_transfer(lp.private_key, 901, 3, trader.address, value=10**15)
        leg_b = signed_transfer(lp.private_key, 902, 3, trader.address, value=2 * 10**15)
        deadline = int(l1.rpc("eth_blockNumber"), 16) + 50
        bundle = _rpc(
            base,
            "seq_sendBundle",
            [
                {
                    "txs": {"901": [leg_a], "902": [leg_b]},
                    "beneficiary": lp.address,
                    "deadline": deadline,
                }
            ],
        )["result"]["bundleHash"]
        promises = [
            _rpc(
                f"{base}/{chain_id}",
                "seq_sendRawTransaction",
                [signed_transfer(lp.private_key, chain_id, n, keeper.address)],
            )["result"]
            for chain_id in (901, 902)
            for n in range(3)
        ]
        assert proc.wait(30) == 86, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # the crash left the slot it was built for: leg A mined on A, after promised transactions,
    # and nothing on B (or, at the second fault point, leg B mined too but not sealed)
    half = _receipt(w3a, leg_a)
    assert half is not None
    assert (_receipt(w3b, leg_b) is None) == (fault == FAULT_BUNDLE_SLOT)
    crashed = int(half["blockNumber"], 16)
    assert [p["blockNumber"] for p in promises if p["chainId"] == 901].count(crashed) >= 1
    mined_b = _receipt(w3b, leg_b)

    proc = _start(manifest_path, journal, port, log)
    try:
        # the bundle was journaled: it is offered again and lands whole, with its receipt
        landed = None
        deadline = time.monotonic() + 20
        while landed is None and time.monotonic() < deadline:
            landed = _rpc(base, "seq_getBundleReceipt", [bundle])["result"]
            time.sleep(0.05)
        assert landed is not None, log.read_text()[-3000:]
        receipts = [_receipt(w3a, leg_a), _receipt(w3b, leg_b)]
        assert all(r is not None and int(r["status"], 16) == 1 for r in receipts)
        assert [(leg["blockNumber"], leg["index"]) for leg in landed["legs"]] == [
            (int(r["blockNumber"], 16), int(r["transactionIndex"], 16)) for r in receipts
        ]
        assert _rpc(base, "seq_getBundleStatus", [bundle])["result"]["status"] == "included"
        if fault == FAULT_BUNDLE_SEAL:  # kept where they were mined before the crash
            assert receipts == [half, mined_b]
        status = _wait_idle(base)
        assert status["halted"] is None
        for promise in promises:
            w3 = w3a if promise["chainId"] == 901 else w3b
            receipt = w3.eth.get_transaction_receipt(promise["txHash"])
            assert receipt["status"] == 1
            assert (receipt["blockNumber"], receipt["transactionIndex"]) == (
                promise["blockNumber"],
                promise["index"],
            ), promise
            again = _rpc(
                f"{base}/{promise['chainId']}", "seq_getPreconfirmation", [promise["txHash"]]
            )["result"]
            assert again["signature"] == promise["signature"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
