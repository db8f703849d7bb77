import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtureDir, fixtures, toHex } from './record-batch-fixtures.js';

// Rewrites the golden batch fixtures. Run only for a deliberate format change, and say so in the commit.
mkdirSync(fixtureDir, { recursive: true });
for (const [name, make] of Object.entries(fixtures)) {
  writeFileSync(join(fixtureDir, `${name}.hex`), toHex(make()));
  console.log(`wrote ${name}.hex`);
}
