"""The deployment manifest: which chains exist, where, and which contracts live on each.

`scripts/deploy.py` writes it; the service reads it and nothing else (no ape at run time).
This module only parses and writes the JSON file; it never talks to a chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_VERSION = 1


class ManifestError(ValueError):
    """The manifest file is missing, malformed, or lacks what was asked of it."""


@dataclass(frozen=True)
class ContractEntry:
    name: str
    address: str
    abi: list[dict[str, Any]]


@dataclass(frozen=True)
class ChainEntry:
    name: str  # "l1", "rollup_a", "rollup_b"
    role: str  # "l1" or "rollup"
    chain_id: int
    rpc_url: str
    contracts: dict[str, ContractEntry] = field(default_factory=dict)

    def contract(self, name: str) -> ContractEntry:
        try:
            return self.contracts[name]
        except KeyError:
            raise ManifestError(f"no contract {name!r} on chain {self.name}") from None


@dataclass(frozen=True)
class Manifest:
    name: str
    chains: dict[str, ChainEntry]
    accounts: dict[str, str] = field(default_factory=dict)  # role -> address
    version: int = MANIFEST_VERSION

    @property
    def l1(self) -> ChainEntry:
        return self.chains["l1"]

    @property
    def rollups(self) -> list[ChainEntry]:
        return sorted((c for c in self.chains.values() if c.role == "rollup"), key=lambda c: c.name)

    def by_chain_id(self, chain_id: int) -> ChainEntry:
        for chain in self.chains.values():
            if chain.chain_id == chain_id:
                return chain
        raise ManifestError(f"no chain with id {chain_id} in manifest {self.name!r}")

    # --- (de)serialisation ---

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "name": self.name,
            "accounts": dict(self.accounts),
            "chains": {
                name: {
                    "role": chain.role,
                    "chain_id": chain.chain_id,
                    "rpc_url": chain.rpc_url,
                    "contracts": {
                        c.name: {"address": c.address, "abi": c.abi}
                        for c in chain.contracts.values()
                    },
                }
                for name, chain in self.chains.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        try:
            if data.get("version") != MANIFEST_VERSION:
                raise ManifestError(
                    f"manifest version {data.get('version')!r}, expected {MANIFEST_VERSION}"
                )
            chains = {
                name: ChainEntry(
                    name=name,
                    role=raw["role"],
                    chain_id=int(raw["chain_id"]),
                    rpc_url=raw["rpc_url"],
                    contracts={
                        cname: ContractEntry(cname, c["address"], c["abi"])
                        for cname, c in raw.get("contracts", {}).items()
                    },
                )
                for name, raw in data["chains"].items()
            }
            return cls(name=data["name"], chains=chains, accounts=data.get("accounts", {}))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ManifestError(f"malformed manifest: missing or bad field {exc}") from exc

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        tmp.replace(path)


def load_manifest(path: str | Path) -> Manifest:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(
            f"manifest {path} not found: run `make devnet` or scripts/deploy.py"
        ) from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"manifest {path} is not JSON: {exc}") from exc
    return Manifest.from_json(data)
