"""The sequencer service on the harness's rollups: in-process (a thread with its own event loop)
or as a `sequencer run` subprocess, with a manifest pointing at the harness's chain URLs; and
`l1_stack`, the service leading every term of a dedicated L1 with the contracts deployed."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest
import requests

from sequencer.commitments import Domain
from sequencer.config import ServiceConfig
from sequencer.devnet import L1_TEST_FLAGS, ROLLUP_FLAGS, ChainSpec, Devnet, free_port
from sequencer.manifest import ChainEntry, Manifest
from sequencer.metrics import Metrics
from sequencer.rpc import HttpFront, RpcServer
from sequencer.service import Sequencer

# The signing domain's verifying contract until the Slasher is deployed by scripts/deploy.py.
TEST_SLASHER = "0x00000000000000000000000000000000000051a5"
SLOT_MS = 100


def write_manifest(chains, path: Path) -> Path:
    entries = {
        name: ChainEntry(name, handle.role, handle.chain_id, handle.url)
        for name, handle in chains.items()
    }
    Manifest(name="test", chains=entries).save(path)
    return path


class ServiceThread:
    """A running sequencer (Sequencer + RpcServer) in a background thread."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.url = f"http://{config.host}:{config.port}"
        self.seq: Sequencer | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ids = itertools.count(1)
        self.http = requests.Session()

    def start(self) -> ServiceThread:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        assert self._ready.is_set(), "service did not start"
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        from sequencer.config import load_manifest_checked

        manifest = load_manifest_checked(self.config)
        metrics = Metrics()
        self.seq = Sequencer(
            self.config,
            manifest,
            self.config.load_signer(),
            self.config.signing_domain(manifest),
            metrics,
        )
        await self.seq.start()
        front = HttpFront(RpcServer(self.seq, self.config, metrics))
        await front.start(self.config.host, self.config.port)
        self._stop = asyncio.Event()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await front.stop()
            await self.seq.stop()

    def call_in_loop(self, fn):
        """Run `fn()` on the service's event loop thread and return its result."""
        assert self._loop is not None

        async def call():
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(10)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self.http.close()

    @property
    def domain(self) -> Domain:
        assert self.seq is not None
        return self.seq.domain

    def post(self, path: str, body) -> requests.Response:
        return self.http.post(self.url + path, json=body, timeout=30)

    def rpc(self, path: str, method: str, params=None) -> dict:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params or []}
        return self.post(path, body).json()

    def result(self, path: str, method: str, params=None):
        answer = self.rpc(path, method, params)
        assert "error" not in answer, answer
        return answer["result"]


def make_config(tmp_path: Path, manifest: Path, **overrides) -> ServiceConfig:
    values = {
        "manifest": manifest,
        "port": free_port(),
        "journal": tmp_path / "journal.sqlite",
        "slot_ms": SLOT_MS,
        "key_source": "devnet",
        "slasher_address": TEST_SLASHER,
        "l1_poll_s": 0.5,
        # the tests drive their batchers round by round (Batcher.step, no posting policy)
        "batcher_margin_l1_blocks": 0,
    }
    values.update(overrides)
    return ServiceConfig(**values)


@pytest.fixture
def manifest_path(chains, tmp_path) -> Path:
    return write_manifest(chains, tmp_path / "manifest.json")


@pytest.fixture
def start_service(chains, manifest_path, tmp_path):
    """Start the service (once per test) with config overrides; stopped after the test."""
    started: list[ServiceThread] = []

    def start(**overrides) -> ServiceThread:
        assert not any(s.running for s in started), "two sequencers would both mine the rollups"
        for name in ("rollup_a", "rollup_b"):
            chains[name].set_automine(False)
        manifest = overrides.pop("manifest", manifest_path)
        service = ServiceThread(make_config(tmp_path, manifest, **overrides))
        started.append(service)
        return service.start()

    try:
        yield start
    finally:
        for service in started:
            service.stop()


@pytest.fixture
def sequencer_service(start_service):
    return start_service()


class L1Stack(NamedTuple):
    """The service leading a dedicated L1 (`w3`, `contracts` as deployed) and two fresh rollup
    engines (`rollup_urls` by chain id), with its `manifest`."""

    service: ServiceThread
    w3: object
    contracts: dict
    manifest: Path
    rollup_urls: dict[int, str]


@contextmanager
def l1_stack(tmp_path: Path, term_blocks: int, **config) -> Iterator[L1Stack]:
    """The devnet sequencer leading every term of a dedicated L1 (it is the only one staked;
    `term_blocks`-block terms, automine, mined two terms in) with two fresh rollup engines and
    the service running with `config` overrides; no batcher runs."""
    from _chains import ApeChain
    from _l1_params import L1Params
    from deploy import deploy_l1, devnet_accounts
    from web3 import Web3

    l1_spec = ChainSpec("l1", "l1", 31337, free_port(), L1_TEST_FLAGS)
    rollups = {c: ChainSpec(f"r{c}", "rollup", c, free_port(), ROLLUP_FLAGS) for c in (901, 902)}
    with Devnet([l1_spec, *rollups.values()], log_dir=tmp_path / "chains"):
        with ApeChain("l1", "l1", 31337, l1_spec.url).use():
            contracts = deploy_l1(devnet_accounts(), L1Params(term_blocks=term_blocks))
        w3 = Web3(Web3.HTTPProvider(l1_spec.url))
        w3.provider.make_request("anvil_mine", [hex(2 * term_blocks)])  # into its terms
        manifest = tmp_path / "manifest.json"
        Manifest(
            name="l1-stack",
            chains={
                "l1": ChainEntry("l1", "l1", 31337, l1_spec.url, contracts),
                "rollup_a": ChainEntry("rollup_a", "rollup", 901, rollups[901].url),
                "rollup_b": ChainEntry("rollup_b", "rollup", 902, rollups[902].url),
            },
        ).save(manifest)
        values = {
            "manifest": manifest,
            "port": free_port(),
            "journal": tmp_path / "journal.sqlite",
            "key_source": "devnet",
            **config,
        }
        service = ServiceThread(ServiceConfig(**values)).start()
        try:
            urls = {c: spec.url for c, spec in rollups.items()}
            yield L1Stack(service, w3, contracts, manifest, urls)
        finally:
            service.stop()
