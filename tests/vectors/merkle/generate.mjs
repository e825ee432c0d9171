// Merkle test vectors for settlement/merkle.py, produced by the real @openzeppelin/merkle-tree.
//
//   npm ci && node generate.mjs
//
// writes vectors.json next to this file. Every input is derived from fixed seeds (sha256 of a
// label), so running the script again produces an identical file.
//
// Each leaf carries its raw ABI values in the library's own representation (bytes16 as 0x-hex,
// uints as decimal strings) and, when the values can come from an execution, the execution they
// come from (`execution`: UUIDs, side, amount and price with 8 decimals, ISO executed_at), so
// the Python side can check both ExecutionLeaf.abi_values() and the tree.

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';

const require = createRequire(import.meta.url);
const LIBRARY_VERSION = require('@openzeppelin/merkle-tree/package.json').version;
const LEAF_ENCODING = ['bytes16', 'bytes16', 'uint8', 'uint256', 'uint256', 'uint256'];
const SCALE = 10n ** 8n;
const MAX_UINT256 = 2n ** 256n - 1n;
const YEAR_2026 = 1767225600n; // 2026-01-01T00:00:00Z
const SIDES = ['BUY', 'SELL'];

const sha256 = label => createHash('sha256').update(label).digest();

/** A deterministic random-looking UUID (version 4 bits set) as 0x + 32 hex digits. */
function uuidHex(label) {
  const bytes = sha256(`uuid:${label}`).subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  return '0x' + bytes.toString('hex');
}

/** A deterministic integer in [low, high] (BigInt). */
function intBetween(label, low, high) {
  const n = BigInt('0x' + sha256(`int:${label}`).toString('hex'));
  return low + (n % (high - low + 1n));
}

const hexToUuid = hex => {
  const h = hex.slice(2);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};
const decimal8 = scaled => `${scaled / SCALE}.${(scaled % SCALE).toString().padStart(8, '0')}`;
const isoSeconds = (seconds, millis = 0n) =>
  new Date(Number(seconds * 1000n + millis)).toISOString();

/**
 * One leaf: raw values plus, when executedAt fits a date, the execution they come from.
 * `millis` is a sub-second part of executed_at that the leaf drops (whole unix seconds).
 */
function leaf({ executionId, userId, side, amount, price, executedAt, millis = 0n }) {
  const values = [
    executionId,
    userId,
    String(SIDES.indexOf(side)),
    amount.toString(),
    price.toString(),
    executedAt.toString(),
  ];
  const dateable = executedAt <= 253402300799n; // up to 9999-12-31T23:59:59Z
  const execution = dateable
    ? {
        executionId: hexToUuid(executionId),
        userId: hexToUuid(userId),
        side,
        amount: decimal8(amount),
        executedPrice: decimal8(price),
        executedAt: isoSeconds(executedAt, millis),
      }
    : null;
  return { values, execution };
}

/** n ordinary executions of one day of 2026, a handful of users, amounts and prices. */
function ordinaryLeaves(name, n) {
  const users = Array.from({ length: 3 }, (_, u) => uuidHex(`${name}:user:${u}`));
  return Array.from({ length: n }, (_, i) =>
    leaf({
      executionId: uuidHex(`${name}:execution:${i}`),
      userId: users[Number(intBetween(`${name}:user-of:${i}`, 0n, 2n))],
      side: SIDES[Number(intBetween(`${name}:side:${i}`, 0n, 1n))],
      amount: intBetween(`${name}:amount:${i}`, 1n, 10n ** 12n),
      price: intBetween(`${name}:price:${i}`, 1n, 10n ** 14n),
      executedAt: YEAR_2026 + 86400n * 70n + intBetween(`${name}:at:${i}`, 0n, 86399n),
      millis: intBetween(`${name}:millis:${i}`, 0n, 999n),
    }),
  );
}

/** Leaves that differ in one field only, and an exact duplicate pair. */
function duplicateLookingLeaves() {
  const user = uuidHex('dup:user');
  const base = {
    userId: user,
    side: 'BUY',
    amount: 150000000n,
    price: 6500000000000n,
    executedAt: YEAR_2026 + 3600n,
  };
  const twin = uuidHex('dup:execution:twin');
  return [
    leaf({ ...base, executionId: uuidHex('dup:execution:0') }),
    leaf({ ...base, executionId: uuidHex('dup:execution:1') }),
    leaf({ ...base, executionId: uuidHex('dup:execution:2'), side: 'SELL' }),
    leaf({ ...base, executionId: uuidHex('dup:execution:3'), amount: 150000001n }),
    leaf({ ...base, executionId: uuidHex('dup:execution:4'), executedAt: YEAR_2026 + 3601n }),
    // the same execution listed twice: equal leaf hashes, both kept, as the library does
    leaf({ ...base, executionId: twin }),
    leaf({ ...base, executionId: uuidHex('dup:execution:5'), price: 6500000000001n }),
    leaf({ ...base, executionId: twin }),
    // amount and price swapped
    leaf({ ...base, executionId: uuidHex('dup:execution:6'), amount: base.price, price: base.amount }),
  ];
}

/** Smallest and largest values of every field. */
function edgeLeaves() {
  const zero = '0x' + '00'.repeat(16);
  const ones = '0x' + 'ff'.repeat(16);
  return [
    leaf({ executionId: uuidHex('edge:0'), userId: uuidHex('edge:user'), side: 'BUY', amount: 1n, price: 1n, executedAt: 0n }),
    leaf({ executionId: uuidHex('edge:1'), userId: uuidHex('edge:user'), side: 'SELL', amount: 1n, price: 1n, executedAt: 0n }),
    leaf({ executionId: zero, userId: zero, side: 'BUY', amount: 0n, price: 0n, executedAt: 0n }),
    leaf({ executionId: ones, userId: ones, side: 'SELL', amount: MAX_UINT256, price: MAX_UINT256, executedAt: YEAR_2026 }),
    leaf({ executionId: uuidHex('edge:2'), userId: ones, side: 'SELL', amount: MAX_UINT256 - 1n, price: 2n ** 255n, executedAt: YEAR_2026 + 31535999n }),
    leaf({ executionId: uuidHex('edge:3'), userId: zero, side: 'BUY', amount: SCALE, price: 10n ** 20n - 1n, executedAt: YEAR_2026, millis: 999n }),
    // executed_at itself at the top of uint256: raw values only, no execution has that date
    leaf({ executionId: uuidHex('edge:4'), userId: uuidHex('edge:user'), side: 'BUY', amount: 1n, price: 1n, executedAt: MAX_UINT256 }),
  ];
}

const TREES = [
  ['one leaf', ordinaryLeaves('one', 1)],
  ['two leaves', ordinaryLeaves('two', 2)],
  ['three leaves', ordinaryLeaves('three', 3)],
  ['seven leaves', ordinaryLeaves('seven', 7)],
  ['eight leaves', ordinaryLeaves('eight', 8)],
  ['thirty-three leaves', ordinaryLeaves('thirty-three', 33)],
  ['duplicate-looking leaves', duplicateLookingLeaves()],
  ['edge values', edgeLeaves()],
];

function vector(name, leaves) {
  const values = leaves.map(l => l.values);
  const tree = StandardMerkleTree.of(values, LEAF_ENCODING);
  const dump = tree.dump();
  return {
    name,
    root: tree.root,
    leaves: leaves.map((l, i) => {
      const proof = tree.getProof(i);
      if (!StandardMerkleTree.verify(tree.root, LEAF_ENCODING, l.values, proof)) {
        throw new Error(`${name}: proof ${i} does not verify`);
      }
      return {
        values: l.values,
        execution: l.execution,
        hash: tree.leafHash(l.values),
        treeIndex: dump.values[i].treeIndex,
        proof,
        proofByValue: tree.getProof(l.values),
      };
    }),
    dump,
  };
}

const output = {
  library: `@openzeppelin/merkle-tree@${LIBRARY_VERSION}`,
  leafEncoding: LEAF_ENCODING,
  trees: TREES.map(([name, leaves]) => vector(name, leaves)),
};
const target = fileURLToPath(new URL('vectors.json', import.meta.url));
writeFileSync(target, JSON.stringify(output, null, 2) + '\n');
// Round trip: the dump loads back into the library.
for (const t of JSON.parse(readFileSync(target, 'utf8')).trees) StandardMerkleTree.load(t.dump);
console.log(`wrote ${target}: ${output.trees.length} trees`);
