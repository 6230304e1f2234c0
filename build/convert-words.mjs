// convert-words.mjs — bundle the lowercase a–z words of Debian's `wamerican` word list (SCOWL, Kevin Atkinson;
// permissive licence, see examples/data/english-words-LICENSE.txt) for the autoregressive benchmark: the issue's
// anchor data set of 63,875 words.
//
// How to run (from the repository root, on Debian 12; wamerican 2020.12.07-2):
//
//   cd /tmp && apt-get download wamerican && dpkg-deb -x wamerican_*_all.deb wamerican
//   node build/convert-words.mjs /tmp/wamerican/usr/share/dict/american-english examples/data/english-words.txt.gz
//   cp /tmp/wamerican/usr/share/doc/wamerican/copyright examples/data/english-words-LICENSE.txt
//
// Output: gzip (level 9) of the words matching ^[a-z]+$ (proper nouns, accents and possessives dropped), without
// duplicates, sorted by code unit, one per line, "\n" line ends.

import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node build/convert-words.mjs <american-english> <output.txt.gz>');
  process.exit(2);
}
const words = [...new Set(readFileSync(input, 'utf8').split(/\r?\n/).filter(w => /^[a-z]+$/.test(w)))]
  .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
writeFileSync(output, gzipSync(Buffer.from(words.join('\n') + '\n', 'utf8'), { level: 9 }));
console.log(`${words.length} words -> ${output}`);
