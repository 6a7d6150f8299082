"""The service as a subprocess, SIGKILLed under load and restarted on the same journal: every
pre-confirmation it answered is kept at its promised position, nothing promised is lost."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from conftest import TEST_SLASHER
from test_sequencer_preconfs import signed_transfer

from sequencer.devnet import free_port

ROOT = Path(__file__).resolve().parents[2]


def _start(manifest: Path, journal: Path, port: int, log: Path) -> subprocess.Popen:
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
        env={**os.environ, "PYTHONPATH": str(ROOT)},
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
