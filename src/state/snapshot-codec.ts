import { Packr } from 'msgpackr';
import type { ApplyResult, Command, Quote } from './types.js';

/** The whole applied state, as carried in a Raft snapshot. Values stay JSON text. */
export interface StateImage {
  version: 1;
  appliedIndex: number;
  appliedTerm: number;
  kv: Array<[key: string, valueJson: string, index: number]>;
  quotes: Quote[];
  idempotency: Array<[key: string, index: number, result: ApplyResult]>;
  clientLog: Array<[index: number, term: number, command: Command]>;
}

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeStateImage(image: StateImage): Uint8Array {
  return packr.pack(image);
}

/** Decodes a snapshot; throws a clear error for anything that is not a StateImage v1. */
export function decodeStateImage(data: Uint8Array): StateImage {
  let image: unknown;
  try {
    image = packr.unpack(data);
  } catch (err) {
    throw new Error(`snapshot data is not decodable: ${(err as Error).message}`);
  }
  const candidate = image as Partial<StateImage> | null;
  const shapeOk =
    candidate !== null &&
    typeof candidate === 'object' &&
    candidate.version === 1 &&
    [candidate.kv, candidate.quotes, candidate.idempotency, candidate.clientLog].every(Array.isArray) &&
    Number.isInteger(candidate.appliedIndex);
  if (!shapeOk) throw new Error('snapshot data is not a raftquotes state image (version 1)');
  return candidate as StateImage;
}
