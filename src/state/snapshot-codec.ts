import { Packr } from 'msgpackr';
import type { Quote } from './types.js';

/**
 * The whole applied state, as carried in a Raft snapshot.
 *
 * Client data travels as JSON text, never as msgpack maps: msgpack would rename an object
 * key `__proto__` (msgpackr guards against prototype pollution) and would not round-trip
 * -0, so a replica restored from a snapshot would hold different data than one that applied
 * the log. Keys (kv, idempotency) are listed in code point order, quotes and client entries
 * in index order, so equal states encode to equal bytes.
 */
export interface StateImage {
  version: 2;
  appliedIndex: number;
  appliedTerm: number;
  kv: Array<[key: string, valueJson: string, index: number]>;
  quotes: Quote[];
  idempotency: Array<[key: string, index: number, resultJson: string]>;
  clientLog: Array<[index: number, term: number, commandJson: string]>;
}

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeStateImage(image: StateImage): Uint8Array {
  return packr.pack(image);
}

/** Decodes a snapshot; throws a clear error for anything that is not a StateImage (v1 is upgraded). */
export function decodeStateImage(data: Uint8Array): StateImage {
  let image: unknown;
  try {
    image = packr.unpack(data);
  } catch (err) {
    throw new Error(`snapshot data is not decodable: ${(err as Error).message}`);
  }
  const candidate = image as Partial<Omit<StateImage, 'version'>> & { version?: unknown } | null;
  const shapeOk =
    candidate !== null &&
    typeof candidate === 'object' &&
    (candidate.version === 1 || candidate.version === 2) &&
    [candidate.kv, candidate.quotes, candidate.idempotency, candidate.clientLog].every(Array.isArray) &&
    Number.isInteger(candidate.appliedIndex);
  if (!shapeOk) throw new Error('snapshot data is not a raftquotes state image (version 1 or 2)');
  return candidate.version === 1 ? upgradeV1(candidate as StateImage) : (candidate as StateImage);
}

/** Version 1 carried results and commands as msgpack maps; v2 carries their JSON text. */
function upgradeV1(image: StateImage): StateImage {
  const v1 = image as unknown as { idempotency: Array<[string, number, unknown]>; clientLog: Array<[number, number, unknown]> };
  return {
    ...image,
    version: 2,
    idempotency: v1.idempotency.map(([key, index, result]) => [key, index, JSON.stringify(result)]),
    clientLog: v1.clientLog.map(([index, term, command]) => [index, term, JSON.stringify(command)]),
  };
}
