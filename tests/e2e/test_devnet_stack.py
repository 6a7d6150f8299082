"""`make devnet` in one test: chains, deployment, sequencer, batcher, demo and status view run
together, every demo promise is kept, and nothing outlives the devnet."""

import json
import os
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
        # Move the L1 into the next term, which the staked sequencer leads, so the batcher posts;
        # then rebuild both rollups from L1 alone while the devnet runs.
        l1 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{ports[0]}"))
        l1.provider.make_request("anvil_mine", [hex(64)])
        manifest = load_manifest(tmp_path / "devnet.json")
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
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    demo = demo_log.read_text()
    assert "funded 20 senders, every promise kept" in demo
    assert "round 2: 20 transfers on 2 rollups, all at their promised positions" in demo
    assert "pre-confirmations" in output and "devnet stopped" in output
    for pid in pids:
        assert (
            not os.path.exists(f"/proc/{pid}")
            or "Z" in open(f"/proc/{pid}/stat").read().split(") ")[1][:1]
        )
    assert not anvils_on(ports)
