"""Gas of every L1 entry point (SequencerRegistry, SharedInbox, Slasher), against its target.

    PATH=$PWD/.venv/bin:$PWD/node_modules/@foundry-rs/anvil-linux-amd64/bin:$PATH \\
        .venv/bin/python bench/gas_l1.py

Starts its own L1 anvil through ape (prague, automine), deploys with `scripts/deploy.py`'s
`deploy_l1` and its devnet parameters, drives every entry point with real signatures and real
Merkle proofs, and prints a table; results go to bench/results/gas_l1.{json,md}.

"execution gas" is the receipt's gas used minus the intrinsic cost (21,000 plus 4/16 per
zero/non-zero calldata byte); blob gas is charged apart and not in either. When the receipt sits
on prague's calldata floor (EIP-7623: 21,000 + 10 per calldata token, e.g. a 32 KiB payload)
the execution gas is not visible in it and is shown as "floor". Targets:
post_batch for two rollups <= 60,000 execution gas; each slashing call <= 200,000 gas in total
with a 10-level Merkle proof.
The post_batch target is for a term whose leader is already fixed: the first batch of a term
that nobody fixed draws the leader (a new slot and a pass over the stakes); the batcher calls
`fix_leader(term)` once per term instead (its own row). Slashes are measured in a bad case: the
reporter and the victim have claimed everything before (their payout slots are written from
zero; the treasury is owed from earlier slashes) and each slash opens a new weight checkpoint.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

from ape import accounts, chain, networks, project
from eth_account import Account
from eth_account.typed_transactions import base as typed_base
from eth_account.typed_transactions.base import Blob, BlobPooledTransactionData
from hexbytes import HexBytes

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from deploy import L1Params, deploy_l1  # noqa: E402

from sequencer import commitments as c  # noqa: E402

POST_BATCH_TARGET = 60_000  # execution gas beyond calldata or blob
SLASH_TARGET = 200_000  # total gas, 10-level proof
CHAIN_A, CHAIN_B = 901, 902
RESULTS = ROOT / "bench" / "results"


def intrinsic(data: bytes) -> int:
    return 21_000 + sum(4 if b == 0 else 16 for b in data)


def calldata_floor(data: bytes) -> int:
    """EIP-7623 (prague): a transaction pays at least 21,000 + 10 per calldata token."""
    return 21_000 + 10 * sum(1 if b == 0 else 4 for b in data)


class Table:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, name: str, receipt, target: int | None = None, on: str = "execution") -> None:
        data = bytes(receipt.transaction.data)
        used = receipt.gas_used
        floored = used <= calldata_floor(data)
        # under the EIP-7623 floor the receipt does not show the execution gas
        execution = None if floored else used - intrinsic(data)
        measured = execution if on == "execution" else used
        row = {
            "entry_point": name,
            "gas_used": used,
            "calldata_bytes": len(data),
            "execution_gas": execution,
            "target": target,
            "target_on": on if target else None,
            "pass": None if target is None else (measured is not None and measured <= target),
        }
        self.rows.append(row)
        verdict = "" if target is None else ("PASS" if row["pass"] else "FAIL")
        tgt = "" if target is None else f"<= {target:,} ({on})"
        shown = "floor" if execution is None else f"{execution:,}"
        print(f"{name:<44} {used:>9,} {len(data):>7,} {shown:>9}  {tgt:<24} {verdict}")


def header_tuple(h: c.BatchHeader) -> tuple:
    return h.as_tuple()


class Driver:
    """Builds headers that continue the inbox, like the batcher does."""

    def __init__(self, inbox, registry, poster) -> None:
        self.inbox, self.registry, self.poster = inbox, registry, poster
        self.sequence = 0
        self.prev = c.ZERO_HASH
        self.tips: dict[int, tuple[int, bytes]] = {}
        self.forced_through = 0

    def blocks(self, chain_id: int, tx_counts: list[int]) -> list[c.BlockRecord]:
        number, _ = self.tips.get(chain_id, (0, c.ZERO_HASH))
        out = []
        for k, n in enumerate(tx_counts):
            txs = tuple(c.TxRecord(i, os.urandom(32), c.STATUS_SUCCESS) for i in range(n))
            out.append(c.BlockRecord(chain_id, number + 1 + k, os.urandom(32), txs))
        return out

    def commitment(self, blocks, leaves=None) -> tuple[c.RollupCommitment, c.MerkleTree]:
        leaves = leaves if leaves is not None else c.range_leaves(blocks)
        tree = c.MerkleTree(leaves)
        _, parent = self.tips.get(blocks[0].chain_id, (0, c.ZERO_HASH))
        rc = c.RollupCommitment(
            blocks[0].chain_id,
            blocks[0].number,
            blocks[-1].number,
            parent,
            blocks[-1].block_hash,
            os.urandom(32),
            tree.root,
        )
        return rc, tree

    def header(self, rollups, data_hash: bytes, forced_through: int | None = None) -> c.BatchHeader:
        forced_through = self.forced_through if forced_through is None else forced_through
        term = (chain.provider.web3.eth.block_number + 1) // self.registry.TERM_BLOCKS()
        return c.BatchHeader(
            self.sequence,
            self.prev,
            term,
            tuple(rollups),
            os.urandom(32),
            forced_through,
            data_hash,
        )

    def accepted(self, header: c.BatchHeader) -> None:
        self.sequence += 1
        self.prev = header.hash()
        self.forced_through = header.forced_through
        for r in header.rollups:
            self.tips[r.chain_id] = (r.last_block, r.last_block_hash)

    def post(self, rollups, payload: bytes = b"", forced_through: int | None = None):
        payload = payload or os.urandom(1024)
        header = self.header(rollups, c.keccak(payload), forced_through)
        receipt = self.inbox.post_batch(header_tuple(header), payload, sender=self.poster)
        self.accepted(header)
        return header, receipt


def mine_to_next_term(registry) -> None:
    term_blocks = registry.TERM_BLOCKS()
    height = chain.provider.web3.eth.block_number
    target = ((height + 1) // term_blocks + 1) * term_blocks
    chain.mine(target - 1 - height)


def blob_post(inbox, driver, sequencer_key: str):
    blob = b"".join(b"\x00" + c.keccak(i.to_bytes(4, "big"))[:31] for i in range(4096))
    versioned = bytes(
        BlobPooledTransactionData(blobs=[Blob(data=HexBytes(blob))]).versioned_hashes[0].data
    )
    rollups = [
        driver.commitment(driver.blocks(CHAIN_A, [20]))[0],
        driver.commitment(driver.blocks(CHAIN_B, [20]))[0],
    ]
    header = driver.header(rollups, versioned)
    w3 = chain.provider.web3
    account = Account.from_key(sequencer_key)
    tx = {
        "type": 3,
        "chainId": chain.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address),
        "to": str(inbox.address),
        "value": 0,
        "data": bytes(
            inbox.post_batch_blob.as_transaction(header_tuple(header), sender=account.address).data
        ),
        "gas": 500_000,
        "maxFeePerGas": 2 * w3.eth.get_block("latest")["baseFeePerGas"] + 10**9,
        "maxPriorityFeePerGas": 10**9,
        "maxFeePerBlobGas": 10**10,
    }
    signed = account.sign_transaction(tx, blobs=[blob])
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction)
    )
    assert receipt["status"] == 1, "blob batch reverted"
    driver.accepted(header)
    return receipt, tx["data"]


def main() -> None:
    typed_base.load_trusted_setup = functools.cache(typed_base.load_trusted_setup)
    with networks.ethereum.local.use_provider("foundry"):
        run()


def run() -> None:
    deployer, sequencer, treasury = (accounts.test_accounts[i] for i in (0, 1, 3))
    fisherman, trader, lp = (accounts.test_accounts[i] for i in (4, 5, 6))
    params = L1Params(sequencer_stake=20 * 10**18)
    roles = {"deployer": deployer, "sequencer": sequencer, "treasury": treasury}
    entries = deploy_l1(roles, params)
    registry = project.SequencerRegistry.at(entries["SequencerRegistry"].address)
    inbox = project.SharedInbox.at(entries["SharedInbox"].address)
    slasher = project.Slasher.at(entries["Slasher"].address)
    domain = c.Domain(chain.chain_id, str(slasher.address))
    signer = c.Signer(sequencer.private_key)
    driver = Driver(inbox, registry, sequencer)
    table = Table()
    print(f"{'entry point':<44} {'gas used':>9} {'cd bytes':>7} {'execution':>9}  target")

    # --- registry ---
    table.add("SequencerRegistry.register", registry.register(value=params.min_stake, sender=lp))
    table.add("SequencerRegistry.top_up", registry.top_up(value=10**18, sender=lp))
    table.add(
        "SequencerRegistry.set_endpoint (32-byte URL)",
        registry.set_endpoint("https://seq-a.example.org:8547/", sender=sequencer),
    )
    # lp leaves again at once, so the devnet sequencer leads every term below
    table.add("SequencerRegistry.request_exit", registry.request_exit(sender=lp))
    mine_to_next_term(registry)

    # --- inbox: batches ---
    def two_rollups(n_a=20, n_b=20):
        return [
            driver.commitment(driver.blocks(CHAIN_A, [n_a]))[0],
            driver.commitment(driver.blocks(CHAIN_B, [n_b]))[0],
        ]

    _, r = driver.post(two_rollups())
    table.add("SharedInbox.post_batch (2 rollups, first ever)", r)
    mine_to_next_term(registry)
    _, r = driver.post(two_rollups())
    table.add("SharedInbox.post_batch (2 rollups, draws the term's leader)", r)
    _, r = driver.post(two_rollups())
    table.add("SharedInbox.post_batch (2 rollups, 1 KiB payload)", r, POST_BATCH_TARGET)
    # `posted_block` packs four sequences per slot: the batch whose sequence is a multiple of
    # four writes a fresh slot (zero to non-zero), the other three one already written
    while driver.sequence % 4 != 0:
        driver.post(two_rollups())
    _, r = driver.post(two_rollups())
    table.add("SharedInbox.post_batch (2 rollups, opens a posted_block slot)", r)
    _, r = driver.post(two_rollups())
    table.add("SharedInbox.post_batch (2 rollups, shares a posted_block slot)", r)
    mine_to_next_term(registry)
    term = (chain.provider.web3.eth.block_number + 1) // params.term_blocks
    table.add(
        "SequencerRegistry.fix_leader (once per term)", registry.fix_leader(term, sender=sequencer)
    )
    _, r = driver.post(two_rollups())
    table.add("SharedInbox.post_batch (first of term, leader fixed)", r, POST_BATCH_TARGET)
    _, r = driver.post(two_rollups(), payload=os.urandom(32 * 1024))
    table.add("SharedInbox.post_batch (2 rollups, 32 KiB payload)", r)
    receipt, data = blob_post(inbox, driver, sequencer.private_key)
    blob_exec = receipt["gasUsed"] - intrinsic(data)
    table.rows.append(
        {
            "entry_point": "SharedInbox.post_batch_blob (2 rollups)",
            "gas_used": receipt["gasUsed"],
            "calldata_bytes": len(data),
            "execution_gas": blob_exec,
            "target": POST_BATCH_TARGET,
            "target_on": "execution",
            "pass": blob_exec <= POST_BATCH_TARGET,
        }
    )
    print(
        f"{'SharedInbox.post_batch_blob (2 rollups)':<44} {receipt['gasUsed']:>9,} {len(data):>7,} "
        f"{blob_exec:>9,}  {'<= 60,000 (execution)':<24} "
        f"{'PASS' if blob_exec <= POST_BATCH_TARGET else 'FAIL'}"
    )
    r = inbox.force_include(CHAIN_A, os.urandom(150), value=params.force_fee, sender=trader)
    table.add("SharedInbox.force_include (150-byte tx)", r)
    _, r = driver.post(two_rollups(), forced_through=1)
    table.add("SharedInbox.post_batch (consumes 1 forced)", r, POST_BATCH_TARGET)
    table.add("SharedInbox.sweep_fees", inbox.sweep_fees(sender=trader))
    table.add("SharedInbox.set_rollup (a new rollup)", inbox.set_rollup(903, True, sender=deployer))

    # --- slasher: a committed range of 1024 leaves (one block of 1023 txs): 10-level proofs ---
    big = driver.blocks(CHAIN_A, [1023])
    block = big[0]
    rc, tree = driver.commitment(big)
    header, _ = driver.post([rc])
    assert len(tree.proof(600)) == 10
    tx_leaf = (CHAIN_A, block.number, 600, block.txs[600].tx_hash, c.STATUS_SUCCESS)
    block_leaf = (CHAIN_A, block.number, 1023, block.block_hash)
    deadline = chain.provider.web3.eth.block_number + 200

    def worst_case() -> None:
        for who in (fisherman, trader, lp):
            if registry.claimable(who) > 0:
                registry.claim(sender=who)
        mine_to_next_term(registry)

    def slash(name: str, fn, *args) -> None:
        worst_case()
        table.add(f"Slasher.{name}", fn(*args, sender=fisherman), SLASH_TARGET, on="total")

    p = c.PreconfMsg(CHAIN_A, block.number, 600, os.urandom(32), deadline)
    slash(
        "slash_preconf_wrong_tx (10-level proof)",
        slasher.slash_preconf_wrong_tx,
        (p.chain_id, p.block_number, p.index, p.tx_hash, p.deadline),
        signer.sign(domain, p),
        header_tuple(header),
        0,
        tx_leaf,
        tree.proof(600),
    )
    p = c.PreconfMsg(CHAIN_A, block.number, 1500, os.urandom(32), deadline)
    slash(
        "slash_preconf_short_block (10-level proof)",
        slasher.slash_preconf_short_block,
        (p.chain_id, p.block_number, p.index, p.tx_hash, p.deadline),
        signer.sign(domain, p),
        header_tuple(header),
        0,
        block_leaf,
        tree.proof(1023),
    )
    legs = [(CHAIN_A, block.number, 600, os.urandom(32)), (CHAIN_B, 10**6, 0, os.urandom(32))]
    receipt_msg = c.BundleReceiptMsg(os.urandom(32), c.legs_hash(legs), lp.address, deadline)
    receipt_tuple = (receipt_msg.bundle_hash, receipt_msg.legs_hash, lp.address, deadline)
    slash(
        "slash_bundle_wrong_tx (10-level proof)",
        slasher.slash_bundle_wrong_tx,
        receipt_tuple,
        signer.sign(domain, receipt_msg),
        legs,
        0,
        header_tuple(header),
        0,
        tx_leaf,
        tree.proof(600),
    )
    legs2 = [(CHAIN_A, block.number, 1500, os.urandom(32))]
    receipt2 = c.BundleReceiptMsg(os.urandom(32), c.legs_hash(legs2), lp.address, deadline)
    slash(
        "slash_bundle_short_block (10-level proof)",
        slasher.slash_bundle_short_block,
        (receipt2.bundle_hash, receipt2.legs_hash, lp.address, deadline),
        signer.sign(domain, receipt2),
        legs2,
        0,
        header_tuple(header),
        0,
        block_leaf,
        tree.proof(1023),
    )
    one = c.BlockHeaderMsg(CHAIN_B, 77, os.urandom(32), os.urandom(32))
    two = c.BlockHeaderMsg(CHAIN_B, 77, os.urandom(32), one.parent_hash)
    slash(
        "slash_equivocation",
        slasher.slash_equivocation,
        (one.chain_id, one.block_number, one.block_hash, one.parent_hash),
        signer.sign(domain, one),
        (two.chain_id, two.block_number, two.block_hash, two.parent_hash),
        signer.sign(domain, two),
    )

    # malformed: a range of 1024 leaves holding a second leaf for one position
    def malformed_batch(extra: bytes):
        blocks = driver.blocks(CHAIN_A, [1022])
        leaves = c.range_leaves(blocks) + [extra]
        rc, tree = driver.commitment(blocks, leaves)
        hdr, _ = driver.post([rc])
        return blocks[0], hdr, tree

    fake_hash = os.urandom(32)
    number = driver.tips[CHAIN_A][0] + 1
    blk, hdr, t = malformed_batch(c.tx_leaf(CHAIN_A, number, 5, fake_hash, c.STATUS_SUCCESS))
    assert len(t.proof(5)) == 10 and len(t.proof(1023)) == 10
    slash(
        "slash_malformed_tx (two 10-level proofs)",
        slasher.slash_malformed_tx,
        header_tuple(hdr),
        0,
        (CHAIN_A, blk.number, 5, blk.txs[5].tx_hash, c.STATUS_SUCCESS),
        t.proof(5),
        (CHAIN_A, blk.number, 5, fake_hash, c.STATUS_SUCCESS),
        t.proof(1023),
    )
    fake_block_hash = os.urandom(32)
    number = driver.tips[CHAIN_A][0] + 1
    blk, hdr, t = malformed_batch(c.block_leaf(CHAIN_A, number, 3, fake_block_hash))
    slash(
        "slash_malformed_block (two 10-level proofs)",
        slasher.slash_malformed_block,
        header_tuple(hdr),
        0,
        (CHAIN_A, blk.number, 1022, blk.block_hash),
        t.proof(1022),
        (CHAIN_A, blk.number, 3, fake_block_hash),
        t.proof(1023),
    )

    # not posted: a promised block beyond the rollup's tip, once the deadline has passed
    chain.mine(max(0, deadline + 1 - chain.provider.web3.eth.block_number))
    far = driver.tips[CHAIN_A][0] + 100
    p = c.PreconfMsg(CHAIN_A, far, 0, os.urandom(32), deadline)
    slash(
        "slash_preconf_not_posted",
        slasher.slash_preconf_not_posted,
        (p.chain_id, p.block_number, p.index, p.tx_hash, p.deadline),
        signer.sign(domain, p),
        *driver.tips[CHAIN_A],
    )
    legs3 = [(CHAIN_A, far, 1, os.urandom(32))]
    receipt3 = c.BundleReceiptMsg(os.urandom(32), c.legs_hash(legs3), lp.address, deadline)
    slash(
        "slash_bundle_not_posted",
        slasher.slash_bundle_not_posted,
        (receipt3.bundle_hash, receipt3.legs_hash, lp.address, deadline),
        signer.sign(domain, receipt3),
        legs3,
        0,
        *driver.tips[CHAIN_A],
    )
    # posted late: the batch covering the promised blocks was posted after the deadline (now,
    # long after it)
    late_blocks = driver.blocks(CHAIN_A, [3, 3])
    late_rc, _ = driver.commitment(late_blocks)
    late_header, _ = driver.post([late_rc])
    assert inbox.posted_block(late_header.sequence) > deadline
    p = c.PreconfMsg(CHAIN_A, late_blocks[0].number, 0, os.urandom(32), deadline)
    slash(
        "slash_preconf_posted_late",
        slasher.slash_preconf_posted_late,
        (p.chain_id, p.block_number, p.index, p.tx_hash, p.deadline),
        signer.sign(domain, p),
        header_tuple(late_header),
        0,
    )
    legs4 = [(CHAIN_A, late_blocks[1].number, 0, os.urandom(32))]
    receipt4 = c.BundleReceiptMsg(os.urandom(32), c.legs_hash(legs4), lp.address, deadline)
    slash(
        "slash_bundle_posted_late",
        slasher.slash_bundle_posted_late,
        (receipt4.bundle_hash, receipt4.legs_hash, lp.address, deadline),
        signer.sign(domain, receipt4),
        legs4,
        0,
        header_tuple(late_header),
        0,
    )
    # censorship last: it jails the sequencer. A forced item consumed late (by a batch posted
    # after its deadline; `on_time` was the last batch before it), then one never consumed.
    inbox.force_include(CHAIN_B, os.urandom(150), value=params.force_fee, sender=trader)
    late_index = inbox.forced_count() - 1
    on_time, _ = driver.post(two_rollups())
    chain.mine(params.force_delay_blocks + 1)
    driver.post(two_rollups(), forced_through=late_index + 1)
    inbox.force_include(CHAIN_B, os.urandom(150), value=params.force_fee, sender=trader)
    index = inbox.forced_count() - 1
    chain.mine(params.force_delay_blocks + 1)
    slash("slash_censorship", slasher.slash_censorship, index)
    slash(
        "slash_censorship_late",
        slasher.slash_censorship_late,
        late_index,
        header_tuple(on_time),
    )

    # --- registry: exit ---
    chain.mine(params.unbonding_blocks)
    table.add("SequencerRegistry.withdraw", registry.withdraw(sender=lp))
    table.add("SequencerRegistry.claim", registry.claim(sender=fisherman))

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gas_l1.json").write_text(json.dumps(table.rows, indent=2))
    lines = [
        "| entry point | gas used | calldata bytes | execution gas | target | result |",
        "|---|---:|---:|---:|---|---|",
    ]
    for row in table.rows:
        target = f"<= {row['target']:,} ({row['target_on']})" if row["target"] else ""
        result = "" if row["pass"] is None else ("pass" if row["pass"] else "FAIL")
        execution = row["execution_gas"]
        shown = "calldata floor (EIP-7623)" if execution is None else f"{execution:,}"
        lines.append(
            f"| {row['entry_point']} | {row['gas_used']:,} | {row['calldata_bytes']:,} | "
            f"{shown} | {target} | {result} |"
        )
    (RESULTS / "gas_l1.md").write_text("\n".join(lines) + "\n")
    failed = [r["entry_point"] for r in table.rows if r["pass"] is False]
    print(
        f"\n{len(table.rows)} entry points, {len(failed)} over target"
        + (f": {failed}" if failed else "")
    )
    print(f"results: {RESULTS / 'gas_l1.md'}")


if __name__ == "__main__":
    main()
