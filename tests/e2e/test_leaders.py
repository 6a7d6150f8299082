"""Two staked sequencers on one L1 with 16-block terms, each with its own rollup engines started
from the same genesis: the leader of term T builds and posts, the other follows by derivation
and forwards the writes it receives to the leader (the answer is the leader's signed
pre-confirmation); near the end of T the leader stops promising and posts everything it sealed;
in T + 1 the roles swap and the new leader builds on the derived blocks; both nodes end with the
same block hashes and state roots."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest
from _chains import ApeChain
from _l1_params import ETHER, L1Params
from click.testing import CliRunner
from deploy import deploy_l1, devnet_accounts
from eth_account import Account
from test_sequencer_preconfs import signed_transfer
from web3 import Web3

from sequencer.batcher import Batcher, InboxView
from sequencer.commitments import Signer
from sequencer.config import DEVNET_SEQUENCER_KEY, ServiceConfig
from sequencer.devnet import L1_TEST_FLAGS, ROLLUP_FLAGS, ChainSpec, Devnet, free_port
from sequencer.engine import SyncEngineClient
from sequencer.manifest import ChainEntry, Manifest
from sequencer.ops_cli import endpoint
from sequencer.ops_cli import status as status_command
from sequencer.txmgr import TxManager

_spec = importlib.util.spec_from_file_location(
    "e2e_service", Path(__file__).with_name("conftest.py")
)
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)
ServiceThread = _e2e.ServiceThread

TERM_BLOCKS = 16
HANDOFF = 4
# anvil's well-known account 9 is the second sequencer, accounts 8 and 7 send the traffic
# (DEVNET ONLY: public keys)
SECOND_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"
USER_KEY = "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97"
USER = Account.from_key(USER_KEY).address
BUNDLE_KEY = "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356"  # account 7


def _wait(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Node:
    """One sequencer: its key, its own rollup engines, its service and its batcher."""

    def __init__(self, name, key, w3, contracts, engines, tmp: Path, l1_url: str) -> None:
        self.name = name
        self.key = key
        self.address = Account.from_key(key).address
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.engines = engines  # chain id -> URL
        self.w3 = w3
        self.contracts = contracts
        self.tmp = tmp
        self.l1_url = l1_url
        self.service = None
        self.peers: dict[str, str] = {}  # leader_urls
        chains = {
            "l1": ChainEntry("l1", "l1", 31337, self.l1_url, self.contracts),
            "rollup_a": ChainEntry("rollup_a", "rollup", 901, self.engines[901]),
            "rollup_b": ChainEntry("rollup_b", "rollup", 902, self.engines[902]),
        }
        self.manifest = self.tmp / f"{self.name}.json"
        Manifest(name=self.name, chains=chains).save(self.manifest)
        self.keystore = self.tmp / f"{self.name}.keystore.json"
        if key != DEVNET_SEQUENCER_KEY:  # signs from an encrypted keystore, as off a devnet
            self.keystore.write_text(
                json.dumps(Account.encrypt(key, "pw", kdf="pbkdf2", iterations=1000))
            )

    def key_args(self) -> list[str]:
        if self.key == DEVNET_SEQUENCER_KEY:
            return ["--devnet-key"]
        return ["--keystore", str(self.keystore)]

    def publish_endpoint(self) -> None:
        """`sequencer endpoint`: the URL goes on L1 (SequencerRegistry.set_endpoint)."""
        result = CliRunner().invoke(
            endpoint,
            ["--manifest", str(self.manifest), *self.key_args(), "--url", self.url],
            env={"SEQUENCER_KEYSTORE_PASSWORD": "pw"},
        )
        assert result.exit_code == 0, result.output

    def start(self) -> None:
        settings = {
            "manifest": self.manifest,
            "port": self.port,
            "journal": self.tmp / f"{self.name}.sqlite",
            "slot_ms": 250,
            "l1_poll_s": 0.2,
            "follow_poll_s": 0.2,
            "handoff_l1_blocks": HANDOFF,
            "follow_confirmations": 1,  # a batch is replayed once one L1 block is on top of it
            "leader_urls": self.peers,
            # the test drives each batcher round by round (Batcher.step, no posting policy)
            "batcher_margin_l1_blocks": 0,
        }
        if self.key == DEVNET_SEQUENCER_KEY:
            settings["key_source"] = "devnet"
        else:
            settings.update(key_source="keystore", keystore=self.keystore, keystore_password="pw")
        self.service = ServiceThread(ServiceConfig(**settings)).start()

    def status(self) -> dict:
        return self.service.result("/", "seq_status")

    def leader(self) -> dict:
        return self.status()["leader"]

    def block(self, chain_id: int, tag) -> dict:
        number = tag if isinstance(tag, str) else hex(tag)
        return self.service.result(f"/{chain_id}", "eth_getBlockByNumber", [number, False])

    def batcher(self) -> Batcher:
        c = self.contracts
        inbox = InboxView(
            self.w3,
            (c["SharedInbox"].address, c["SharedInbox"].abi),
            (c["SequencerRegistry"].address, c["SequencerRegistry"].abi),
        )
        return Batcher(
            inbox,
            TxManager(self.w3, Signer(self.key).local_account(), confirmations=1),
            {chain_id: SyncEngineClient(url) for chain_id, url in self.engines.items()},
            mode="calldata",
            max_blocks=512,
            sequencer=SyncEngineClient(self.url + "/"),
        )


@pytest.fixture
def network(tmp_path):
    """A dedicated L1 with the registry, inbox and slasher and two staked sequencers, and four
    fresh rollup engines (901 and 902 for each node, same genesis)."""
    l1_spec = ChainSpec("l1", "l1", 31337, free_port(), L1_TEST_FLAGS)
    rollups = [
        ChainSpec(f"{node}{chain_id}", "rollup", chain_id, free_port(), ROLLUP_FLAGS)
        for node in ("a", "b")
        for chain_id in (901, 902)
    ]
    with Devnet([l1_spec, *rollups], log_dir=tmp_path / "chains"):
        handle = ApeChain("l1", "l1", 31337, l1_spec.url)
        with handle.use():
            contracts = deploy_l1(devnet_accounts(), L1Params(term_blocks=TERM_BLOCKS))
        w3 = Web3(Web3.HTTPProvider(l1_spec.url))
        registry = w3.eth.contract(
            address=contracts["SequencerRegistry"].address,
            abi=contracts["SequencerRegistry"].abi,
        )
        second = Account.from_key(SECOND_KEY).address
        registry.functions.register().transact({"from": second, "value": 2 * ETHER})
        nodes = [
            Node(
                name,
                key,
                w3,
                contracts,
                {s.chain_id: s.url for s in rollups if s.name.startswith(name)},
                tmp_path,
                l1_spec.url,
            )
            for name, key in (("a", DEVNET_SEQUENCER_KEY), ("b", SECOND_KEY))
        ]
        # node a publishes its RPC on L1; node b publishes none: a knows it from its config
        nodes[0].publish_endpoint()
        nodes[0].peers = {nodes[1].address: nodes[1].url}
        assert registry.functions.endpoint(nodes[0].address).call() == nodes[0].url
        try:
            yield w3, registry, nodes
        finally:
            for node in nodes:
                if node.service is not None:
                    node.service.stop()


def _mine_to(w3, block: int) -> None:
    if block > w3.eth.block_number:
        w3.provider.make_request("anvil_mine", [hex(block - w3.eth.block_number)])


def _a_term_that_changes_hands(w3, registry) -> int:
    """Mine into the first term (both stakes counted) whose leader does not lead the next."""
    term = w3.eth.block_number // TERM_BLOCKS + 1
    for _ in range(40):
        _mine_to(w3, term * TERM_BLOCKS + 1)  # the next term's seed (this term's start) is mined
        f = registry.functions
        if f.leader_of(term).call() != f.leader_of(term + 1).call():
            return term
        term += 1
    raise AssertionError("the lottery never changed hands in 40 terms")


def _sealed(node, chain_id, tx_hash) -> dict:
    return _wait(
        lambda: node.service.result(f"/{chain_id}", "eth_getTransactionReceipt", [tx_hash]),
        what=f"{tx_hash} sealed by {node.name}",
    )


def _post_all(node) -> int:
    """Post until L1 holds every sealed block (for a node that no longer builds)."""
    batcher, posted = node.batcher(), 0
    while batcher.step() is not None:
        posted += 1
    return posted


def _holds(node, chain_id, number, block_hash) -> bool:
    block = node.block(chain_id, number)
    return block is not None and block["hash"] == block_hash


def test_the_leader_builds_the_follower_derives_and_forwards_then_roles_swap(network):
    w3, registry, nodes = network
    term = _a_term_that_changes_hands(w3, registry)
    by_address = {n.address: n for n in nodes}
    leader = by_address[registry.functions.leader_of(term).call()]
    follower = by_address[registry.functions.leader_of(term + 1).call()]
    for node in nodes:
        node.start()
    _wait(lambda: leader.leader()["accepting"], what="the leader to take its term")
    assert follower.leader()["role"] == "follow"
    assert follower.leader()["forwardTo"] == leader.address
    assert follower.leader()["forwardUrl"] == leader.url  # from L1 or from leader_urls
    shown = CliRunner().invoke(status_command, ["--rpc", follower.url])
    assert shown.exit_code == 0, shown.output
    assert f"role     follow  term {term}" in shown.output and leader.url in shown.output

    # term T: a write sent to the follower is the leader's promise
    pre = follower.service.result(
        "/901", "seq_sendRawTransaction", [signed_transfer(USER_KEY, 901, 0, USER)]
    )
    assert pre["signer"] == leader.address
    direct = leader.service.result(
        "/902", "eth_sendRawTransaction", [signed_transfer(USER_KEY, 902, 0, USER)]
    )
    forwarded = follower.service.result(
        "/902", "eth_sendRawTransaction", [signed_transfer(USER_KEY, 902, 1, USER)]
    )
    assert leader.service.result("/902", "seq_getPreconfirmation", [forwarded])["blockNumber"] > 0
    bundle = {
        "txs": {"901": [signed_transfer(BUNDLE_KEY, 901, 0, USER)]},
        "beneficiary": USER,
        "deadline": w3.eth.block_number + 8,
    }
    bundle_hash = follower.service.result("/", "seq_sendBundle", [bundle])["bundleHash"]
    status = leader.service.result("/", "seq_getBundleStatus", [bundle_hash])
    assert status is not None and status["bundleHash"] == bundle_hash
    # the follower knows none of these promises: it asks the leader
    assert follower.service.result("/", "seq_getBundleStatus", [bundle_hash]) is not None
    assert follower.service.call_in_loop(lambda: follower.service.seq.preconf(bytes(32))) is None
    looked_up = follower.service.result("/901", "seq_getPreconfirmation", [pre["txHash"]])
    assert looked_up["signer"] == leader.address and looked_up["signature"] == pre["signature"]
    _sealed(leader, 901, pre["txHash"])
    _sealed(leader, 902, forwarded)
    assert _sealed(leader, 902, direct)["status"] == "0x1"
    assert leader.batcher().step() is not None  # (it keeps sealing empty blocks: post once)
    _mine_to(w3, w3.eth.block_number + 1)  # the confirmation the follower waits for
    # the follower replays what L1 holds: the forwarded transaction is in its own engine
    receipt = _wait(
        lambda: follower.service.result("/901", "eth_getTransactionReceipt", [pre["txHash"]]),
        what="the follower to derive the posted batch",
    )
    assert receipt["blockNumber"] == hex(pre["blockNumber"])
    assert _holds(follower, 901, pre["blockNumber"], leader.block(901, pre["blockNumber"])["hash"])

    # the end of T: the leader stops promising, seals what it promised, posts it all
    end = (term + 1) * TERM_BLOCKS - 1
    _mine_to(w3, end - HANDOFF + 1)
    _wait(lambda: leader.leader()["role"] == "drain", what="the leader to drain")
    refused = leader.service.rpc(
        "/901", "seq_sendRawTransaction", [signed_transfer(USER_KEY, 901, 1, USER)]
    )
    assert refused["error"]["code"] == -32000
    assert "takes no new transactions" in refused["error"]["message"]
    assert refused["error"]["data"]["nextLeader"] == follower.address
    # the follower returns the leader's answer unchanged
    relayed = follower.service.rpc(
        "/901", "seq_sendRawTransaction", [signed_transfer(USER_KEY, 901, 1, USER)]
    )
    assert relayed["error"] == refused["error"]
    _wait(
        lambda: all(c["pending"] == 0 for c in leader.status()["chains"].values()),
        what="every promised block sealed",
    )
    time.sleep(0.6)  # the slot loop has stopped building: the heads no longer move
    heads = {c: int(leader.block(c, "latest")["number"], 16) for c in (901, 902)}
    time.sleep(0.6)
    assert heads == {c: int(leader.block(c, "latest")["number"], 16) for c in (901, 902)}
    _post_all(leader)
    assert w3.eth.block_number <= end - 1  # posted inside the term
    finals = {c: leader.block(c, heads[c])["hash"] for c in (901, 902)}

    # term T + 1: the roles swap; the new leader builds on the derived blocks
    _mine_to(w3, end + 2)
    _wait(
        lambda: all(_holds(follower, c, heads[c], finals[c]) for c in (901, 902)),
        what="the follower to hold every block the leader sealed",
    )
    _wait(lambda: follower.leader()["accepting"], what="the new leader to take over")
    _wait(lambda: leader.leader()["role"] == "follow", what="the old leader to follow")
    second = leader.service.result(
        "/901", "seq_sendRawTransaction", [signed_transfer(USER_KEY, 901, 1, USER)]
    )
    assert second["signer"] == follower.address
    assert second["blockNumber"] > heads[901]
    third = follower.service.result(
        "/902", "seq_sendRawTransaction", [signed_transfer(USER_KEY, 902, 2, USER)]
    )
    assert third["blockNumber"] > heads[902]
    _sealed(follower, 901, second["txHash"])
    _sealed(follower, 902, third["txHash"])
    new_parent = follower.block(901, heads[901] + 1)["parentHash"]
    assert new_parent == finals[901]  # built on the last block the old leader posted
    assert follower.batcher().step() is not None
    _mine_to(w3, w3.eth.block_number + 1)
    tips = {c: int(follower.block(c, "latest")["number"], 16) for c in (901, 902)}
    # both nodes hold the same chain: same hashes and state roots at every posted tip
    source = follower.batcher().inbox
    posted_tips = source.tips()
    for chain_id in (901, 902):
        number, block_hash = posted_tips[chain_id]
        assert number <= tips[chain_id]
        _wait(lambda c=chain_id, n=number: leader.block(c, n) is not None, what="the tip")
        mine, theirs = leader.block(chain_id, number), follower.block(chain_id, number)
        assert mine["hash"] == theirs["hash"] == "0x" + block_hash.hex()
        assert mine["stateRoot"] == theirs["stateRoot"]
    assert leader.leader()["abandonedBlocks"] == 0
    # a restarted follower resumes from its engines: the derived blocks are not its to seal
    config = leader.service.config
    leader.service.stop()
    leader.service = ServiceThread(config).start()
    assert leader.status()["halted"] is None
    assert leader.leader()["role"] == "follow"
    for chain_id in (901, 902):
        number, block_hash = posted_tips[chain_id]
        assert leader.service.result("/", "seq_getBlockHeader", [chain_id, number]) is None
        assert leader.status()["chains"][str(chain_id)]["head"] >= number
    assert follower.leader()["derivedBlocks"] >= heads[901]


def test_blocks_a_leader_never_posted_are_abandoned_and_never_built_on(network):
    w3, registry, nodes = network
    term = _a_term_that_changes_hands(w3, registry)
    by_address = {n.address: n for n in nodes}
    old = by_address[registry.functions.leader_of(term).call()]
    new = by_address[registry.functions.leader_of(term + 1).call()]
    for node in nodes:
        node.start()
    _wait(lambda: old.leader()["accepting"], what="the leader to take its term")
    pre = old.service.result(
        "/901", "seq_sendRawTransaction", [signed_transfer(USER_KEY, 901, 0, USER)]
    )
    _sealed(old, 901, pre["txHash"])
    # its batcher never posts; L1 moves straight into the next term (no drain either)
    _mine_to(w3, (term + 1) * TERM_BLOCKS + 1)
    _wait(lambda: new.leader()["accepting"], what="the new leader to take over")
    # the new leader never saw those blocks: it builds on genesis, and the same transaction
    # gets a new promise from it
    again = new.service.result(
        "/901", "seq_sendRawTransaction", [signed_transfer(USER_KEY, 901, 0, USER)]
    )
    assert again["signer"] == new.address
    assert new.leader()["followedBatches"] == 0  # L1 holds nothing: it built on genesis
    _sealed(new, 901, again["txHash"])
    assert new.batcher().step() is not None
    _mine_to(w3, w3.eth.block_number + 1)
    # the old leader rolls its unposted blocks back, forgets them, and derives the posted chain
    _wait(lambda: old.leader()["abandonedBlocks"] > 0, what="the old leader to abandon")
    assert old.service.result("/", "seq_getBlockHeader", [901, pre["blockNumber"]]) is None
    number, block_hash = new.batcher().inbox.tips()[901]
    _wait(lambda: _holds(old, 901, number, "0x" + block_hash.hex()), what="the posted chain")
    forgotten = bytes.fromhex(pre["txHash"][2:])
    assert old.service.call_in_loop(lambda: old.service.seq.preconf(forgotten)) is None
    # asked of the old leader, the promise for that transaction is now the new leader's
    answer = _wait(
        lambda: old.service.result("/901", "seq_getPreconfirmation", [pre["txHash"]]),
        what="the new leader's promise",
    )
    assert answer["signer"] == new.address
    receipt = _wait(
        lambda: old.service.result("/901", "eth_getTransactionReceipt", [again["txHash"]]),
        what="the derived receipt",
    )
    assert receipt["blockNumber"] == hex(again["blockNumber"])
