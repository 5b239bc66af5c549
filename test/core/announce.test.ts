import { describe, expect, it } from 'vitest';
import { describeFaces } from '../../src/core/announce';

describe('describeFaces', () => {
  it('states the count and every label', () => {
    expect(describeFaces([])).toBe('No faces');
    expect(describeFaces(['male 88%'])).toBe('1 face: male 88%');
    expect(describeFaces(['female 93%', 'male 88%'])).toBe('2 faces: female 93%, male 88%');
  });

  it('says nothing of a face until it has a label', () => {
    expect(describeFaces([undefined])).toBeUndefined();
    expect(describeFaces([undefined, undefined])).toBeUndefined();
    expect(describeFaces(['male 88%', undefined])).toBe('1 face: male 88%');
    expect(describeFaces([undefined, 'female 93%', undefined, 'uncertain'])).toBe('2 faces: female 93%, uncertain');
  });
});
