import { describe, expect, it } from 'vitest';
import { describeFaces } from '../../src/core/announce';

describe('describeFaces', () => {
  it('states the count and every label', () => {
    expect(describeFaces([])).toBe('No faces');
    expect(describeFaces(['male 88%'])).toBe('1 face: male 88%');
    expect(describeFaces(['female 93%', 'male 88%'])).toBe('2 faces: female 93%, male 88%');
  });
});
