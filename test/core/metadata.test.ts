import { describe, expect, it } from 'vitest';
import { DEFAULT_CROP } from '../../src/core/crop';
import { DEFAULT_POLICY } from '../../src/core/labels';
import { checksumProblems, parseMetadata } from '../../src/core/metadata';

describe('parseMetadata', () => {
  const valid = { formatVersion: 1, inputSize: 64, crop: DEFAULT_CROP, policy: DEFAULT_POLICY, temperature: 1 };

  it('accepts metadata with the fields the app relies on', () => {
    expect(parseMetadata(valid).inputSize).toBe(64);
    expect(parseMetadata({ ...valid, bias: -0.3 }).bias).toBe(-0.3);
  });

  it('names every problem it finds', () => {
    expect(() => parseMetadata({ ...valid, formatVersion: 2, temperature: 0 })).toThrow(
      /formatVersion 2 is not 1, temperature missing/,
    );
    expect(() => parseMetadata({ ...valid, crop: { ...DEFAULT_CROP, size: 32 } })).toThrow(/crop settings/);
    expect(() => parseMetadata({ ...valid, bias: 'lean' })).toThrow(/bias is not a number/);
    expect(() => parseMetadata(null)).toThrow(/not a JSON object/);
  });
});

describe('checksumProblems', () => {
  const listed = { 'model.json': 'aa', 'weights.bin': 'bb' };

  it('passes files that all match', () => {
    expect(
      checksumProblems(
        listed,
        new Map([
          ['model.json', 'aa'],
          ['weights.bin', 'bb'],
        ]),
      ),
    ).toEqual([]);
  });

  it('names each missing, unlisted or mismatching file', () => {
    const actual = new Map([
      ['model.json', 'aa'],
      ['weights.bin', 'cc'],
      ['group2.bin', 'dd'],
      ['group3.bin', null],
    ]);
    expect(checksumProblems(listed, actual)).toEqual([
      'weights.bin does not match its sha256',
      'group2.bin is not listed in metadata.json (another version?)',
      'group3.bin is missing',
    ]);
  });

  it('lets an older export, whose metadata lists only the weights, keep an unsummed model.json', () => {
    expect(
      checksumProblems(
        { 'weights.bin': 'bb' },
        new Map([
          ['model.json', 'zz'],
          ['weights.bin', 'bb'],
        ]),
      ),
    ).toEqual([]);
  });
});
