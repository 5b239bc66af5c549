import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeInOrder } from '../../training/lib/data/images';
import { CELEBA, DATA_DIR, hasData } from '../support/data';

describe.skipIf(!hasData)(`decodeInOrder on ${DATA_DIR}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'facesense-images-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("gives each broken file the decoder's reason, even while good files decode beside it", async () => {
    const faces = join(CELEBA, 'Train', 'Male');
    const good = readdirSync(faces)
      .sort()
      .slice(0, 12)
      .map((f) => join(faces, f));
    const jpeg = readFileSync(good[0]);
    const broken = [1, 2].map((k) => join(dir, `truncated-${k}.jpg`));
    for (const path of broken) writeFileSync(path, jpeg.subarray(0, jpeg.length >> 1));
    // Before the fix, about half of such failures read "Unknown error": 10 rounds leave that no chance to pass.
    const paths = [...good.slice(0, 5), broken[0], ...good.slice(5, 7), broken[1], ...good.slice(7)];
    for (let round = 0; round < 10; round++) {
      const results = [];
      for await (const r of decodeInOrder(paths)) results.push(r);
      expect(results.map((r) => (r instanceof Error ? r.message.split('\n')[0] : 'ok'))).toEqual(
        paths.map((p) => (broken.includes(p) ? expect.stringMatching(/premature end of JPEG/i) : 'ok')),
      );
    }
  });
});
