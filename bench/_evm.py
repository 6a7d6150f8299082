"""A throwaway anvil and a Vyper compiler for the benchmarks (plain Python, no ape).

It owns one anvil started through `sequencer.devnet.Devnet` on a free port (automine, prague),
compiles contracts with the pip-installed `vyper` from this checkout's `.venv`, and deploys them
with web3.py from anvil's well-known account 0 (DEVNET ONLY: a public key). It must never touch a
running devnet: the chain it starts is its own and dies with it.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from web3 import Web3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sequencer.devnet import L1_TEST_FLAGS, ChainSpec, Devnet, free_port  # noqa: E402

# anvil's account 0 for the mnemonic "test test ... junk". DEVNET ONLY: this key is public.
DEVNET_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
VYPER = ROOT / ".venv" / "bin" / "vyper"
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Compiled:
    abi: list
    bytecode: str


def compile_contract(relative_path: str) -> Compiled:
    """Compile one contract of this checkout (imports resolve from the project root)."""
    out = subprocess.run(
        [str(VYPER), "-f", "abi,bytecode", "-p", str(ROOT), str(ROOT / relative_path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.splitlines()
    return Compiled(abi=json.loads(out[0]), bytecode=out[1].strip())


@contextlib.contextmanager
def anvil(chain_id: int = 31337) -> Iterator[Web3]:
    """A fresh automining anvil for the duration of the block, with account 0 as default sender."""
    spec = ChainSpec("bench", "l1", chain_id, free_port(), L1_TEST_FLAGS)
    with tempfile.TemporaryDirectory(prefix="bench-anvil-") as tmp:
        with Devnet([spec], log_dir=Path(tmp)):
            w3 = Web3(Web3.HTTPProvider(spec.url, request_kwargs={"timeout": 60}))
            w3.eth.default_account = Account.from_key(DEVNET_KEY_0).address
            yield w3


def deploy(w3: Web3, compiled: Compiled, *args):
    """Deploy from the default (unlocked) account 0 and return the contract object."""
    factory = w3.eth.contract(abi=compiled.abi, bytecode=compiled.bytecode)
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact())
    if receipt["status"] != 1:
        raise RuntimeError(f"deployment failed: {receipt}")
    return w3.eth.contract(address=receipt["contractAddress"], abi=compiled.abi)


def write_results(name: str, data: dict, markdown: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    path = RESULTS / f"{name}.md"
    path.write_text(markdown)
    return path
