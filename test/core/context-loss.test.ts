import { describe, expect, it } from 'vitest';
import { MAX_CONTEXT_LOSSES, orderAfterContextLoss } from '../../src/core/context-loss';

const BACKENDS = ['webgl', 'wasm', 'cpu'] as const;

describe('orderAfterContextLoss', () => {
  it('tries the lost backend again first, then the ones after it', () => {
    expect(orderAfterContextLoss('webgl', 1, BACKENDS)).toEqual(['webgl', 'wasm', 'cpu']);
  });

  it(`gives up on a backend lost ${MAX_CONTEXT_LOSSES} times`, () => {
    expect(orderAfterContextLoss('webgl', MAX_CONTEXT_LOSSES, BACKENDS)).toEqual(['wasm', 'cpu']);
    expect(orderAfterContextLoss('webgl', MAX_CONTEXT_LOSSES + 3, BACKENDS)).toEqual(['wasm', 'cpu']);
  });

  it('falls back only to backends after the lost one', () => {
    expect(orderAfterContextLoss('wasm', MAX_CONTEXT_LOSSES, BACKENDS)).toEqual(['cpu']);
    expect(orderAfterContextLoss('cpu', MAX_CONTEXT_LOSSES, BACKENDS)).toEqual([]);
  });

  it('falls back to every other backend when the lost one is not among them', () => {
    expect(orderAfterContextLoss('webgpu', 1, ['webgl', 'wasm'])).toEqual(['webgpu', 'webgl', 'wasm']);
    expect(orderAfterContextLoss('webgpu', MAX_CONTEXT_LOSSES, ['webgl', 'wasm'])).toEqual(['webgl', 'wasm']);
  });
});
