import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The shared face data (never committed): FACESENSE_DATA, or ../shared/data beside the checkout. */
export const DATA_DIR = resolve(process.env.FACESENSE_DATA ?? join(__dirname, '..', '..', '..', 'shared', 'data'));
export const CELEBA = join(DATA_DIR, 'celeba', 'Dataset');
export const SCENES = join(DATA_DIR, 'scenes');
export const hasData = existsSync(CELEBA) && existsSync(SCENES);

/**
 * A small Kaggle-layout dataset of links to the first `perClass[split]` CelebA files of each class, in a
 * fresh temporary folder.
 */
export function smallDataset(perClass: Record<'Train' | 'Validation' | 'Test', number>): string {
  const root = mkdtempSync(join(tmpdir(), 'facesense-data-'));
  for (const [split, n] of Object.entries(perClass)) {
    for (const cls of ['Male', 'Female']) {
      const from = join(CELEBA, split, cls);
      const to = join(root, split, cls);
      mkdirSync(to, { recursive: true });
      for (const file of readdirSync(from).sort().slice(0, n)) symlinkSync(join(from, file), join(to, file));
    }
  }
  return root;
}
