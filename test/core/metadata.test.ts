import { describe, expect, it } from 'vitest';
import { DEFAULT_CROP } from '../../src/core/crop';
import { DEFAULT_POLICY } from '../../src/core/labels';
import { parseMetadata } from '../../src/core/metadata';

describe('parseMetadata', () => {
  const valid = { formatVersion: 1, inputSize: 64, crop: DEFAULT_CROP, policy: DEFAULT_POLICY, temperature: 1 };

  it('accepts metadata with the fields the app relies on', () => {
    expect(parseMetadata(valid).inputSize).toBe(64);
  });

  it('names every problem it finds', () => {
    expect(() => parseMetadata({ ...valid, formatVersion: 2, temperature: 0 })).toThrow(
      /formatVersion 2 is not 1, temperature missing/,
    );
    expect(() => parseMetadata({ ...valid, crop: { ...DEFAULT_CROP, size: 32 } })).toThrow(/crop settings/);
    expect(() => parseMetadata(null)).toThrow(/not a JSON object/);
  });
});
