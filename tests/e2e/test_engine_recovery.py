"""A rollup engine that dies comes back without breaking a promise: a fresh engine (same genesis)
is rebuilt from the journal's sealed blocks, every promise lands at its promised position, and
every block keeps the one header signed for it (no equivocation). Both while the service runs
(the slot finds a fresh engine and rebuilds it) and at a restart with a fresh engine."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import pytest
from test_sequencer_preconfs import signed_transfer, wait_sealed

from sequencer.devnet import ROLLUP_FLAGS, ChainSpec, Devnet, free_port
from sequencer.manifest import ChainEntry, Manifest

SENDERS = (4, 5, 6, 7)


@pytest.fixture
def own_engine(tmp_path):
    """Rollup A (chain 901) on an anvil of this test's own, which the test may kill and start
    again fresh on the same port."""
    spec = ChainSpec("rollup_a", "rollup", 901, free_port(), ROLLUP_FLAGS)
    nets: list[Devnet] = []

    def start() -> Devnet:
        net = Devnet([spec], log_dir=tmp_path / f"engine-{len(nets)}")
        net.start()
        nets.append(net)
        return net

    def kill() -> None:
        net = nets[-1]
        for chain in net.running():
            os.kill(chain.pid, signal.SIGKILL)
        net.stop()

    start()
    yield spec, start, kill
    for net in nets:
        net.stop()


def _manifest(chains, spec, tmp_path):
    path = tmp_path / "manifest-own-engine.json"
    l1 = chains["l1"]
    Manifest(
        name="test",
        chains={
            "l1": ChainEntry("l1", "l1", l1.chain_id, l1.url),
            "rollup_a": ChainEntry("rollup_a", "rollup", 901, spec.url),
        },
    ).save(path)
    return path


def _promise(service, accounts, keeper, nonces):
    return [
        service.result(
            "/901",
            "seq_sendRawTransaction",
            [signed_transfer(accounts[i].private_key, 901, n, keeper.address)],
        )
        for n in nonces
        for i in SENDERS
    ]


def _headers(service, numbers):
    return {n: service.result("/901", "seq_getBlockHeader", [n]) for n in numbers}


def _wait_engine(w3, number, timeout=60.0):
    deadline = time.monotonic() + timeout
    while w3.eth.block_number < number:
        assert time.monotonic() < deadline, f"the engine never got block {number} back"
        time.sleep(0.05)


def _check_kept(service, spec, promises, headers_before):
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(spec.url))
    for p in promises:
        assert wait_sealed(service, 901, p["txHash"], timeout=60)["status"] == "success"
        _wait_engine(w3, p["blockNumber"])  # a sealed block the fresh engine gets back
        mined = w3.eth.get_transaction_receipt(p["txHash"])
        assert (mined["blockNumber"], mined["transactionIndex"]) == (p["blockNumber"], p["index"])
    for number, before in headers_before.items():
        after = service.result("/901", "seq_getBlockHeader", [number])
        assert after == before  # the same header, the same signature
        assert before["blockHash"] == w3.eth.get_block(number)["hash"].to_0x_hex()
    for p in promises:
        header = service.result("/901", "seq_getBlockHeader", [p["blockNumber"]])
        assert header["blockHash"] == w3.eth.get_block(p["blockNumber"])["hash"].to_0x_hex()


def _one_header_per_block(journal) -> None:
    db = sqlite3.connect(journal)
    try:
        mismatched = db.execute(
            "SELECT COUNT(*) FROM blocks b JOIN signed_headers s ON s.chain_id = b.chain_id"
            " AND s.number = b.number WHERE s.block_hash != b.block_hash"
        ).fetchone()[0]
    finally:
        db.close()
    assert mismatched == 0


def test_an_engine_killed_mid_run_is_rebuilt_and_every_promise_kept(
    start_service, chains, own_engine, tmp_path, accounts, keeper
):
    spec, start_engine, kill_engine = own_engine
    service = start_service(manifest=_manifest(chains, spec, tmp_path), slot_ms=200)
    sealed = _promise(service, accounts, keeper, range(3))
    for p in sealed:
        wait_sealed(service, 901, p["txHash"])
    before = _headers(service, sorted({p["blockNumber"] for p in sealed}))
    in_flight = _promise(service, accounts, keeper, range(3, 5))
    kill_engine()
    start_engine()  # a fresh engine: genesis only
    after = _promise(service, accounts, keeper, range(5, 6))  # still promising meanwhile
    _check_kept(service, spec, sealed + in_flight + after, before)
    status = service.result("/", "seq_status")
    assert status["halted"] is None
    more = _promise(service, accounts, keeper, range(6, 7))
    _check_kept(service, spec, more, {})
    _one_header_per_block(service.config.journal)


def test_a_restart_with_a_fresh_engine_rebuilds_it_and_keeps_every_promise(
    start_service, chains, own_engine, tmp_path, accounts, keeper
):
    spec, start_engine, kill_engine = own_engine
    manifest = _manifest(chains, spec, tmp_path)
    service = start_service(manifest=manifest, slot_ms=200)
    sealed = _promise(service, accounts, keeper, range(3))
    for p in sealed:
        wait_sealed(service, 901, p["txHash"])
    before = _headers(service, sorted({p["blockNumber"] for p in sealed}))
    service.stop()
    slow = start_service(manifest=manifest, slot_ms=60_000)  # promises, seals nothing more
    while slow.result("/", "seq_status")["slots"] < 1:  # its first slot is built at start
        time.sleep(0.05)
    unsealed = _promise(slow, accounts, keeper, range(3, 5))
    slow.stop()
    kill_engine()
    start_engine()
    service = start_service(manifest=manifest, slot_ms=200)
    _check_kept(service, spec, sealed + unsealed, before)
    _one_header_per_block(service.config.journal)


def test_blocks_the_journal_never_sealed_come_back_from_l1(tmp_path, accounts, keeper):
    """On a devnet the engine holds blocks the service never sealed (the deployment's, mined
    before it ran); the batcher posts them with the rest. A fresh engine gets those from L1's
    batches and the service's own blocks from the journal, each with its signed header."""
    import importlib.util
    from pathlib import Path

    from _chains import ApeChain
    from _l1_params import L1Params
    from deploy import deploy_l1, devnet_accounts
    from web3 import Web3

    from sequencer.batcher import Batcher, InboxView
    from sequencer.commitments import Signer
    from sequencer.config import DEVNET_SEQUENCER_KEY, ServiceConfig
    from sequencer.devnet import L1_TEST_FLAGS, ROLLUP_GENESIS_TIMESTAMP
    from sequencer.engine import SyncEngineClient
    from sequencer.txmgr import TxManager

    spec_mod = importlib.util.spec_from_file_location(
        "e2e_service_rec", Path(__file__).with_name("conftest.py")
    )
    e2e = importlib.util.module_from_spec(spec_mod)
    spec_mod.loader.exec_module(e2e)

    l1_spec = ChainSpec("l1", "l1", 31337, free_port(), L1_TEST_FLAGS)
    rollup = ChainSpec("rollup_a", "rollup", 901, free_port(), ROLLUP_FLAGS)
    with Devnet([l1_spec], log_dir=tmp_path / "l1"):
        handle = ApeChain("l1", "l1", 31337, l1_spec.url)
        with handle.use():
            contracts = deploy_l1(devnet_accounts(), L1Params(term_blocks=16))
        w3 = Web3(Web3.HTTPProvider(l1_spec.url))
        w3.provider.make_request("anvil_mine", [hex(32)])  # into the sequencer's terms
        engine = Devnet([rollup], log_dir=tmp_path / "engine-0")
        engine.start()
        try:
            r2 = Web3(Web3.HTTPProvider(rollup.url))
            deployer = accounts[8]
            for b in range(3):  # "the deployment": blocks mined before the service runs
                r2.eth.send_raw_transaction(
                    signed_transfer(deployer.private_key, 901, b, keeper.address)
                )
                r2.provider.make_request(
                    "evm_mine", [{"timestamp": ROLLUP_GENESIS_TIMESTAMP + 2 * (b + 1)}]
                )
            deployed = {n: r2.eth.get_block(n)["hash"] for n in (1, 2, 3)}
            manifest = tmp_path / "manifest.json"
            Manifest(
                name="rec",
                chains={
                    "l1": ChainEntry("l1", "l1", 31337, l1_spec.url, contracts),
                    "rollup_a": ChainEntry("rollup_a", "rollup", 901, rollup.url),
                },
            ).save(manifest)
            config = ServiceConfig(
                manifest=manifest,
                port=free_port(),
                journal=tmp_path / "journal.sqlite",
                slot_ms=200,
                l1_poll_s=0.1,
                follow_poll_s=0.2,
                key_source="devnet",
                handoff_l1_blocks=4,
            )

            def started():
                service = e2e.ServiceThread(config).start()
                deadline = time.monotonic() + 30
                while not service.result("/", "seq_status")["leader"]["accepting"]:
                    assert time.monotonic() < deadline, "the sequencer never led"
                    time.sleep(0.05)
                return service

            service = started()
            posted = _promise(service, accounts, keeper, range(2))
            for p in posted:
                wait_sealed(service, 901, p["txHash"])
            batcher = Batcher(
                InboxView(
                    w3,
                    (contracts["SharedInbox"].address, contracts["SharedInbox"].abi),
                    (contracts["SequencerRegistry"].address, contracts["SequencerRegistry"].abi),
                ),
                TxManager(w3, Signer(DEVNET_SEQUENCER_KEY).local_account(), confirmations=1),
                {901: SyncEngineClient(rollup.url)},
                mode="calldata",
                max_blocks=512,
                sequencer=SyncEngineClient(service.url + "/"),
            )
            assert batcher.step() is not None  # the deployment's blocks and the first promises
            unposted = _promise(service, accounts, keeper, range(2, 4))
            for p in unposted:
                wait_sealed(service, 901, p["txHash"])
            numbers = sorted({p["blockNumber"] for p in posted + unposted})
            before = _headers(service, numbers)
            service.stop()
            for chain in engine.running():
                os.kill(chain.pid, signal.SIGKILL)
            engine.stop()
            engine = Devnet([rollup], log_dir=tmp_path / "engine-1")
            engine.start()
            service = started()
            try:
                _check_kept(service, rollup, posted + unposted, before)
                for n, block_hash in deployed.items():
                    assert r2.eth.get_block(n)["hash"] == block_hash
                _one_header_per_block(config.journal)
            finally:
                service.stop()
        finally:
            engine.stop()
