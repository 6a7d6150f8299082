"""`make devnet` in one test: chains, deployment, sequencer, batcher, demo and status view run
together, every demo promise is kept, the demo's risk-reversal bundle and forced inclusion land
where the demo says, and nothing outlives the devnet."""

import json
import os
import re
import signal
import subprocess
import sys
import time

from web3 import Web3

from sequencer.devnet import anvils_on, free_port
from sequencer.manifest import load_manifest


def test_devnet_runs_the_whole_system_and_stops_cleanly(tmp_path):
    ports = [free_port() for _ in range(4)]
    state = tmp_path / "state.json"
    command = [
        sys.executable,
        "-m",
        "sequencer.cli",
        "devnet",
        "up",
        "--l1-port",
        str(ports[0]),
        "--rollup-ports",
        f"{ports[1]},{ports[2]}",
        "--rpc-port",
        str(ports[3]),
        "--state-file",
        str(state),
        "--manifest",
        str(tmp_path / "devnet.json"),
    ]
    env = dict(os.environ)
    # Until the L1 contracts are in the manifest, the promises' verifying contract must be named.
    env.setdefault("SEQUENCER_SLASHER_ADDRESS", "0x" + "00" * 19 + "01")
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
    )
    try:
        deadline = time.monotonic() + 240
        demo_log = tmp_path / "logs" / "demo.log"
        while time.monotonic() < deadline and proc.poll() is None:
            if demo_log.exists() and "round 2:" in demo_log.read_text():
                break
            time.sleep(0.5)
        assert proc.poll() is None, proc.stdout.read()
        pids = [c["pid"] for c in json.loads(state.read_text())["chains"]]
        # Move the L1 to the start of the next term, which the staked sequencer leads, so the
        # batcher posts; then rebuild both rollups from L1 alone while the devnet runs. (Not
        # further: the demo's forced item must not pass its FORCE_DELAY_BLOCKS deadline, since
        # the batcher does not advance `forced_through` yet and the inbox would refuse batches.)
        l1 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{ports[0]}"))
        manifest = load_manifest(tmp_path / "devnet.json")
        registry = l1.eth.contract(
            address=manifest.l1.contract("SequencerRegistry").address,
            abi=manifest.l1.contract("SequencerRegistry").abi,
        )
        next_term = registry.functions.term_start(
            registry.functions.current_term().call() + 1
        ).call()
        l1.provider.make_request("anvil_mine", [hex(next_term - l1.eth.block_number)])
        inbox = l1.eth.contract(
            address=manifest.l1.contract("SharedInbox").address,
            abi=manifest.l1.contract("SharedInbox").abi,
        )
        while time.monotonic() < deadline and inbox.functions.next_sequence().call() < 1:
            time.sleep(0.5)
        assert inbox.functions.next_sequence().call() >= 1, (
            tmp_path / "logs" / "batcher.log"
        ).read_text()[-3000:]
        derived = subprocess.run(
            [
                sys.executable,
                "-m",
                "sequencer.cli",
                "derive",
                "--manifest",
                str(tmp_path / "devnet.json"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert derived.returncode == 0, derived.stdout + derived.stderr
        assert "every commitment matches" in derived.stdout
        assert "both rollups rebuilt from L1 alone" in derived.stdout
        # the demo's bundle and forced transaction sit where its lines say (read while running)
        _check_risk_reversal(demo_log.read_text(), manifest, ports)
        _check_forced_inclusion(demo_log.read_text(), manifest, ports)
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    demo = demo_log.read_text()
    assert "funded 20 senders, every promise kept" in demo
    assert "round 2: 20 transfers on 2 rollups, all at their promised positions" in demo
    assert "failed" not in demo, demo
    assert "pre-confirmations" in output and "devnet stopped" in output
    for pid in pids:
        assert (
            not os.path.exists(f"/proc/{pid}")
            or "Z" in open(f"/proc/{pid}/stat").read().split(") ")[1][:1]
        )
    assert not anvils_on(ports)


def _rollup(manifest, ports, index):
    entry = manifest.rollups[index]
    return entry, Web3(Web3.HTTPProvider(f"http://127.0.0.1:{ports[1 + index]}"))


def _check_risk_reversal(demo: str, manifest, ports) -> None:
    """The bundle receipt line names both legs' positions: each is a successful BundleSettlement
    call there, on A long the calls, on B short the puts, in the same slot."""
    match = re.search(
        r"\[demo\] risk reversal bundle included 0x[0-9a-f]+…: "
        r"leg 1 on rollup_a block (\d+) index (\d+) \(long 2 calls strike 2200, paid ([0-9.]+) "
        r"WETH\), leg 2 on rollup_b block (\d+) index (\d+) \(short 2 puts strike 1800, got "
        r"([0-9.]+) USDC, 3600 USDC collateral bridged rollup_a->rollup_b in the same slot\)",
        demo,
    )
    assert match, demo
    block_a, index_a, paid, block_b, index_b, got = match.groups()
    assert float(paid) > 0 and float(got) > 0
    for side, (block, index) in enumerate(((block_a, index_a), (block_b, index_b))):
        entry, w3 = _rollup(manifest, ports, side)
        tx = w3.eth.get_transaction_by_block(int(block), int(index))
        assert tx["to"] == entry.contract("BundleSettlement").address
        assert w3.eth.get_transaction_receipt(tx["hash"])["status"] == 1
    # leg B spends what leg A bridged: the relay of A's message sits right before it
    entry_b, w3_b = _rollup(manifest, ports, 1)
    relay = w3_b.eth.get_transaction_by_block(int(block_b), int(index_b) - 1)
    assert relay["to"] == entry_b.contract("CrossRollupMessenger").address


def _check_forced_inclusion(demo: str, manifest, ports) -> None:
    """The forced transaction queued on L1 is at index 0 of the rollup block the demo names."""
    queued = re.search(
        r"\[demo\] forced inclusion: queued rollup_a transfer (0x[0-9a-f]+)… on L1 "
        r"\(SharedInbox.force_include, queue index (\d+)",
        demo,
    )
    placed = re.search(
        r"\[demo\] forced inclusion: the sequencer placed it in rollup_a block (\d+) at index 0 ",
        demo,
    )
    assert queued and placed, demo
    _, w3 = _rollup(manifest, ports, 0)
    tx = w3.eth.get_transaction_by_block(int(placed.group(1)), 0)
    assert tx["hash"].to_0x_hex().startswith(queued.group(1))
    assert w3.eth.get_transaction_receipt(tx["hash"])["status"] == 1
