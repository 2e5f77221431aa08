/**
 * Child process for the kill -9 crash test (interop.test.ts): opens IMAGE through the library and
 * writes tagged sectors forever (a deterministic sequence from SEED), flushing now and then; after
 * each completed flush it prints "flushed N" (N = number of operations the flush covers). The
 * parent kills it at a random moment and checks the image.
 *
 *   node crash-child.js IMAGE SEED
 */
import { openImageFile } from '../../src/host/node-file.js';
import { crashOps, sectorData } from './crash-ops.js';

const [path, seedText] = process.argv.slice(2);
const image = await openImageFile(path);
const sectors = image.size / 512;
let n = 0;
for (const op of crashOps(Number(seedText), sectors)) {
  if (op.kind === 'write') await image.write(op.first * 512, sectorData(op.tag, op.first, op.count));
  else if (op.kind === 'zero') await image.writeZeroes(op.first * 512, op.count * 512, op.unmap);
  else {
    await image.flush();
    process.stdout.write(`flushed ${n}\n`);
  }
  n++;
}
