// Worker threads in Node 20 do not run the parent's module hooks, so the worker registers tsx itself
// before loading its TypeScript.
import { register } from 'tsx/esm/api';

register();
await import('./crop-worker.ts');
