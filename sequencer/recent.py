"""Recently seen transaction hashes: the service's fast, bounded "already known" check.

Owns the in-memory set of the hashes of transactions the service promised, placed (forced
transactions, bundle legs) or sealed lately. A hash stays while its block is unsealed and for
`keep_blocks` blocks of its rollup after its block is sealed; then it is forgotten, and the
journal (which keeps every transaction) answers for it. Pure: it never reads the journal or a
chain itself.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable


class RecentHashes:
    """A set of transaction hashes that forgets those sealed more than `keep_blocks` ago."""

    def __init__(self, keep_blocks: int) -> None:
        if keep_blocks < 1:
            raise ValueError("keep_blocks must be at least 1")
        self.keep_blocks = keep_blocks
        self._hashes: set[bytes] = set()
        self._sealed: dict[int, deque[tuple[int, tuple[bytes, ...]]]] = {}

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._hashes

    def __len__(self) -> int:
        return len(self._hashes)

    def add(self, tx_hash: bytes) -> None:
        """A transaction promised or placed (kept at least until `keep_blocks` after its block
        is sealed)."""
        self._hashes.add(tx_hash)

    def sealed(self, chain_id: int, number: int, tx_hashes: Iterable[bytes]) -> None:
        """Block `number` of `chain_id` is sealed with these transactions: they are forgotten
        `keep_blocks` blocks later (with every older sealed block of that rollup)."""
        blocks = self._sealed.setdefault(chain_id, deque())
        blocks.append((number, tuple(tx_hashes)))
        while blocks and blocks[0][0] <= number - self.keep_blocks:
            _, old = blocks.popleft()
            self._hashes.difference_update(old)

    def load(self, rows: Iterable[tuple[int, int, bytes]], last_sealed: dict[int, int]) -> None:
        """On start: (chain id, block number, tx hash) of the journal's unsealed and recently
        sealed transactions, in block order; `last_sealed` is each rollup's last sealed block."""
        blocks: dict[tuple[int, int], list[bytes]] = {}
        for chain_id, number, tx_hash in rows:
            self._hashes.add(tx_hash)
            if number <= last_sealed.get(chain_id, -1):
                blocks.setdefault((chain_id, number), []).append(tx_hash)
        for (chain_id, number), hashes in sorted(blocks.items()):
            self.sealed(chain_id, number, hashes)
