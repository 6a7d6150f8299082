"""Test harness: three real anvil chains for every test session.

- L1 (chain id 31337): ape's session provider, started by ape-foundry on a free port
  (`ape-config.yaml`, `foundry: host: auto`, hardfork prague, automine) and isolated per test by
  ape's own snapshots.
- rollup A (901) and rollup B (902): started here by the project's own process manager
  (`sequencer.devnet.Devnet`) on free ports with the rollup flags of DESIGN §2
  (`--no-mining --order fifo --hardfork prague`). Every test starts with automine ON on both, so
  ape deployments and calls work as usual; a test that drives blocks itself (the sequencer does)
  turns it off with `rollup_a.set_automine(False)`. Each test is isolated by evm_snapshot/evm_revert
  on both rollups, and the engines' pools are emptied afterwards.

Fixtures: `chains` (all three `ApeChain` handles by name), `l1`, `rollup_a`, `rollup_b`, and role
accounts (`deployer`, `sequencer_account`, `relayer`, `treasury`, `fisherman`, `trader`, `lp`,
`keeper`).
Use `with rollup_a.use(): ...` to make a rollup ape's active chain inside a test.
"""

from __future__ import annotations

import functools
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's `sequencer` package first
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests" / "contracts"))  # shared setup helpers (rollup_setup)

import _ape_speed  # noqa: E402
from _chains import ApeChain  # noqa: E402

from sequencer.devnet import ROLLUP_FLAGS, ChainSpec, Devnet, free_port  # noqa: E402

ROLLUP_CHAIN_IDS = {"rollup_a": 901, "rollup_b": 902}


def pytest_configure(config):
    # the same revert checks without ape's per-revert tracing, and no scan of dead nodes at the
    # end (tests/_ape_speed.py)
    _ape_speed.lean_reverts()
    _ape_speed.forget_dead_nodes()


@pytest.fixture(scope="session")
def _rollup_engines():
    specs = [
        ChainSpec(name, "rollup", chain_id, free_port(), ROLLUP_FLAGS)
        for name, chain_id in ROLLUP_CHAIN_IDS.items()
    ]
    with tempfile.TemporaryDirectory(prefix="rollup-engines-") as tmp:
        net = Devnet(specs, log_dir=Path(tmp))
        net.start()
        try:
            yield net
        finally:
            net.stop()


@pytest.fixture(scope="session")
def chains(_rollup_engines, networks) -> dict[str, ApeChain]:
    session_provider = networks.provider
    l1 = ApeChain("l1", "l1", 31337, session_provider.uri)
    l1._provider = session_provider
    handles = {"l1": l1}
    for spec in _rollup_engines.specs:
        handles[spec.name] = ApeChain(spec.name, spec.role, spec.chain_id, spec.url)
    for handle in handles.values():
        handle.check()
    return handles


@pytest.fixture(scope="session")
def l1(chains) -> ApeChain:
    return chains["l1"]


@pytest.fixture
def rollup_a(chains) -> ApeChain:
    return chains["rollup_a"]


@pytest.fixture
def rollup_b(chains) -> ApeChain:
    return chains["rollup_b"]


@pytest.fixture(autouse=True)
def _isolate_rollups(request):
    """Snapshot both rollups before each test and revert after it (only when the test uses them)."""
    if "chains" not in request.fixturenames:
        yield
        return
    handles = request.getfixturevalue("chains")
    rollups = [h for h in handles.values() if h.role == "rollup"]
    snapshots = {}
    for rollup in rollups:
        rollup.rpc("anvil_dropAllTransactions")
        rollup.set_automine(True)
        snapshots[rollup.name] = rollup.snapshot()
    try:
        yield
    finally:
        for rollup in rollups:
            rollup.set_automine(True)
            rollup.rpc("anvil_dropAllTransactions")
            rollup.revert(snapshots[rollup.name])


@pytest.fixture(scope="module")
def eth_account_kzg_setup_once():
    """eth-account (the reference the blob tests compare with) loads the KZG trusted setup, about
    2 s of CPU, for every commitment and every proof it computes: load it once per module. The
    blob, commitment, proof and signature it computes are the same, from the same setup file."""
    from eth_account.typed_transactions import base

    original = base.load_trusted_setup
    base.load_trusted_setup = functools.cache(original)
    try:
        yield
    finally:
        base.load_trusted_setup = original


# --- role accounts (anvil's well-known keys; the same on every chain) ---


@pytest.fixture(scope="session")
def deployer(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def sequencer_account(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def relayer(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def treasury(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def fisherman(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def trader(accounts):
    return accounts[5]


@pytest.fixture(scope="session")
def lp(accounts):
    return accounts[6]


@pytest.fixture(scope="session")
def keeper(accounts):
    return accounts[7]
