import { describe, expect, it } from 'vitest';
import { cameraProblem, classifyCameraError } from '../../src/core/camera-errors';

const domError = (name: string) => Object.assign(new Error(name), { name });

describe('classifyCameraError', () => {
  it.each([
    ['NotAllowedError', 'denied'],
    ['NotFoundError', 'no-camera'],
    ['NotReadableError', 'busy'],
    ['AbortError', 'busy'],
    ['OverconstrainedError', 'constraints'],
    ['SecurityError', 'insecure'],
    ['TypeError', 'unknown'],
  ])('%s is %s', (name, kind) => {
    expect(classifyCameraError(domError(name)).kind).toBe(kind);
  });

  it('tells a denied user how to allow the camera', () => {
    expect(classifyCameraError(domError('NotAllowedError')).help).toMatch(/allow/i);
  });

  it('keeps the detail of unexpected failures, whatever was thrown', () => {
    expect(classifyCameraError(new Error('boom')).help).toContain('(boom)');
    expect(classifyCameraError(null).kind).toBe('unknown');
    expect(cameraProblem('ended').title).toMatch(/stopped/);
  });
});
