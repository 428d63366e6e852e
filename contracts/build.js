// Compiles contracts/src/*.sol with the pinned solc from npm and writes
// out/<Name>.json ({abi, bytecode, deployedBytecode}) for every contract
// defined in src/. `--check` compiles into memory and fails if the committed
// artifacts differ, so CI catches a stale out/.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const SRC = path.join(__dirname, 'src');
const OUT = path.join(__dirname, 'out');
const check = process.argv.includes('--check');

const sources = {};
for (const f of fs.readdirSync(SRC).filter((f) => f.endsWith('.sol')).sort()) {
  sources[`src/${f}`] = { content: fs.readFileSync(path.join(SRC, f), 'utf8') };
}

const input = {
  language: 'Solidity',
  sources,
  settings: {
    // Runtime gas is what users pay on every call; deployment is paid once.
    optimizer: { enabled: true, runs: 10000 },
    viaIR: true,
    evmVersion: 'prague',
    metadata: { bytecodeHash: 'none', appendCBOR: false },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
};

function findImports(p) {
  try {
    return { contents: fs.readFileSync(require.resolve(p), 'utf8') };
  } catch (e) {
    return { error: `import not found: ${p}` };
  }
}

const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
let failed = false;
for (const e of out.errors || []) {
  console.error(e.formattedMessage);
  if (e.severity === 'error') failed = true;
}
if (failed) process.exit(1);

const artifacts = {};
for (const [file, contracts] of Object.entries(out.contracts)) {
  if (!file.startsWith('src/')) continue;
  for (const [name, c] of Object.entries(contracts)) {
    if (c.evm.bytecode.object.length === 0) continue; // interfaces
    const art = { abi: c.abi, bytecode: '0x' + c.evm.bytecode.object, deployedBytecode: '0x' + c.evm.deployedBytecode.object };
    artifacts[`${name}.json`] = JSON.stringify(art, null, 1) + '\n';
    const size = c.evm.deployedBytecode.object.length / 2;
    console.log(`${name}: runtime ${size} bytes${size > 24576 ? ' (OVER the 24576-byte limit)' : ''}`);
  }
}

if (check) {
  const stale = [];
  const committed = fs.existsSync(OUT) ? fs.readdirSync(OUT).filter((f) => f.endsWith('.json')) : [];
  for (const f of new Set([...committed, ...Object.keys(artifacts)])) {
    const have = fs.existsSync(path.join(OUT, f)) ? fs.readFileSync(path.join(OUT, f), 'utf8') : null;
    if (have !== (artifacts[f] ?? null)) stale.push(f);
  }
  if (stale.length) {
    console.error(`contracts/out is stale (${stale.join(', ')}): run \`npm run build\` in contracts/ and commit out/`);
    process.exit(1);
  }
  console.log(`contracts/out matches the sources (solc ${solc.version()})`);
} else {
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  for (const [f, text] of Object.entries(artifacts)) fs.writeFileSync(path.join(OUT, f), text);
  console.log(`wrote ${Object.keys(artifacts).length} artifacts to out/ (solc ${solc.version()})`);
}
