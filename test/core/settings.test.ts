import { describe, expect, it } from 'vitest';
import { verdict } from '../../src/core/labels';
import {
  DEFAULT_SETTINGS,
  formatLabel,
  labelledFrom,
  labelPolicy,
  parseSettings,
  serializeSettings,
} from '../../src/core/settings';

describe('caution levels', () => {
  const model = { threshold: 0.5, uncertainBand: 0.07 };

  it('off has no band: a face always gets the likelier label', () => {
    const off = labelPolicy('off', model);
    expect(off).toEqual({ threshold: 0.5, uncertainBand: 0 });
    expect(verdict(0.51, off).label).toBe('male');
    expect(verdict(0.49, off).label).toBe('female');
  });

  it("normal is the model's own policy", () => {
    expect(labelPolicy('normal', model)).toBe(model);
  });

  it("cautious doubles the model's band", () => {
    const cautious = labelPolicy('cautious', model);
    expect(cautious.threshold).toBe(0.5);
    expect(cautious.uncertainBand).toBeCloseTo(0.14);
    expect(verdict(0.62, model).label).toBe('male');
    expect(verdict(0.62, cautious).label).toBe('uncertain');
    expect(verdict(0.65, cautious).label).toBe('male');
  });

  it('cautious is at least 0.1 wide, keeps both labels reachable, and is never narrower than normal', () => {
    expect(labelPolicy('cautious', { threshold: 0.5, uncertainBand: 0 }).uncertainBand).toBe(0.1);
    expect(labelPolicy('cautious', { threshold: 0.5, uncertainBand: 0.3 }).uncertainBand).toBeCloseTo(0.4);
    expect(labelPolicy('cautious', { threshold: 0.8, uncertainBand: 0.1 }).uncertainBand).toBeCloseTo(0.16);
    expect(labelPolicy('cautious', { threshold: 0.5, uncertainBand: 0.45 }).uncertainBand).toBe(0.45);
  });

  it('says how likely a label must be to be shown', () => {
    expect(labelledFrom(model)).toBe('57%');
    expect(labelledFrom(labelPolicy('cautious', model))).toBe('64%');
    expect(labelledFrom(labelPolicy('off', model))).toBeUndefined();
    expect(labelledFrom({ threshold: 0.52, uncertainBand: 0.07 })).toBe('55% (female) or 59% (male)');
  });
});

describe('label text', () => {
  it('shows or hides the percentage; "uncertain" and a face without a verdict read the same either way', () => {
    const policy = { threshold: 0.5, uncertainBand: 0.07 };
    expect(formatLabel(verdict(0.884, policy), true)).toBe('male 88%');
    expect(formatLabel(verdict(0.884, policy), false)).toBe('male');
    expect(formatLabel(verdict(0.07, policy), false)).toBe('female');
    expect(formatLabel(verdict(0.53, policy), false)).toBe('uncertain');
    expect(formatLabel(verdict(0.53, policy), true)).toBe('uncertain');
    expect(formatLabel(undefined, false)).toBe(formatLabel(undefined, true));
  });
});

describe('stored settings', () => {
  it('gives the defaults when nothing is stored, or what is stored is not JSON or not an object', () => {
    for (const stored of [null, '', '{', 'null', '42', '"normal"', '[]']) {
      expect(parseSettings(stored)).toEqual(DEFAULT_SETTINGS);
    }
    expect(DEFAULT_SETTINGS).toEqual({ caution: 'normal', showPercent: true });
  });

  it('round-trips every choice', () => {
    const settings = { caution: 'cautious', showPercent: false, cameraId: 'abc123' } as const;
    expect(parseSettings(serializeSettings(settings))).toEqual(settings);
    expect(parseSettings(serializeSettings({ caution: 'off', showPercent: true }))).toEqual({
      caution: 'off',
      showPercent: true,
    });
  });

  it('replaces each invalid field by its default and keeps the valid ones', () => {
    expect(parseSettings('{"caution":"paranoid","showPercent":false,"cameraId":7}')).toEqual({
      caution: 'normal',
      showPercent: false,
    });
    expect(parseSettings('{"caution":"off","showPercent":"no","cameraId":""}')).toEqual({
      caution: 'off',
      showPercent: true,
    });
    expect(parseSettings('{"caution":"cautious","detector":"far","cameraId":"x"}')).toEqual({
      caution: 'cautious',
      showPercent: true,
      cameraId: 'x',
    });
  });
});
