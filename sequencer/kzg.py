"""EIP-4844 blob sidecars: the KZG commitment, proof and versioned hash of a blob.

Owns the KZG trusted setup of the process: loaded once (the setup file eth-account ships, read
with ckzg directly: about 2 s of CPU), then shared by every blob. eth-account reloads it for
every commitment and every proof, so the batcher computes a blob's sidecar here once and hands
it to the transaction manager, which signs and wraps the blob transaction itself.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from typing import Any

import ckzg
import eth_account

BLOB_BYTES = 131_072
VERSIONED_HASH_VERSION_KZG = b"\x01"
TRUSTED_SETUP_PATH = os.path.join(
    os.path.dirname(eth_account.__file__),
    "typed_transactions",
    "blob_transactions",
    "kzg_trusted_setup.txt",
)

_setup: Any = None
_lock = threading.Lock()
loads = 0  # how many times this process has loaded the trusted setup (1 at most)


def trusted_setup() -> Any:
    """The process's KZG trusted setup, loaded on first use (thread-safe)."""
    global _setup, loads
    if _setup is None:
        with _lock:
            if _setup is None:
                _setup = ckzg.load_trusted_setup(TRUSTED_SETUP_PATH, 0)
                loads += 1
    return _setup


def versioned_hash(commitment: bytes) -> bytes:
    """EIP-4844 `kzg_to_versioned_hash`: 0x01 || sha256(commitment)[1:]."""
    return VERSIONED_HASH_VERSION_KZG + hashlib.sha256(commitment).digest()[1:]


@dataclass(frozen=True)
class BlobSidecar:
    """One blob with its KZG commitment and proof (what a type-3 transaction's network form
    carries), and the versioned hash its signed body lists."""

    blob: bytes
    commitment: bytes
    proof: bytes

    @property
    def versioned_hash(self) -> bytes:
        return versioned_hash(self.commitment)


def sidecar(blob: bytes) -> BlobSidecar:
    """Compute a blob's commitment and proof (a few milliseconds with the setup loaded)."""
    if len(blob) != BLOB_BYTES:
        raise ValueError(f"a blob is {BLOB_BYTES} bytes, not {len(blob)}")
    setup = trusted_setup()
    commitment = bytes(ckzg.blob_to_kzg_commitment(blob, setup))
    proof = bytes(ckzg.compute_blob_kzg_proof(blob, commitment, setup))
    return BlobSidecar(bytes(blob), commitment, proof)
