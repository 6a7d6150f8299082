"""web3.py, ethers and cast, unchanged, each send a transfer and a contract call through the
sequencer's endpoint, and each transaction lands where its pre-confirmation said."""

import json
import subprocess
from pathlib import Path

from ape import project
from test_sequencer_preconfs import signed_transfer
from web3 import Web3
from web3.middleware import SignAndSendRawMiddlewareBuilder

ROOT = Path(__file__).resolve().parents[2]
CAST = ROOT / "node_modules/@foundry-rs/cast-linux-amd64/bin/cast"


def _check_kept(service, tx_hash: str, w3: Web3) -> None:
    pre = service.result("/901", "seq_getPreconfirmation", [tx_hash])
    receipt = w3.eth.get_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    assert (receipt["blockNumber"], receipt["transactionIndex"]) == (
        pre["blockNumber"],
        pre["index"],
    )


def test_web3_ethers_and_cast_work_through_the_sequencer(
    start_service, rollup_a, deployer, trader, lp, keeper, fisherman
):
    with rollup_a.use():
        probe = project.ChainProbe.deploy(sender=deployer)
    service = start_service()
    url = service.url + "/901"
    engine = rollup_a.w3
    hashes = []

    # web3.py with its signing middleware: send_transaction and contract.transact
    w3 = Web3(Web3.HTTPProvider(url))
    w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(trader.private_key), layer=0)
    assert w3.eth.chain_id == 901
    tx = w3.eth.send_transaction({"from": trader.address, "to": fisherman.address, "value": 1})
    hashes.append(
        w3.eth.wait_for_transaction_receipt(tx, timeout=30, poll_latency=0.05)[
            "transactionHash"
        ].to_0x_hex()
    )
    contract = w3.eth.contract(
        address=probe.address,
        abi=[
            {
                "type": "function",
                "name": "ping",
                "inputs": [],
                "outputs": [{"type": "uint256"}],
                "stateMutability": "nonpayable",
            },
        ],
    )
    tx = contract.functions.ping().transact({"from": trader.address})
    hashes.append(
        w3.eth.wait_for_transaction_receipt(tx, timeout=30, poll_latency=0.05)[
            "transactionHash"
        ].to_0x_hex()
    )

    # ethers v6 (npm), in node
    out = subprocess.run(
        [
            "node",
            str(Path(__file__).with_name("ethers_client.mjs")),
            url,
            lp.private_key,
            fisherman.address,
            probe.address,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    ethers = json.loads(out.stdout.strip().splitlines()[-1])
    assert ethers["status"] == [1, 1]
    hashes += [ethers["transfer"], ethers["call"]]

    # cast (foundry)
    for args in (["--value", "1", fisherman.address], [probe.address, "ping()"]):
        out = subprocess.run(
            [
                str(CAST),
                "send",
                "--rpc-url",
                url,
                "--private-key",
                keeper.private_key,
                "--json",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        receipt = json.loads(out.stdout)
        assert int(receipt["status"], 16) == 1
        hashes.append(receipt["transactionHash"])

    for tx_hash in hashes:
        _check_kept(service, tx_hash, engine)
    with rollup_a.use():
        assert probe.pings() == 3


def test_a_promised_transaction_is_visible_before_its_block(start_service, rollup_a, trader, lp):
    service = start_service(slot_ms=60_000)  # no slot will come during this test
    raw = signed_transfer(trader.private_key, 901, 0, lp.address, data=b"\x01\x02", gas=30_000)
    tx_hash = service.result("/901", "eth_sendRawTransaction", [raw])
    pending = service.result("/901", "eth_getTransactionByHash", [tx_hash])
    mined_view = Web3().eth.account.recover_transaction(raw)
    assert pending["from"] == trader.address == mined_view
    assert pending["blockNumber"] is None and pending["nonce"] == "0x0"
    assert pending["to"] == lp.address and pending["input"] == "0x0102"
    assert service.result("/902", "eth_getTransactionByHash", [tx_hash]) is None
