// convert-tables.mjs — bundle two real tables shipped in the npm package `vega-datasets@3.2.1` (package licence
// BSD-3-Clause; each table keeps its own licence, see examples/data/vega-datasets-LICENSE.txt) as CSV files for the
// tabular synthesizer's example, tests and benchmarks.
//
// How to run (from the repository root):
//
//   npm install --prefix /tmp/x vega-datasets@3.2.1
//   node build/convert-tables.mjs /tmp/x/node_modules/vega-datasets examples/data
//
// Inputs and outputs:
//   data/penguins.json (344 Palmer Archipelago penguins; an array of objects, null = missing) -> penguins.csv with
//     header Species,Island,BeakLength,BeakDepth,FlipperLength,BodyMass,Sex (lengths in mm, mass in g). Numbers are
//     written as JavaScript prints them (shortest round trip); a missing value (null) is an empty field. Rows keep
//     the package's order.
//   data/seattle-weather.csv (1,461 days of Seattle weather, 2012-2015) -> seattle-weather.csv with header
//     Precipitation,TemperatureMax,TemperatureMin,Wind,Weather; the date column is dropped (one distinct value per
//     row: nothing a synthesizer should learn). Values are copied as text, rows keep their order.
// Both outputs use "\n" line ends and no quoting (no field holds a comma; the script checks).

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [root, outDir] = process.argv.slice(2);
if (!root || !outDir) {
  console.error('usage: node build/convert-tables.mjs <node_modules/vega-datasets> <output directory>');
  process.exit(2);
}

function field(v) {
  if (v === null || v === undefined) return '';
  const s = String(v);
  if (s.includes(',') || s.includes('"') || s.includes('\n')) throw new Error(`field needs quoting: ${s}`);
  return s;
}

const penguins = JSON.parse(readFileSync(join(root, 'data', 'penguins.json'), 'utf8'));
const map = [
  ['Species', 'Species'], ['Island', 'Island'], ['BeakLength', 'Beak Length (mm)'], ['BeakDepth', 'Beak Depth (mm)'],
  ['FlipperLength', 'Flipper Length (mm)'], ['BodyMass', 'Body Mass (g)'], ['Sex', 'Sex'],
];
const penguinLines = [map.map(m => m[0]).join(',')];
for (const row of penguins) {
  for (const key of Object.keys(row))
    if (!map.some(m => m[1] === key)) throw new Error(`unexpected penguins field ${key}`);
  penguinLines.push(map.map(m => field(row[m[1]])).join(','));
}
writeFileSync(join(outDir, 'penguins.csv'), penguinLines.join('\n') + '\n');
console.log(`${penguins.length} penguins -> ${join(outDir, 'penguins.csv')}`);

const weather = readFileSync(join(root, 'data', 'seattle-weather.csv'), 'utf8').split(/\r?\n/).filter(l => l.length > 0);
const header = weather[0].split(',');
const expected = ['date', 'precipitation', 'temp_max', 'temp_min', 'wind', 'weather'];
if (header.join(',') !== expected.join(',')) throw new Error(`unexpected seattle-weather header ${weather[0]}`);
const weatherLines = ['Precipitation,TemperatureMax,TemperatureMin,Wind,Weather'];
for (const line of weather.slice(1)) {
  const f = line.split(',');
  if (f.length !== 6) throw new Error(`unexpected seattle-weather line ${line}`);
  weatherLines.push(f.slice(1).join(','));
}
writeFileSync(join(outDir, 'seattle-weather.csv'), weatherLines.join('\n') + '\n');
console.log(`${weatherLines.length - 1} days -> ${join(outDir, 'seattle-weather.csv')}`);
