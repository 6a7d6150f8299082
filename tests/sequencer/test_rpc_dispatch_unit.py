"""JSON-RPC dispatch (`RpcServer.call`, no HTTP) on a sequencer over in-memory engines
(tests/sequencer/fakes.py): each call gets geth's answer and code, a sent transaction's promise
can be read back, and an engine's fault is never a crash.

The wire itself (HTTP, limits, parsing) is tested in test_rpc_wire.py and, on anvil, in
tests/e2e/test_sequencer_bad_input.py and test_sequencer_clients.py.
"""

import asyncio

import pytest
from eth_utils import to_checksum_address
from fakes import ADDRESSES, KEYS, start_sequencer, transfer

from sequencer.commitments import PreconfMsg, digest, recover
from sequencer.rpc import RpcServer
from sequencer.rpc_errors import (
    ERR_INTERNAL,
    ERR_SERVER,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
)

REVERTS = to_checksum_address("0x" + "de" * 20)


def run(coro):
    return asyncio.run(coro)


def req(method, *params, rid=1):
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": list(params)}


@pytest.fixture
def rpc(tmp_path):
    """Run `body(stack, call)` on a started sequencer; `call(chain_id, method, *params)` is one
    JSON-RPC call's answer."""

    def go(body):
        async def main():
            stack = await start_sequencer(tmp_path)
            server = RpcServer(stack.seq, stack.seq.config, stack.seq.metrics)

            async def call(chain_id, method, *params):
                return await server.call(chain_id, req(method, *params))

            try:
                await body(stack, call)
            finally:
                await stack.seq.stop()

        run(main())

    return go


def test_an_unknown_method_is_method_not_found_on_every_endpoint(rpc):
    async def body(stack, call):
        for chain_id in (None, 901):
            answer = await call(chain_id, "eth_mine_me_a_block")
            assert answer["error"]["code"] == METHOD_NOT_FOUND
            assert (
                "eth_mine_me_a_block does not exist/is not available" in answer["error"]["message"]
            )
        # Ethereum methods live on a rollup's endpoint, not on /
        answer = await call(None, "eth_blockNumber")
        assert answer["error"]["code"] == METHOD_NOT_FOUND

    rpc(body)


def test_bad_parameters_are_invalid_params_and_nothing_is_promised(rpc):
    async def body(stack, call):
        cases = [
            (901, "eth_sendRawTransaction", "0xzz"),
            (901, "eth_sendRawTransaction"),
            (901, "eth_getTransactionCount", "0x1234", "pending"),
            (None, "seq_getBlockHeader", 901),
            (None, "seq_getPreconfirmation", "0x" + "00" * 31),
            (None, "seq_getBlockSummaries", 901, 10, 5),
        ]
        for chain_id, method, *params in cases:
            answer = await call(chain_id, method, *params)
            assert answer["error"]["code"] == INVALID_PARAMS, (method, params, answer)
        server = RpcServer(stack.seq, stack.seq.config, stack.seq.metrics)
        answer = await server.call(
            901, {"jsonrpc": "2.0", "id": 3, "method": "eth_chainId", "params": {}}
        )
        assert answer["error"]["code"] == INVALID_PARAMS
        answer = await server.call(901, {"jsonrpc": "2.0", "id": [1], "method": "eth_chainId"})
        assert answer["error"]["code"] == INVALID_REQUEST
        assert not stack.seq.promises

    rpc(body)


def test_a_sent_transaction_answers_its_hash_and_its_signed_promise_is_retrievable(rpc):
    async def body(stack, call):
        seq = stack.seq
        raw = transfer(KEYS[0], 901, 0)
        answer = await call(901, "eth_sendRawTransaction", "0x" + raw.hex())
        tx_hash = answer["result"]
        promise = (await call(None, "seq_getPreconfirmation", tx_hash))["result"]
        assert (promise["chainId"], promise["blockNumber"], promise["index"]) == (901, 1, 0)
        assert promise["status"] == "promised" and promise["signer"] == seq.signer.address
        msg = PreconfMsg(901, 1, 0, bytes.fromhex(tx_hash[2:]), promise["deadline"])
        signature = bytes.fromhex(promise["signature"][2:])
        assert recover(digest(seq.domain, msg), signature) == seq.signer.address
        pending = (await call(901, "eth_getTransactionCount", ADDRESSES[0], "pending"))["result"]
        assert pending == "0x1"  # the promise counts before it is mined
        assert (await call(901, "eth_getTransactionByHash", tx_hash))["result"][
            "blockNumber"
        ] is None
        assert (await call(902, "seq_getPreconfirmation", tx_hash))["result"] is None  # not B's
        await seq.builder.build_slot()
        await seq.journal.barrier()  # the header is journaled after the block is mined
        receipt = (await call(901, "eth_getTransactionReceipt", tx_hash))["result"]
        assert receipt["blockNumber"] == "0x1" and receipt["transactionIndex"] == "0x0"
        header = (await call(None, "seq_getBlockHeader", 901, 1))["result"]
        assert header["transactions"] == [tx_hash]
        again = await call(901, "eth_sendRawTransaction", "0x" + raw.hex())
        assert again["result"] == tx_hash  # sent again: the same answer, no second position
        assert stack.a.mined_txs() == [bytes.fromhex(tx_hash[2:])] and not seq.promises

    rpc(body)


def test_a_transaction_the_rules_refuse_is_a_server_error_in_geths_words(rpc):
    async def body(stack, call):
        await call(901, "eth_sendRawTransaction", "0x" + transfer(KEYS[0], 901, 0).hex())
        cases = {
            "nonce too low": transfer(KEYS[0], 901, 0, value=5),
            "invalid chain id for signer": transfer(KEYS[1], 902, 0),
            "insufficient funds for gas * price + value": transfer(KEYS[1], 901, 0, value=10**24),
        }
        for words, raw in cases.items():
            answer = await call(901, "eth_sendRawTransaction", "0x" + raw.hex())
            assert answer["error"]["code"] == ERR_SERVER
            assert answer["error"]["message"].startswith(words), answer
        assert len(stack.seq.promises) == 1

    rpc(body)


def test_engine_errors_are_answered_with_the_right_code_and_lose_nothing(rpc):
    async def body(stack, call):
        stack.a.reverting.add(REVERTS)
        answer = await call(901, "eth_call", {"to": REVERTS, "data": "0x01"}, "latest")
        assert answer["error"]["code"] == ERR_SERVER  # an EVM halt is the call's fault
        stack.a.fail["eth_getBalance"] = {"code": -32000, "message": "header not found"}
        answer = await call(901, "eth_getBalance", ADDRESSES[0], "latest")
        assert answer["error"] == {"code": -32000, "message": "header not found"}
        stack.a.down = True
        answer = await call(901, "eth_blockNumber")
        assert answer["error"]["code"] == ERR_INTERNAL  # the service's side, not the request's
        raw = transfer(KEYS[3], 901, 0)  # a sender whose account cannot be read now
        answer = await call(901, "eth_sendRawTransaction", "0x" + raw.hex())
        assert answer["error"]["code"] == ERR_INTERNAL
        assert "engine unavailable" in answer["error"]["message"]
        assert not stack.seq.promises
        stack.a.down = False
        answer = await call(901, "eth_sendRawTransaction", "0x" + raw.hex())
        assert "result" in answer  # the same transaction is taken once the engine is back

    rpc(body)


def test_a_notification_is_carried_out_and_not_answered(rpc):
    async def body(stack, call):
        server = RpcServer(stack.seq, stack.seq.config, stack.seq.metrics)
        raw = transfer(KEYS[0], 901, 0)
        note = {"jsonrpc": "2.0", "method": "eth_sendRawTransaction", "params": ["0x" + raw.hex()]}
        assert await server.call(901, note) is None
        assert len(stack.seq.promises) == 1

    rpc(body)


def test_the_chain_id_is_the_endpoints_own_even_with_the_engine_down(rpc):
    """eth_chainId and net_version come from the endpoint, not from an engine call (clients ask
    before nearly every request): right while the engine is down, and never sent to it."""

    async def body(stack, call):
        for chain_id, engine in stack.engines.items():
            engine.down = True
            engine.calls.clear()
            assert (await call(chain_id, "eth_chainId"))["result"] == hex(chain_id)
            assert (await call(chain_id, "net_version"))["result"] == str(chain_id)
            assert "eth_chainId" not in engine.calls and "net_version" not in engine.calls
            answer = await call(chain_id, "eth_chainId", "0x1")
            assert answer["error"] == {
                "code": INVALID_PARAMS,
                "message": "too many arguments, want at most 0",
            }

    rpc(body)


def test_reads_proxied_to_an_engine_are_at_most_proxied_in_flight_at_once(tmp_path):
    """A client's slow reads (heavy eth_calls) hold at most `proxied_in_flight` of an engine's
    requests at once; the others wait in order and are all answered, and another rollup's reads
    do not wait behind them."""

    async def main():
        stack = await start_sequencer(tmp_path, proxied_in_flight=3)
        server = RpcServer(stack.seq, stack.seq.config, stack.seq.metrics)
        engine = stack.engines[901]
        answer_of = engine.request
        release = asyncio.Event()
        in_flight = peak = 0

        async def slow(method, params):
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await release.wait()
            in_flight -= 1
            return await answer_of(method, params)

        engine.request = slow
        try:
            calls = [
                asyncio.create_task(
                    server.call(901, req("eth_getBalance", ADDRESSES[0], "latest", rid=i))
                )
                for i in range(10)
            ]
            for _ in range(20):
                await asyncio.sleep(0)
            assert (in_flight, peak) == (3, 3)
            other = await server.call(902, req("eth_getBalance", ADDRESSES[0], "latest"))
            assert "result" in other  # the other engine's reads pass meanwhile
            release.set()
            answers = await asyncio.gather(*calls)
            assert [a["id"] for a in answers] == list(range(10))
            assert all("result" in a for a in answers) and peak == 3
        finally:
            await stack.seq.stop()

    run(main())
