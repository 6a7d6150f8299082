"""Leader roles on an in-memory L1 registry and engines (tests/sequencer/fakes.py): a follower
builds nothing and forwards writes to the leader; a leader whose term ends refuses new
transactions, seals what it promised, then stops building.

The same with real registries and several sequencers on anvil: tests/e2e/test_leaders.py.
"""

import asyncio

import pytest
from eth_utils import keccak
from fakes import (
    ADDRESSES,
    INBOX,
    KEYS,
    REGISTRY,
    FakeL1,
    FakeLeaderRpc,
    FakeRegistry,
    NoBatches,
    start_sequencer,
    transfer,
)

from sequencer.leader import LeaderNode, Role
from sequencer.rpc import RpcServer
from sequencer.rpc_errors import ERR_SERVER, RpcError

OTHER = ADDRESSES[7]
TERM = 16


def run(coro):
    return asyncio.run(coro)


async def _node(tmp_path, head: int, leaders: dict[int, str], me_leads: bool = True):
    """A started sequencer with leader awareness; `leaders` by term (None: the node itself)."""
    l1 = FakeL1(head=head)
    registry = FakeRegistry(l1, TERM)
    stack = await start_sequencer(tmp_path, l1=l1, follow_poll_s=0.001)
    me = stack.seq.signer.address
    registry.leaders = {t: (me if a is None else a) for t, a in leaders.items()}
    node = LeaderNode(stack.seq, REGISTRY, (INBOX, []), source=NoBatches())
    stack.seq.leader = node
    await node.start()
    return stack, registry, node


def _rpc(stack) -> RpcServer:
    return RpcServer(stack.seq, stack.seq.config, stack.seq.metrics)


def _send(raw: bytes, method="eth_sendRawTransaction") -> dict:
    return {"jsonrpc": "2.0", "id": 7, "method": method, "params": ["0x" + raw.hex()]}


def test_a_follower_builds_nothing_and_forwards_writes_to_the_leader(tmp_path):
    async def go():
        leader = await FakeLeaderRpc().start()
        stack, registry, node = await _node(tmp_path, 5 * TERM + 3, {5: OTHER, 6: OTHER})
        seq = stack.seq
        try:
            registry.endpoints[OTHER] = leader.url
            await node.refresh()
            assert node.role is Role.FOLLOW and not node.accepting
            raw = transfer(KEYS[0], 901, 0)
            answer = await _rpc(stack).call(901, _send(raw))
            assert answer["result"] == "0x" + keccak(raw).hex()  # the leader's answer
            path, body, forwarded_by = leader.received[-1]
            assert (path, body["method"], forwarded_by) == (
                "/901",
                "eth_sendRawTransaction",
                seq.signer.address,
            )
            assert body["params"] == ["0x" + raw.hex()]
            assert answer == {"jsonrpc": "2.0", "id": 7, "result": answer["result"]}
            assert not seq.promises and not seq.chains[901].plan.blocks
            # the leader's error comes back with its code and words
            refused = await _rpc(stack).call(None, _send(raw, "seq_sendRawTransaction"))
            assert refused["error"] == {"code": ERR_SERVER, "message": "nonce too low"}
            assert await node._may_build() is False  # the slot gate: no block is built
            assert "evm_mine" not in stack.a.calls and stack.a.head.number == 0
        finally:
            await seq.stop()
            await leader.stop()

    run(go())


def test_a_follower_with_no_known_leader_endpoint_refuses_with_the_reason(tmp_path):
    async def go():
        stack, _, node = await _node(tmp_path, 5 * TERM + 3, {5: OTHER})
        try:
            assert node.role is Role.FOLLOW
            answer = await _rpc(stack).call(901, _send(transfer(KEYS[0], 901, 0)))
            assert answer["error"]["code"] == ERR_SERVER
            assert "no RPC endpoint known for " + OTHER in answer["error"]["message"]
            assert not stack.seq.promises
        finally:
            await stack.seq.stop()

    run(go())


def test_a_jailed_leader_does_not_lead(tmp_path):
    async def go():
        stack, registry, node = await _node(tmp_path, 5 * TERM + 3, {5: None, 6: None})
        try:
            assert node.role is Role.LEAD
            registry.jailed.add(stack.seq.signer.address)
            await node.refresh()
            assert node.role is Role.FOLLOW
            with pytest.raises(RpcError, match="does not lead the current term"):
                await stack.seq.send_raw(901, transfer(KEYS[0], 901, 0))
        finally:
            await stack.seq.stop()

    run(go())


def test_a_leader_whose_term_ends_refuses_new_writes_seals_its_promises_then_stops(tmp_path):
    async def go():
        start = 7 * TERM
        stack, registry, node = await _node(tmp_path, start, {7: None, 8: None})
        seq = stack.seq
        try:
            assert node.role is Role.LEAD
            assert await node._may_build() is True  # takes over: ready to promise
            promised = await seq.send_raw(901, transfer(KEYS[0], 901, 0))
            # the next term goes to another sequencer and this one nears its end
            registry.leaders[8] = OTHER
            stack.l1.head = start + TERM - 3
            await node.refresh()
            assert node.role is Role.DRAIN
            with pytest.raises(RpcError) as refused:
                await seq.send_raw(901, transfer(KEYS[1], 901, 0))
            assert refused.value.code == ERR_SERVER
            assert refused.value.data == {"retryAtL1Block": start + TERM, "nextLeader": OTHER}
            answer = await _rpc(stack).call(901, _send(transfer(KEYS[1], 901, 0)))
            assert answer["error"]["code"] == ERR_SERVER  # not forwarded while draining either
            assert await node._may_build() is True  # its promise is not sealed yet
            await seq.builder.build_slot()
            assert stack.a.blocks[1].txs == [promised.tx_hash]
            assert await node._may_build() is False  # nothing left: no more blocks
            assert len(seq.promises) == 0
        finally:
            await seq.stop()

    run(go())
