// A client no one here wrote: viem against fog chain.
//
//   node client.mjs RPC_URL [FogToken.json]
//
// Reads the chain id and a balance, sends a plain transfer and waits for its
// receipt, deploys FogToken, transfers tokens, reads the Transfer event back
// with getContractEvents and getLogs, and simulates a transfer beyond the
// balance, expecting viem to decode ERC20InsufficientBalance with its args.
// Prints one JSON line with what it observed and exits 0, or prints what
// did not match to stderr and exits 1. Run by crates/fog-chain/tests/viem.rs.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  BaseError,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  defineChain,
  getAbiItem,
  getAddress,
  http,
  parseEther,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

const DEV_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
// The second dev account (hardhat/anvil mnemonic), a plain recipient.
const RECIPIENT = getAddress('0x70997970c51812dc3a010c7d01b50e0d17dc79c8');
const CHAIN_ID = 31337;
const TIMEOUT_MS = 30_000;

const url = process.argv[2];
if (!url) {
  fail('usage: node client.mjs RPC_URL [FogToken.json]');
}
const here = dirname(fileURLToPath(import.meta.url));
const artifactPath = process.argv[3] ?? resolve(here, '../../../../contracts/out/FogToken.json');

function fail(message) {
  process.stderr.write(`viem client: ${message}\n`);
  process.exit(1);
}

function check(cond, message) {
  if (!cond) fail(message);
}

const json = (value) =>
  JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));

const chain = defineChain({
  id: CHAIN_ID,
  name: 'fog chain',
  nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: [url] } },
});
const account = privateKeyToAccount(DEV_KEY);
const transport = http(url, { retryCount: 0, timeout: 10_000 });
const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 });
const walletClient = createWalletClient({ account, chain, transport, pollingInterval: 50 });

const wait = (hash) =>
  publicClient.waitForTransactionReceipt({ hash, timeout: TIMEOUT_MS, pollingInterval: 50 });

async function main() {
  const out = {};

  // 1. Chain id and a balance.
  out.chainId = await publicClient.getChainId();
  check(out.chainId === CHAIN_ID, `eth_chainId: expected ${CHAIN_ID}, got ${out.chainId}`);
  const balance = await publicClient.getBalance({ address: account.address });
  check(balance > 0n, `eth_getBalance: the dev account ${account.address} is not funded`);
  out.balance = balance;
  out.blockNumber = await publicClient.getBlockNumber();

  // 2. A plain ETH transfer, waited for.
  const value = parseEther('1.5');
  const before = await publicClient.getBalance({ address: RECIPIENT });
  const ethHash = await walletClient.sendTransaction({ to: RECIPIENT, value });
  const ethReceipt = await wait(ethHash);
  check(ethReceipt.status === 'success', `transfer receipt status: ${ethReceipt.status}`);
  check(ethReceipt.transactionHash === ethHash, 'transfer receipt: wrong transactionHash');
  check(getAddress(ethReceipt.from) === account.address, `transfer receipt: from ${ethReceipt.from}`);
  check(ethReceipt.to && getAddress(ethReceipt.to) === RECIPIENT, `transfer receipt: to ${ethReceipt.to}`);
  const after = await publicClient.getBalance({ address: RECIPIENT });
  check(after - before === value, `recipient balance grew by ${after - before}, expected ${value}`);
  const ethTx = await publicClient.getTransaction({ hash: ethHash });
  check(ethTx.value === value, `eth_getTransactionByHash: value ${ethTx.value}`);
  out.ethTransfer = {
    hash: ethHash,
    status: ethReceipt.status,
    blockNumber: ethReceipt.blockNumber,
    gasUsed: ethReceipt.gasUsed,
    type: ethReceipt.type,
    value,
  };

  // 3. Deploy FogToken(holder, supply).
  const artifact = JSON.parse(readFileSync(artifactPath, 'utf8'));
  const abi = artifact.abi;
  const bytecode = artifact.bytecode.startsWith('0x') ? artifact.bytecode : `0x${artifact.bytecode}`;
  const supply = parseEther('1000000');
  const deployHash = await walletClient.deployContract({ abi, bytecode, args: [account.address, supply] });
  const deployReceipt = await wait(deployHash);
  check(deployReceipt.status === 'success', `deploy receipt status: ${deployReceipt.status}`);
  check(deployReceipt.contractAddress, 'deploy receipt: no contractAddress');
  const token = getAddress(deployReceipt.contractAddress);
  const code = await publicClient.getCode({ address: token });
  check(code && code.length > 2, `eth_getCode: no code at ${token}`);
  const held = await publicClient.readContract({ address: token, abi, functionName: 'balanceOf', args: [account.address] });
  check(held === supply, `balanceOf(holder) = ${held}, expected ${supply}`);
  const symbol = await publicClient.readContract({ address: token, abi, functionName: 'symbol' });
  out.token = { address: token, deployHash, symbol, supply };

  // 4. transfer(), waited for; its Transfer event read back and decoded.
  const amount = parseEther('12.5');
  const transferHash = await walletClient.writeContract({
    address: token,
    abi,
    functionName: 'transfer',
    args: [RECIPIENT, amount],
  });
  const transferReceipt = await wait(transferHash);
  check(transferReceipt.status === 'success', `token transfer receipt status: ${transferReceipt.status}`);
  check(transferReceipt.logs.length === 1, `token transfer receipt: ${transferReceipt.logs.length} logs`);

  const block = transferReceipt.blockNumber;
  const events = await publicClient.getContractEvents({
    address: token,
    abi,
    eventName: 'Transfer',
    fromBlock: block,
    toBlock: block,
  });
  check(events.length === 1, `getContractEvents: ${events.length} Transfer events in block ${block}`);
  const ev = events[0];
  check(ev.eventName === 'Transfer', `getContractEvents: event ${ev.eventName}`);
  check(getAddress(ev.args.from) === account.address, `Transfer.from ${ev.args.from}`);
  check(getAddress(ev.args.to) === RECIPIENT, `Transfer.to ${ev.args.to}`);
  check(ev.args.value === amount, `Transfer.value ${ev.args.value}, expected ${amount}`);
  check(ev.transactionHash === transferHash, `Transfer log transactionHash ${ev.transactionHash}`);
  check(ev.blockNumber === block, `Transfer log blockNumber ${ev.blockNumber}`);

  // The same through getLogs with an event and an indexed-argument filter.
  const transferEvent = getAbiItem({ abi, name: 'Transfer' });
  const logs = await publicClient.getLogs({
    address: token,
    event: transferEvent,
    args: { to: RECIPIENT },
    fromBlock: 0n,
    toBlock: 'latest',
  });
  check(logs.length === 1, `getLogs(Transfer to recipient): ${logs.length} logs`);
  check(logs[0].args.value === amount, `getLogs: Transfer.value ${logs[0].args.value}`);
  const none = await publicClient.getLogs({
    address: token,
    event: transferEvent,
    args: { to: account.address },
    fromBlock: block,
    toBlock: 'latest',
  });
  check(none.length === 0, `getLogs(Transfer to holder, from block ${block}): ${none.length} logs, expected 0`);

  out.tokenTransfer = {
    hash: transferHash,
    status: transferReceipt.status,
    blockNumber: block,
    event: {
      eventName: ev.eventName,
      from: getAddress(ev.args.from),
      to: getAddress(ev.args.to),
      value: ev.args.value,
      logIndex: ev.logIndex,
    },
    getLogsCount: logs.length,
  };

  // 5. A transfer beyond the balance: simulate and expect the custom error.
  const left = await publicClient.readContract({ address: token, abi, functionName: 'balanceOf', args: [account.address] });
  check(left === supply - amount, `balanceOf(holder) after transfer = ${left}`);
  const tooMuch = left + 1n;
  let reverted;
  try {
    await publicClient.simulateContract({
      account,
      address: token,
      abi,
      functionName: 'transfer',
      args: [RECIPIENT, tooMuch],
    });
  } catch (e) {
    reverted = e;
  }
  check(reverted, 'simulateContract(transfer beyond balance) did not throw');
  check(reverted instanceof BaseError, `simulateContract threw a non-viem error: ${reverted}`);
  const revert = reverted.walk((e) => e instanceof ContractFunctionRevertedError);
  check(
    revert instanceof ContractFunctionRevertedError,
    `simulateContract: no ContractFunctionRevertedError in ${reverted.name}: ${reverted.message}`,
  );
  check(revert.data, `revert not decoded: raw=${revert.raw} reason=${revert.reason} (${revert.shortMessage})`);
  check(revert.data.errorName === 'ERC20InsufficientBalance', `decoded error ${revert.data.errorName}`);
  const [sender, bal, needed] = revert.data.args;
  check(getAddress(sender) === account.address, `ERC20InsufficientBalance.sender ${sender}`);
  check(bal === left, `ERC20InsufficientBalance.balance ${bal}, expected ${left}`);
  check(needed === tooMuch, `ERC20InsufficientBalance.needed ${needed}, expected ${tooMuch}`);
  out.revert = {
    errorName: revert.data.errorName,
    sender: getAddress(sender),
    balance: bal,
    needed,
    raw: revert.raw,
  };

  process.stdout.write(`${json(out)}\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    const detail = e instanceof BaseError ? `${e.name}: ${e.message}` : (e?.stack ?? String(e));
    fail(`unexpected error: ${detail}`);
  },
);
