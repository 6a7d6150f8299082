// ethers v6, unchanged, pointed at the sequencer: one transfer and one contract call.
// usage: node ethers_client.mjs <rpc url> <private key> <to> <probe address>
import { Contract, JsonRpcProvider, Wallet } from "ethers";

const [url, key, to, probe] = process.argv.slice(2);
const provider = new JsonRpcProvider(url);
provider.pollingInterval = 100;
const wallet = new Wallet(key, provider);
const transfer = await wallet.sendTransaction({ to, value: 1n });
const r1 = await transfer.wait();
const contract = new Contract(probe, ["function ping() returns (uint256)"], wallet);
const call = await contract.ping();
const r2 = await call.wait();
console.log(JSON.stringify({ transfer: r1.hash, call: r2.hash, status: [r1.status, r2.status] }));
