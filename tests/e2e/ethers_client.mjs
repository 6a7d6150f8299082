// ethers v6, unchanged, pointed at the sequencer: one transfer and one contract call.
// usage: node ethers_client.mjs <rpc url> <private key> <to> <probe address>
import { Contract, JsonRpcProvider, Wallet } from "ethers";

const [url, key, to, probe] = process.argv.slice(2);
// ethers v6 caches identical requests for 250 ms by default, so with blocks faster than that it
// can reuse a "pending" nonce it has just read (ethers-io/ethers.js#4549); the documented
// `cacheTimeout: -1` turns that cache off, as one does against any fast dev chain.
const provider = new JsonRpcProvider(url, undefined, { cacheTimeout: -1 });
provider.pollingInterval = 100;
const wallet = new Wallet(key, provider);
const transfer = await wallet.sendTransaction({ to, value: 1n });
const r1 = await transfer.wait();
const contract = new Contract(probe, ["function ping() returns (uint256)"], wallet);
const call = await contract.ping();
const r2 = await call.wait();
console.log(JSON.stringify({ transfer: r1.hash, call: r2.hash, status: [r1.status, r2.status] }));
