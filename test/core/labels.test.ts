import { describe, expect, it } from 'vitest';
import { formatPercent, formatVerdict, PENDING_TEXT, verdict } from '../../src/core/labels';

describe('label policy', () => {
  const policy = { threshold: 0.5, uncertainBand: 0.15 };

  it('labels confident scores with the likelier class and its probability', () => {
    const female = verdict(0.07, policy);
    expect(female.label).toBe('female');
    expect(female.confidence).toBeCloseTo(0.93);
    expect(verdict(0.88, policy)).toEqual({ label: 'male', confidence: 0.88, probabilityMale: 0.88 });
  });

  it('shows scores near the threshold as uncertain', () => {
    expect(verdict(0.6, policy).label).toBe('uncertain');
    expect(verdict(0.36, policy).label).toBe('uncertain');
    expect(verdict(0.65, policy).label).toBe('male');
  });

  it('follows a moved threshold', () => {
    expect(verdict(0.55, { threshold: 0.7, uncertainBand: 0 }).label).toBe('female');
  });

  it('formats verdicts as the overlay shows them', () => {
    expect(formatVerdict(verdict(0.07, policy))).toBe('female 93%');
    expect(formatVerdict(verdict(0.884, policy))).toBe('male 88%');
    expect(formatVerdict(verdict(0.55, policy))).toBe('uncertain');
    expect(formatVerdict(undefined)).toBe(PENDING_TEXT);
    expect(PENDING_TEXT).not.toMatch(/uncertain/);
  });

  it('never shows a calibrated probability as certain: at most 99 %, at least 1 %', () => {
    expect(formatVerdict(verdict(0.998, policy))).toBe('male 99%');
    expect(formatVerdict(verdict(1, policy))).toBe('male 99%');
    expect(formatVerdict(verdict(0.0004, policy))).toBe('female 99%');
    expect(formatVerdict(verdict(0.985, policy))).toBe('male 99%');
    expect(formatVerdict(verdict(0.984, policy))).toBe('male 98%');
    expect(formatPercent(0.001)).toBe('1%');
    expect(formatPercent(0.5)).toBe('50%');
  });
});
