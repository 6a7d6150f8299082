"""Batcher to L1 and derivation from L1, on real chains: rollup blocks are posted to the
SharedInbox by calldata and by blob, rebuilt on fresh engines from L1 alone with identical state
roots, never posted twice after a restart, and posted again after an L1 reorg drops them."""

import asyncio
import json
import tempfile
from pathlib import Path

import pytest
from _chains import ApeChain
from deploy import deploy_l1, devnet_accounts
from web3 import Web3

from sequencer import batch_codec as bc
from sequencer.batcher import Batcher, InboxView
from sequencer.commitments import Signer
from sequencer.config import DEVNET_SEQUENCER_KEY
from sequencer.derive import L1BatchSource, derive_batch
from sequencer.devnet import (
    L1_TEST_FLAGS,
    ROLLUP_FLAGS,
    ROLLUP_GENESIS_TIMESTAMP,
    ChainSpec,
    Devnet,
    free_port,
)
from sequencer.engine import EngineClient, SyncEngineClient, engine_session
from sequencer.txmgr import TxManager

# anvil's well-known account 8 sends the rollup traffic (DEVNET ONLY: a public key)
USER_KEY = "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97"


@pytest.fixture
def l1(tmp_path):
    """A dedicated L1 (prague, automine) with the registry, inbox and slasher deployed, and
    the devnet sequencer leading the current term."""
    spec = ChainSpec("l1", "l1", 31337, free_port(), L1_TEST_FLAGS)
    with Devnet([spec], log_dir=tmp_path / "l1"):
        handle = ApeChain("l1", "l1", 31337, spec.url)
        with handle.use():
            contracts = deploy_l1(devnet_accounts())
        w3 = Web3(Web3.HTTPProvider(spec.url))
        w3.provider.make_request("anvil_mine", [hex(80)])  # into a term the sequencer leads
        yield w3, contracts


def _traffic(rollup, n_blocks, start_nonce=None):
    """Transfers on a harness rollup, mined block by block as the builder does."""
    from eth_account import Account

    user = Account.from_key(USER_KEY)
    w3 = rollup.w3
    rollup.set_automine(False)
    nonce = w3.eth.get_transaction_count(user.address) if start_nonce is None else start_nonce
    head = w3.eth.get_block("latest")
    for b in range(n_blocks):
        for _ in range(3):
            tx = {
                "type": 2,
                "chainId": rollup.chain_id,
                "nonce": nonce,
                "to": user.address,
                "value": 1,
                "gas": 21000,
                "maxPriorityFeePerGas": 10**9,
                "maxFeePerGas": 10**11,
            }
            w3.eth.send_raw_transaction(user.sign_transaction(tx).raw_transaction)
            nonce += 1
        ts = max(head["timestamp"], ROLLUP_GENESIS_TIMESTAMP) + 2 * (b + 1)
        rollup.rpc("evm_mine", [{"timestamp": ts}])
    return nonce


def _batcher(w3, contracts, rollups, mode):
    inbox = InboxView(
        w3,
        (contracts["SharedInbox"].address, contracts["SharedInbox"].abi),
        (contracts["SequencerRegistry"].address, contracts["SequencerRegistry"].abi),
    )
    txmgr = TxManager(w3, Signer(DEVNET_SEQUENCER_KEY).local_account(), confirmations=1)
    return Batcher(inbox, txmgr, {r.chain_id: SyncEngineClient(r.url) for r in rollups}, mode=mode)


async def _derive_all(w3, contracts, chain_ids, tmp):
    source = L1BatchSource(w3, contracts["SharedInbox"].address, contracts["SharedInbox"].abi)
    posted = source.batches()
    specs = [ChainSpec(f"fresh{c}", "rollup", c, free_port(), ROLLUP_FLAGS) for c in chain_ids]
    with Devnet(specs, log_dir=Path(tmp)):
        async with engine_session() as session:
            engines = {s.chain_id: EngineClient(s.url, s.chain_id, session) for s in specs}
            for item in posted:
                await derive_batch(item.header, bc.decode(item.payload), engines)
            roots = {}
            for spec in specs:
                block = await engines[spec.chain_id].call("eth_getBlockByNumber", ["latest", False])
                roots[spec.chain_id] = (block["number"], block["stateRoot"])
    return posted, roots


def test_blocks_posted_by_calldata_and_blob_are_rebuilt_from_l1_alone(l1, rollup_a, rollup_b):
    w3, contracts = l1
    nonce_a = _traffic(rollup_a, 3)
    _traffic(rollup_b, 2)
    first = _batcher(w3, contracts, [rollup_a, rollup_b], "calldata").step()
    assert first is not None and first.status == 1
    _traffic(rollup_a, 2, nonce_a)
    second = _batcher(w3, contracts, [rollup_a, rollup_b], "blob").step()
    assert second is not None and second.blob_gas_used == 131072
    with tempfile.TemporaryDirectory() as tmp:
        posted, roots = asyncio.run(_derive_all(w3, contracts, [901, 902], tmp))
    assert [p.mode for p in posted] == ["calldata", "blob"]
    assert [p.header.sequence for p in posted] == [0, 1]
    for rollup in (rollup_a, rollup_b):
        head = rollup.w3.eth.get_block("latest")
        assert roots[rollup.chain_id] == (
            hex(head["number"]),
            "0x" + bytes(head["stateRoot"]).hex(),
        )


def test_a_restarted_batcher_never_posts_twice(l1, rollup_a, rollup_b):
    w3, contracts = l1
    _traffic(rollup_a, 2)
    assert _batcher(w3, contracts, [rollup_a, rollup_b], "calldata").step() is not None
    restarted = _batcher(w3, contracts, [rollup_a, rollup_b], "calldata")
    assert restarted.next_batch() is None  # L1 already holds every sealed block
    assert restarted.step() is None
    source = L1BatchSource(w3, contracts["SharedInbox"].address, contracts["SharedInbox"].abi)
    assert len(source.batches()) == 1


def test_a_batch_dropped_by_an_l1_reorg_is_posted_again(l1, rollup_a, rollup_b):
    w3, contracts = l1
    _traffic(rollup_a, 2)
    batcher = _batcher(w3, contracts, [rollup_a, rollup_b], "calldata")
    posted = batcher.step()
    inbox = w3.eth.contract(
        address=contracts["SharedInbox"].address, abi=contracts["SharedInbox"].abi
    )
    assert inbox.functions.next_sequence().call() == 1
    depth = w3.eth.block_number - posted.block_number + 1
    w3.provider.make_request("anvil_reorg", [depth, []])  # the batch's block is replaced
    assert inbox.functions.next_sequence().call() == 0
    again = batcher.step()
    assert again is not None and again.status == 1
    assert inbox.functions.next_sequence().call() == 1
    assert json.dumps(batcher.stats.last["sequence"]) == "0"


def test_no_batch_is_sent_in_the_last_blocks_of_a_term(l1, rollup_a, rollup_b):
    w3, contracts = l1
    _traffic(rollup_a, 1)
    batcher = _batcher(w3, contracts, [rollup_a, rollup_b], "calldata")
    term_blocks = batcher.inbox.registry.functions.TERM_BLOCKS().call()
    to_end = term_blocks - 1 - w3.eth.block_number % term_blocks
    if to_end >= 1:
        w3.provider.make_request("anvil_mine", [hex(to_end)])  # the head is the term's last block
    assert batcher.inbox.blocks_left_in_term() == 0
    assert batcher.step() is None  # would land in the next term, with a stale term
    w3.provider.make_request("anvil_mine", [hex(term_blocks // 2)])
    assert batcher.step() is not None
