import * as tf from '@tensorflow/tfjs-core';
import { checksumProblems, parseMetadata, type ModelMetadata } from '../core/metadata';

/** An exported model whose files all match the sha256 sums its metadata.json records. */
export interface VerifiedModel {
  metadata: ModelMetadata;
  /** Serves the checked bytes to `loadLayersModel`; nothing is fetched again. */
  handler: tf.io.IOHandler;
  /** Files that were damaged, or of another version, in the cache and were downloaded again. */
  repaired: string[];
}

interface ModelJson {
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

interface FileSet {
  metadata: ModelMetadata;
  modelJson: ModelJson;
  /** Every file by name (metadata.json, model.json, weights), as fetched. */
  bytes: Map<string, ArrayBuffer>;
}

/**
 * Fetches metadata.json, model.json and the weights from `dir` and checks each file against the sums in
 * metadata.json, so a damaged cache entry, or files of two versions side by side, never reach the classifier.
 * On a mismatch, all of the model's files are evicted from Cache Storage and downloaded again together; if the
 * fresh copy checks out it goes back into the cache, otherwise the error says what is wrong and what to do.
 */
export async function fetchVerifiedModel(dir: string): Promise<VerifiedModel> {
  const first = await fetchChecked(dir, 'default');
  if (!Array.isArray(first)) return toModel(first, []);
  const evicted = await evict(dir);
  let second: FileSet | string[];
  try {
    second = await fetchChecked(dir, 'no-cache');
  } catch (err) {
    // The cache stays whole (damage included) so the next load online finds, and repairs, the same files.
    await restore(evicted, new Map(evicted.map((e) => [e.name, e.data])));
    throw new Error(
      `The saved copy of the gender model is damaged (${first.join('; ')}) and a fresh copy could not be ` +
        `downloaded (${(err as Error).message}). Connect to the internet and reload.`,
    );
  }
  if (Array.isArray(second)) {
    throw new Error(`The gender model on the server does not match its checksums (${second.join('; ')}).`);
  }
  await restore(evicted, second.bytes);
  return toModel(second, first);
}

/** Bytes that arrived but cannot be read as what they should be: damage, not a network failure. */
class Unreadable extends Error {}

/**
 * The model's files when every one matches its sum, else what does not match (each entry names a file). A
 * failed request throws.
 */
async function fetchChecked(dir: string, cache: RequestCache): Promise<FileSet | string[]> {
  const bytes = new Map<string, ArrayBuffer>();
  const get = async (name: string): Promise<ArrayBuffer> => {
    const response = await fetch(`${dir}${name}`, { cache });
    if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
    const data = await response.arrayBuffer();
    bytes.set(name, data);
    return data;
  };
  const json = async (name: string): Promise<unknown> => {
    const text = new TextDecoder().decode(await get(name));
    try {
      return JSON.parse(text);
    } catch {
      throw new Unreadable(`${name} is not valid JSON`);
    }
  };
  let set: FileSet;
  try {
    const raw = await json('metadata.json');
    let metadata: ModelMetadata;
    try {
      metadata = parseMetadata(raw);
    } catch (err) {
      throw new Unreadable(`metadata.json: ${(err as Error).message}`);
    }
    const modelJson = (await json('model.json')) as ModelJson;
    for (const name of modelJson.weightsManifest.flatMap((group) => group.paths)) await get(name);
    set = { metadata, modelJson, bytes };
  } catch (err) {
    if (err instanceof Unreadable) return [err.message];
    throw err;
  }
  const problems = await mismatches(set);
  return problems.length === 0 ? set : problems;
}

/** Files of `set` that do not match the sums in its metadata.json. */
async function mismatches(set: FileSet): Promise<string[]> {
  const sums = new Map<string, string>();
  for (const [name, data] of set.bytes) if (name !== 'metadata.json') sums.set(name, await sha256(data));
  return checksumProblems(set.metadata.weights, sums);
}

async function sha256(data: ArrayBuffer): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

interface Evicted {
  cache: Cache;
  request: Request;
  name: string;
  data: ArrayBuffer;
}

/** Deletes every cached file under `dir` (the service worker's precache included), remembering where each was. */
async function evict(dir: string): Promise<Evicted[]> {
  if (!('caches' in globalThis)) return [];
  const prefix = new URL(dir, location.href).pathname;
  const evicted: Evicted[] = [];
  for (const cacheName of await caches.keys()) {
    const cache = await caches.open(cacheName);
    for (const request of await cache.keys()) {
      const path = new URL(request.url).pathname;
      if (!path.startsWith(prefix)) continue;
      const data = (await (await cache.match(request))?.arrayBuffer()) ?? new ArrayBuffer(0);
      await cache.delete(request);
      evicted.push({ cache, request, name: path.slice(prefix.length), data });
    }
  }
  return evicted;
}

/** Puts files back under the keys they were evicted from, so the app keeps working offline. */
async function restore(evicted: readonly Evicted[], bytes: ReadonlyMap<string, ArrayBuffer>): Promise<void> {
  for (const { cache, request, name } of evicted) {
    const data = bytes.get(name);
    if (!data) continue;
    const type = name.endsWith('.json') ? 'application/json' : 'application/octet-stream';
    await cache.put(request, new Response(data, { headers: { 'Content-Type': type } }));
  }
}

function toModel({ metadata, modelJson, bytes }: FileSet, repaired: string[]): VerifiedModel {
  const weightSpecs = modelJson.weightsManifest.flatMap((group) => group.weights);
  const weightData = tf.io.concatenateArrayBuffers(
    modelJson.weightsManifest.flatMap((group) => group.paths.map((name) => bytes.get(name)!)),
  );
  return {
    metadata,
    handler: tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs, weightData }),
    repaired,
  };
}
