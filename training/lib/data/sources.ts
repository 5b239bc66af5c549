import { basename, dirname } from 'node:path';
import type { Dataset } from './dataset';

/** A face collection recognised by its file names, with the terms it may be used under. */
interface KnownCollection {
  collection: string;
  licence: string;
  credit: string;
  matches: (name: string) => boolean;
}

const KNOWN: readonly KnownCollection[] = [
  {
    collection: 'CelebA',
    licence: 'non-commercial research only (CelebA agreement)',
    credit: 'Liu, Luo, Wang and Tang, "Deep Learning Face Attributes in the Wild", ICCV 2015',
    matches: (name) => /(^|\/)\d{6}\.jpe?g$/i.test(name),
  },
  {
    collection: 'FairFace',
    licence: 'CC BY 4.0',
    credit: 'Kärkkäinen and Joo, "FairFace: Face Attribute Dataset for Balanced Race, Gender, and Age", WACV 2021',
    matches: (name) => /(^|\/)fairface-(train|val)_/i.test(name),
  },
  {
    collection: 'All-Age-Faces',
    licence: 'non-commercial research only',
    credit: 'Cheng, Li, Wang, Gao and Zhang, "Exploiting Effective Facial Patches for Robust Gender Recognition", 2019',
    matches: (name) => /(^|\/)aaf_/i.test(name),
  },
];

/** How many images of a data folder come from one collection, and its terms. */
export interface CollectionUse {
  collection: string;
  images: number;
  licence: string;
  credit: string;
}

/** The collections a folder's images come from, most images first; files no rule knows are counted as such. */
export function collectionsOf(dataset: Dataset): CollectionUse[] {
  const counts = new Map<KnownCollection | null, number>();
  for (const entry of dataset.entries) {
    const known = KNOWN.find((k) => k.matches(entry.name)) ?? null;
    counts.set(known, (counts.get(known) ?? 0) + 1);
  }
  return [...counts]
    .map(([known, images]) =>
      known
        ? { collection: known.collection, images, licence: known.licence, credit: known.credit }
        : {
            collection: 'unrecognised',
            images,
            licence: 'unknown: check the terms of these photos before publishing a model trained on them',
            credit: '',
          },
    )
    .sort((a, b) => b.images - a.images);
}

/**
 * A data folder's short name, for logs, batch mixes and metadata: its folder name, or the parent's when the folder
 * is the Kaggle download's "Dataset" (…/celeba/Dataset is "celeba").
 */
export function sourceName(root: string): string {
  const name = basename(root);
  return name.toLowerCase() === 'dataset' ? basename(dirname(root)) : name;
}
