"""The devnet process manager: chains come up with the right ids and never outlive it."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sequencer.devnet import (
    ChainSpec,
    Devnet,
    PortInUseError,
    anvils_on,
    chain_status,
    default_specs,
    free_port,
    port_holder,
)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and not stat.read_text().split(") ", 1)[1].startswith("Z")


def _wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _up_command(state_file: Path, ports: list[int]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sequencer.cli",
        "devnet",
        "up",
        "--no-deploy",
        "--state-file",
        str(state_file),
        "--l1-port",
        str(ports[0]),
        "--rollup-ports",
        f"{ports[1]},{ports[2]}",
    ]


def test_chains_answer_with_their_chain_ids(tmp_path):
    specs = default_specs(free_port(), [free_port(), free_port()], [901, 902], l1_automine=True)
    with Devnet(specs, log_dir=tmp_path, state_file=tmp_path / "state.json") as net:
        state = json.loads((tmp_path / "state.json").read_text())
        assert [c["chain_id"] for c in state["chains"]] == [31337, 901, 902]
        for spec in specs:
            assert chain_status(spec.url)["chain_id"] == spec.chain_id
        pids = [c.pid for c in net.running()]
    assert not any(_pid_alive(p) for p in pids)
    assert not (tmp_path / "state.json").exists()


def test_port_in_use_is_refused_naming_the_holder(tmp_path):
    port = free_port()
    with Devnet([ChainSpec("first", "rollup", 901, port)], log_dir=tmp_path / "a") as first:
        holder = port_holder(port)
        assert holder is not None and str(first.running()[0].pid) in holder
        second = Devnet([ChainSpec("second", "rollup", 902, port)], log_dir=tmp_path / "b")
        with pytest.raises(PortInUseError, match=rf"port {port} .*in use by pid"):
            second.start()
        # The first chain is untouched by the refused start.
        assert chain_status(first.specs[0].url)["chain_id"] == 901


def test_sigkill_of_the_manager_leaves_no_anvil(tmp_path):
    state_file = tmp_path / "state.json"
    ports = [free_port(), free_port(), free_port()]
    manager = subprocess.Popen(
        _up_command(state_file, ports),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert _wait_for(state_file.exists), (
            manager.stdout.read().decode() if manager.stdout else ""
        )
        pids = [c["pid"] for c in json.loads(state_file.read_text())["chains"]]
        assert len(pids) == 3 and all(_pid_alive(p) for p in pids)
        manager.send_signal(signal.SIGKILL)
        manager.wait(10)
        assert _wait_for(lambda: not any(_pid_alive(p) for p in pids), 10.0)
        assert not anvils_on(ports)
    finally:
        if manager.poll() is None:
            manager.kill()


def test_second_devnet_on_same_ports_fails_fast_and_down_stops_the_first(tmp_path):
    state_file = tmp_path / "state.json"
    ports = [free_port(), free_port(), free_port()]
    first = subprocess.Popen(
        _up_command(state_file, ports),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait_for(state_file.exists)
        started = time.monotonic()
        second = subprocess.run(
            _up_command(tmp_path / "other.json", ports),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode != 0
        assert f"port {ports[0]}" in second.stderr and "already in use" in second.stderr
        assert time.monotonic() - started < 20
        pids = [c["pid"] for c in json.loads(state_file.read_text())["chains"]]
        down = subprocess.run(
            [
                sys.executable,
                "-m",
                "sequencer.cli",
                "devnet",
                "down",
                "--state-file",
                str(state_file),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert down.returncode == 0, down.stderr
        assert "stopped: l1, rollup_a, rollup_b" in down.stdout
        assert first.wait(15) == 0
        assert not any(_pid_alive(p) for p in pids)
    finally:
        if first.poll() is None:
            first.kill()


def test_sigterm_and_ctrl_c_stop_everything(tmp_path):
    for sig in (signal.SIGINT, signal.SIGTERM):
        state_file = tmp_path / f"state-{sig}.json"
        ports = [free_port(), free_port(), free_port()]
        manager = subprocess.Popen(
            _up_command(state_file, ports),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert _wait_for(state_file.exists)
            pids = [c["pid"] for c in json.loads(state_file.read_text())["chains"]]
            manager.send_signal(sig)
            assert manager.wait(15) == 0
            assert not any(_pid_alive(p) for p in pids)
            assert not state_file.exists()
        finally:
            if manager.poll() is None:
                manager.kill()


def test_two_fresh_rollup_engines_replay_to_identical_blocks(tmp_path):
    """What derivation relies on: same genesis, txs and timestamps give the same hashes."""
    from eth_account import Account

    from sequencer.devnet import ROLLUP_FLAGS, ROLLUP_GENESIS_TIMESTAMP, rpc_call

    key = Account.from_key(bytes([7]) * 32)
    raws = [
        "0x"
        + bytes(
            key.sign_transaction(
                {
                    "type": 2,
                    "chainId": 901,
                    "nonce": i,
                    "maxPriorityFeePerGas": 1,
                    "maxFeePerGas": 10**10,
                    "gas": 21000,
                    "to": key.address,
                    "value": 0,
                }
            ).raw_transaction
        ).hex()
        for i in range(2)
    ]
    heads = []
    for attempt in range(2):
        spec = ChainSpec(f"engine{attempt}", "rollup", 901, free_port(), ROLLUP_FLAGS)
        with Devnet([spec], log_dir=tmp_path / str(attempt)):
            # the sender is unfunded; a zero-value transfer with zero base fee is not possible,
            # so fund it first with anvil_setBalance (identical on both engines)
            rpc_call(spec.url, "anvil_setBalance", [key.address, hex(10**18)])
            for i, raw in enumerate(raws):
                rpc_call(spec.url, "eth_sendRawTransaction", [raw])
                rpc_call(spec.url, "evm_mine", [{"timestamp": ROLLUP_GENESIS_TIMESTAMP + 12 + i}])
            block = rpc_call(spec.url, "eth_getBlockByNumber", ["latest", False])
            assert int(block["number"], 16) == 2 and len(block["transactions"]) == 1
            heads.append((block["hash"], block["stateRoot"]))
            time.sleep(1.1)  # a different wall clock for the second engine's genesis
    assert heads[0] == heads[1]


def test_free_port_never_hands_out_the_same_port_twice():
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
