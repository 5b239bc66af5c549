/** Each way the camera can fail, so the app shows a state that says what to do instead of a blank screen. */
export type CameraProblemKind = 'insecure' | 'denied' | 'no-camera' | 'busy' | 'constraints' | 'ended' | 'unknown';

export interface CameraProblem {
  kind: CameraProblemKind;
  title: string;
  help: string;
}

const PROBLEMS: Record<CameraProblemKind, Omit<CameraProblem, 'kind'>> = {
  insecure: {
    title: 'The camera needs a secure page',
    help: 'Browsers only give the camera to pages served over https:// or from localhost. Open the app that way.',
  },
  denied: {
    title: 'Camera access was denied',
    help:
      'Allow the camera for this site: click the camera or lock icon in the address bar (on a phone: the site ' +
      'settings of your browser), set Camera to Allow, then try again.',
  },
  'no-camera': {
    title: 'No camera found',
    help: 'Connect a camera, or open a photo instead.',
  },
  busy: {
    title: 'The camera is busy',
    help: 'Another app or tab is using the camera, or it failed to start. Close the other app, then try again.',
  },
  constraints: {
    title: 'The camera cannot give a usable picture',
    help: 'No camera on this device matches what the app asked for, even relaxed. Try another camera or a photo.',
  },
  ended: {
    title: 'The camera stopped',
    help: 'The camera was disconnected or taken by another app. Reconnect it, then try again.',
  },
  unknown: {
    title: 'The camera could not start',
    help: 'Something unexpected went wrong. Try again, or open a photo instead.',
  },
};

export function cameraProblem(kind: CameraProblemKind, detail?: string): CameraProblem {
  const p = PROBLEMS[kind];
  return { kind, title: p.title, help: kind === 'unknown' && detail ? `${p.help} (${detail})` : p.help };
}

/** Classifies what `getUserMedia` rejected with, by the DOMException names the Media Capture spec defines. */
export function classifyCameraError(error: unknown): CameraProblem {
  const name = (error as { name?: unknown } | null)?.name;
  switch (name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
      return cameraProblem('denied');
    case 'SecurityError':
      return cameraProblem('insecure');
    case 'NotFoundError':
    case 'DevicesNotFoundError':
      return cameraProblem('no-camera');
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return cameraProblem('busy');
    case 'OverconstrainedError':
    case 'ConstraintNotSatisfiedError':
      return cameraProblem('constraints');
    default:
      return cameraProblem('unknown', error instanceof Error ? error.message : String(error));
  }
}
