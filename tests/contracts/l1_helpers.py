"""Helpers for the L1 contract tests: parameters, an off-chain model of the inbox's tips, and
batch/evidence builders on top of `sequencer.commitments` (the formats the service signs with).

Pure helpers plus thin calls through the ape contract objects the tests pass in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from web3 import HTTPProvider, Web3

from sequencer import commitments as c

ETHER = 10**18

# Small parameters so tests move through terms and deadlines cheaply (L1 blocks / wei).
MIN_STAKE = ETHER
TERM_BLOCKS = 4
EVIDENCE_WINDOW_BLOCKS = 20
UNBONDING_BLOCKS = 30
REPORTER_BPS = 1_000
VICTIM_BPS = 5_000
ESCAPE_BLOCKS = 10
FORCE_DELAY_BLOCKS = 6
FORCE_FEE = ETHER // 100
SLASH_AMOUNT = ETHER // 2

CHAIN_A = 901
CHAIN_B = 902
ROLLUPS = [CHAIN_A, CHAIN_B]  # open for forced inclusion from the inbox's deployment


def rand32() -> bytes:
    return os.urandom(32)


def split(amount: int) -> tuple[int, int, int]:
    """(reporter, victim, treasury) shares of a slash of `amount` wei, as the registry pays them."""
    reporter = amount * REPORTER_BPS // 10_000
    victim = amount * VICTIM_BPS // 10_000
    return reporter, victim, amount - reporter - victim


def blocks_for(chain_id: int, first: int, tx_counts: list[int]) -> list[c.BlockRecord]:
    """Blocks `first`, `first+1`, ... with random tx hashes, every tx successful."""
    out = []
    for offset, count in enumerate(tx_counts):
        txs = tuple(c.TxRecord(i, rand32(), c.STATUS_SUCCESS) for i in range(count))
        out.append(c.BlockRecord(chain_id, first + offset, rand32(), txs))
    return out


@dataclass
class RangeCommit:
    """One rollup's range in a batch, with its tree so tests can draw proofs from it."""

    commitment: c.RollupCommitment
    blocks: list[c.BlockRecord]
    leaves: list[bytes]
    tree: c.MerkleTree

    def tx_proof(self, number: int, index: int) -> tuple[tuple, list[bytes]]:
        """The (TxLeaf tuple, proof) of tx `index` of block `number`."""
        position = 0
        for block in self.blocks:
            if block.number == number:
                tx = block.txs[index]
                return (block.chain_id, number, index, tx.tx_hash, tx.status), self.tree.proof(
                    position + index
                )
            position += len(block.txs) + 1
        raise KeyError(number)

    def block_proof(self, number: int) -> tuple[tuple, list[bytes]]:
        """The (BlockLeaf tuple, proof) of block `number`."""
        position = 0
        for block in self.blocks:
            position += len(block.txs)
            if block.number == number:
                leaf = (block.chain_id, number, len(block.txs), block.block_hash)
                return leaf, self.tree.proof(position)
            position += 1
        raise KeyError(number)


def commit_range(
    blocks: list[c.BlockRecord], parent_hash: bytes, leaves: list[bytes] | None = None
) -> RangeCommit:
    leaves = leaves if leaves is not None else c.range_leaves(blocks)
    tree = c.MerkleTree(leaves)
    commitment = c.RollupCommitment(
        chain_id=blocks[0].chain_id,
        first_block=blocks[0].number,
        last_block=blocks[-1].number,
        parent_hash=parent_hash,
        last_block_hash=blocks[-1].block_hash,
        state_root=rand32(),
        tx_root=tree.root,
    )
    return RangeCommit(commitment, blocks, leaves, tree)


@dataclass
class InboxModel:
    """What the sequencer knows of the inbox: next sequence, last header hash, rollup tips."""

    sequence: int = 0
    prev_hash: bytes = c.ZERO_HASH
    tips: dict[int, tuple[int, bytes]] = field(default_factory=dict)  # chain -> (number, hash)
    forced_through: int = 0

    def next_blocks(self, chain_id: int, tx_counts: list[int]) -> list[c.BlockRecord]:
        number, _ = self.tips.get(chain_id, (0, c.ZERO_HASH))
        return blocks_for(chain_id, number + 1, tx_counts)

    def header(
        self,
        term: int,
        ranges: list[RangeCommit],
        data_hash: bytes,
        forced_through: int | None = None,
    ) -> c.BatchHeader:
        return c.BatchHeader(
            sequence=self.sequence,
            prev_hash=self.prev_hash,
            term=term,
            rollups=tuple(r.commitment for r in ranges),
            bundle_root=rand32(),
            forced_through=self.forced_through if forced_through is None else forced_through,
            data_hash=data_hash,
        )

    def range(self, blocks: list[c.BlockRecord], leaves: list[bytes] | None = None):
        _, parent = self.tips.get(blocks[0].chain_id, (0, c.ZERO_HASH))
        return commit_range(blocks, parent, leaves)

    def accepted(self, header: c.BatchHeader) -> None:
        self.sequence += 1
        self.prev_hash = header.hash()
        self.forced_through = header.forced_through
        for r in header.rollups:
            self.tips[r.chain_id] = (r.last_block, r.last_block_hash)


def payload_and_hash(size: int = 256) -> tuple[bytes, bytes]:
    from eth_utils import keccak

    payload = os.urandom(size)
    return payload, keccak(payload)


def height(chain) -> int:
    """The L1's latest block number, straight from the node (ape's cached height can lag)."""
    return chain.provider.web3.eth.block_number


def current_term(chain) -> int:
    """The term of the next block (the one a transaction sent now lands in, under automine)."""
    return (height(chain) + 1) // TERM_BLOCKS


def mine_to_term_start(chain, term: int) -> None:
    """Mine until the next transaction lands in the first block of `term`."""
    target = term * TERM_BLOCKS  # the block the next transaction should land in
    latest = height(chain)
    if latest + 1 > target:
        raise ValueError(f"already past the start of term {term}")
    if target - 1 - latest > 0:
        chain.mine(target - 1 - latest)


def mine_until(chain, block_number: int) -> None:
    """Mine until the next transaction lands in L1 block `block_number`."""
    latest = height(chain)
    if latest + 1 > block_number:
        raise ValueError(f"already past block {block_number}")
    if block_number - 1 - latest > 0:
        chain.mine(block_number - 1 - latest)


def web3_reader(chain, contract):
    """`contract` (an ape instance on ape's active chain) as a plain web3.py contract whose client
    remembers the chain id: for tests that read many views (ape's per-call overhead, and web3.py's
    validation asking the node for its chain id before every call, would dominate them)."""
    w3 = Web3(
        HTTPProvider(
            chain.provider.uri, cache_allowed_requests=True, cacheable_requests={"eth_chainId"}
        )
    )
    abi = [item.model_dump(mode="json", by_alias=True) for item in contract.contract_type.abi]
    return w3.eth.contract(address=str(contract.address), abi=abi)
