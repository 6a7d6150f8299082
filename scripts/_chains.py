"""ape-side handles for the devnet's chains, shared by scripts/deploy.py and the test harness.

ape has one active provider at a time. `ApeChain.use()` makes one chain active (connecting by URL
to an anvil that someone else started), checks that the node answers with the expected chain id
(a stale anvil on the port is never silently reused), and clears ape's chain-id cache, which is
keyed "local:foundry" for every anvil and would otherwise report the first chain's id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ape import chain as ape_chain
from ape import networks
from ape.api import ProviderAPI
from web3 import Web3


class ChainMismatchError(RuntimeError):
    """The node at a chain's URL is not the chain we expected."""


def _clear_chain_id_cache() -> None:
    ape_chain._chain_id_cache.clear()


_CACHE_NAMES = ("contract_types", "proxy_infos", "contract_creations", "blueprints")


def _swap_contract_caches(memories: dict[str, dict]) -> dict[str, dict]:
    """Install `memories` as ape's in-memory contract caches; return the ones they replace.

    ape keys its contract caches by network ("ethereum:local"), which every anvil here shares,
    and the same deployer nonce gives the same address on the L1 and on each rollup: without one
    cache per chain, ape would decode a revert or a log of one chain with another chain's ABI.
    """
    previous = {}
    for name in _CACHE_NAMES:
        cache = getattr(ape_chain.contracts, name)
        previous[name] = cache.memory
        cache.memory = memories.get(name, {})
    return previous


@dataclass
class ApeChain:
    """One chain of the devnet, as ape and web3.py see it."""

    name: str
    role: str
    chain_id: int
    url: str
    block_time: int | None = None  # interval mining (the devnet L1), restored after automining
    _provider: ProviderAPI | None = field(default=None, init=False, repr=False)
    _w3: Web3 | None = field(default=None, init=False, repr=False)
    _base_fees: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _contract_caches: dict[str, dict] = field(default_factory=dict, init=False, repr=False)

    @property
    def w3(self) -> Web3:
        """A plain web3.py client for this chain (no ape involved)."""
        if self._w3 is None:
            self._w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 60}))
        return self._w3

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        """A raw JSON-RPC call to this chain's node; raises on an error answer."""
        answer = self.w3.provider.make_request(method, params or [])
        if "error" in answer:
            raise RuntimeError(f"{method} on {self.name}: {answer['error']}")
        return answer["result"]

    def check(self) -> None:
        actual = int(self.rpc("eth_chainId"), 16)
        if actual != self.chain_id:
            raise ChainMismatchError(
                f"{self.name} at {self.url} answers chain id {actual}, expected {self.chain_id}"
            )

    @contextlib.contextmanager
    def use(self) -> Iterator[ProviderAPI]:
        """Make this chain ape's active provider for the duration of the block."""
        self.check()
        if self._provider is None:
            context = networks.ethereum.local.use_provider(
                "foundry", provider_settings={"host": self.url}, disconnect_on_exit=False
            )
        else:
            context = networks.ethereum.local.use_provider(self._provider)
        _clear_chain_id_cache()
        with context as provider:
            self._provider = provider
            _clear_chain_id_cache()
            if ape_chain.chain_id != self.chain_id:
                raise ChainMismatchError(
                    f"ape reports chain id {ape_chain.chain_id} for {self.name}, "
                    f"expected {self.chain_id}"
                )
            outer = _swap_contract_caches(self._contract_caches)
            try:
                yield provider
            finally:
                self._contract_caches = _swap_contract_caches(outer)
                _clear_chain_id_cache()
        _clear_chain_id_cache()

    # --- mining control (rollup engines run with --no-mining) ---

    def automine(self) -> bool:
        return bool(self.rpc("anvil_getAutomine"))

    def set_automine(self, enabled: bool) -> None:
        self.rpc("evm_setAutomine", [enabled])

    @contextlib.contextmanager
    def automining(self) -> Iterator[None]:
        """Mine each transaction as it arrives for the duration of the block (e.g. to deploy)."""
        before = self.automine()
        self.set_automine(True)
        try:
            yield
        finally:
            self.set_automine(before)
            if self.block_time:
                # evm_setAutomine(false) also stops interval mining: switch it back on.
                self.rpc("evm_setIntervalMining", [self.block_time])

    def snapshot(self) -> str:
        """evm_snapshot, remembering the next block's base fee.

        anvil does not revert its base-fee tracker with evm_revert: without this, the first block
        mined after a revert gets the base fee that followed the reverted blocks, and its hash
        differs from the same block on a fresh engine.
        """
        pending = self.rpc("eth_getBlockByNumber", ["pending", False])
        snapshot_id = self.rpc("evm_snapshot")
        self._base_fees[snapshot_id] = pending["baseFeePerGas"]
        return snapshot_id

    def revert(self, snapshot_id: str) -> None:
        if not self.rpc("evm_revert", [snapshot_id]):
            raise RuntimeError(f"evm_revert({snapshot_id}) failed on {self.name}")
        base_fee = self._base_fees.pop(snapshot_id, None)
        if base_fee is not None:
            self.rpc("anvil_setNextBlockBaseFeePerGas", [base_fee])


def chains_from_state(state: dict) -> list[ApeChain]:
    """Handles for the chains recorded in a `sequencer devnet` state file."""
    return [
        ApeChain(
            name=c["name"],
            role=c["role"],
            chain_id=c["chain_id"],
            url=c["url"],
            block_time=_block_time(c.get("flags", [])),
        )
        for c in state["chains"]
    ]


def _block_time(flags: list[str]) -> int | None:
    if "--block-time" in flags:
        return int(flags[flags.index("--block-time") + 1])
    return None
