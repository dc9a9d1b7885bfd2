import { Packr } from 'msgpackr';
import { assert } from '@raftquotes/raft';
import type { Quote } from './types.js';
import { errorMessage } from '../narrow.js';

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
  appliedIndex: number;
  appliedTerm: number;
  kv: KvRow[];
  quotes: Quote[];
  idempotency: IdempotencyRow[];
  clientLog: ClientLogRow[];
}

export type KvRow = [key: string, valueJson: string, index: number];
export type QuoteRow = [index: number, term: number, text: string, author: string, postedAt: string];
/** requestHash is '' for a record carried over from a version 1-3 image (see IdempotencyRecord). */
export type IdempotencyRow = [key: string, index: number, resultJson: string, requestHash: string];
export type ClientLogRow = [index: number, term: number, commandJson: string];

/** The image's tables, in the order they are written. */
export const IMAGE_SECTIONS = ['kv', 'quotes', 'idempotency', 'clientLog'] as const;
export type ImageSection = (typeof IMAGE_SECTIONS)[number];
interface SectionRows {
  kv: KvRow;
  quotes: QuoteRow;
  idempotency: IdempotencyRow;
  clientLog: ClientLogRow;
}

/**
 * Rows per page of a version 3 or 4 image. A page is the unit of work of an image built while the
 * node keeps serving (~5 ms), so every writer must use the same size for equal bytes.
 */
export const IMAGE_PAGE_ROWS = 4096;
/**
 * Version 4 adds the request hash to each idempotency row (Idempotency-Key reuse, SPEC §3);
 * otherwise it is version 3, which is still read (its records get hash '').
 */
const IMAGE_VERSION = 4;
const PAGED_VERSIONS: readonly unknown[] = [3, IMAGE_VERSION];

const packr = new Packr({ useRecords: false, moreTypes: false });

/**
 * Versions 3 and 4 are a stream of msgpack values: a header, then pages `[section, rows]` of at most
 * IMAGE_PAGE_ROWS rows, sections in IMAGE_SECTIONS order. Being paged, it can be written a page
 * per event-loop turn: a large image (54 MB for 200,000 keys) built in one go blocked the
 * leader for ~1 s, longer than an election timeout.
 */
export class StateImageWriter {
  private readonly parts: Buffer[];
  private section = 0;

  constructor(appliedIndex: number, appliedTerm: number) {
    this.parts = [packr.pack({ version: IMAGE_VERSION, appliedIndex, appliedTerm })];
  }

  /** Adds one page (≤ IMAGE_PAGE_ROWS rows); sections must come in IMAGE_SECTIONS order. */
  page<S extends ImageSection>(section: S, rows: Array<SectionRows[S]>): void {
    const at = IMAGE_SECTIONS.indexOf(section);
    assert(at >= this.section, () => `image section ${section} written after ${IMAGE_SECTIONS[this.section]}`);
    assert(rows.length <= IMAGE_PAGE_ROWS, () => `image page of ${rows.length} rows`);
    this.section = at;
    if (rows.length > 0) this.parts.push(packr.pack([section, rows]));
  }

  finish(): Uint8Array {
    return Buffer.concat(this.parts);
  }
}

/**
 * The first value of a paged image, for a writer that streams its pages (a backup) instead of
 * collecting them in a StateImageWriter; followed by encodeImagePage values, sections in order.
 */
export function encodeImageStart(appliedIndex: number, appliedTerm: number): Buffer {
  return packr.pack({ version: IMAGE_VERSION, appliedIndex, appliedTerm });
}

/** One page of a streamed image (see encodeImageStart); an empty page encodes to nothing. */
export function encodeImagePage<S extends ImageSection>(section: S, rows: Array<SectionRows[S]>): Buffer {
  assert(rows.length <= IMAGE_PAGE_ROWS, () => `image page of ${rows.length} rows`);
  return rows.length === 0 ? Buffer.alloc(0) : packr.pack([section, rows]);
}

export function encodeStateImage(image: StateImage): Uint8Array {
  const writer = new StateImageWriter(image.appliedIndex, image.appliedTerm);
  const quoteRows = image.quotes.map((q): QuoteRow => [q.index, q.term, q.text, q.author, q.postedAt]);
  const tables: { [S in ImageSection]: Array<SectionRows[S]> } = { kv: image.kv, quotes: quoteRows, idempotency: image.idempotency, clientLog: image.clientLog };
  for (const section of IMAGE_SECTIONS) {
    const rows = tables[section];
    for (let i = 0; i < rows.length; i += IMAGE_PAGE_ROWS) writer.page(section, rows.slice(i, i + IMAGE_PAGE_ROWS));
  }
  return writer.finish();
}

/** One decoded page of an image: up to IMAGE_PAGE_ROWS rows of one section. */
export type ImagePage =
  | { section: 'kv'; rows: KvRow[] }
  | { section: 'quotes'; rows: Quote[] }
  | { section: 'idempotency'; rows: IdempotencyRow[] }
  | { section: 'clientLog'; rows: ClientLogRow[] };

/** What an image says about itself. */
export interface ImageHeader {
  appliedIndex: number;
  appliedTerm: number;
}

/**
 * Walks a snapshot image a page at a time, so a restore holds one page of rows (at most
 * IMAGE_PAGE_ROWS) in the V8 heap rather than the whole state: nodes run with a capped
 * old space (--max-old-space-size, see NODE_V8_FLAGS), and an image decoded whole would
 * need about its own size in heap strings. Throws a clear error for anything that is not a
 * state image; an error thrown by `visit` stops the walk and propagates unchanged. `visit`
 * must not decode msgpack itself (msgpackr's decoder state is per module, not per call).
 * Versions 1 and 2 (one msgpack map) are decoded whole, as they were written.
 */
export function forEachImagePage(data: Uint8Array, visit: (page: ImagePage) => void): ImageHeader {
  const walk: { first?: unknown; header?: ImageHeader; extraValues: number; ourError?: unknown } = { extraValues: 0 };
  const onValue = (value: unknown): boolean => {
    if (!('first' in walk)) {
      walk.first = value;
      walk.header = pagedHeader(value);
      return true;
    }
    if (!walk.header) {
      walk.extraValues++;
      return false;
    }
    visit(toPage(value));
    return true;
  };
  try {
    packr.unpackMultiple(data, (value: unknown) => {
      try {
        return onValue(value);
      } catch (err) {
        walk.ourError = err; // not a decoding error: rethrown as it is below
        return false;
      }
    });
  } catch (err) {
    throw new Error(`snapshot data is not decodable: ${errorMessage(err)}`);
  }
  if (walk.ourError !== undefined) throw walk.ourError;
  if (walk.header) return walk.header;
  if (walk.extraValues > 0) throw new Error('snapshot data is not a raftquotes state image');
  return visitLegacy(fromSingleValue(walk.first), visit);
}

/** Decodes a whole snapshot (the in-memory state machine and tests); see forEachImagePage. */
export function decodeStateImage(data: Uint8Array): StateImage {
  const image: StateImage = { appliedIndex: 0, appliedTerm: 0, kv: [], quotes: [], idempotency: [], clientLog: [] };
  const header = forEachImagePage(data, (page) => {
    const rows = image[page.section] as unknown[];
    for (const row of page.rows) rows.push(row);
  });
  return { ...image, ...header };
}

/** The header of a version 3 or 4 (paged) image, or undefined for anything else. */
function pagedHeader(value: unknown): ImageHeader | undefined {
  const header = value as { version?: unknown; appliedIndex?: unknown; appliedTerm?: unknown } | null | undefined;
  if (header === null || typeof header !== 'object' || !PAGED_VERSIONS.includes(header.version)) return undefined;
  if (!Number.isInteger(header.appliedIndex) || !Number.isInteger(header.appliedTerm)) throw new Error('snapshot image header lacks its applied index and term');
  return { appliedIndex: header.appliedIndex as number, appliedTerm: header.appliedTerm as number };
}

function toPage(value: unknown): ImagePage {
  const [section, rows] = Array.isArray(value) ? (value as [unknown, unknown]) : [null, null];
  if (!IMAGE_SECTIONS.includes(section as ImageSection) || !Array.isArray(rows)) throw new Error('snapshot image page is malformed');
  if (section === 'quotes') return { section, rows: (rows as QuoteRow[]).map(([index, term, text, author, postedAt]) => ({ index, term, text, author, postedAt })) };
  if (section === 'idempotency') return { section, rows: withHashes(rows as IdempotencyRow[]) };
  return { section, rows } as ImagePage;
}

/** Idempotency rows of a version 1-3 image have no request hash: '' (matches any retry). */
function withHashes(rows: IdempotencyRow[]): IdempotencyRow[] {
  return rows.map((row) => (typeof row[3] === 'string' ? row : [row[0], row[1], row[2], '']));
}

/** A version 1 or 2 image holds each section whole: one page per section. */
function visitLegacy(image: StateImage, visit: (page: ImagePage) => void): ImageHeader {
  visit({ section: 'kv', rows: image.kv });
  visit({ section: 'quotes', rows: image.quotes });
  visit({ section: 'idempotency', rows: withHashes(image.idempotency) });
  visit({ section: 'clientLog', rows: image.clientLog });
  return { appliedIndex: image.appliedIndex, appliedTerm: image.appliedTerm ?? 0 };
}

/** Versions 1 and 2: one msgpack map. */
function fromSingleValue(value: unknown): StateImage {
  const candidate = value as (Partial<StateImage> & { version?: unknown }) | null;
  const shapeOk =
    candidate !== null &&
    typeof candidate === 'object' &&
    (candidate.version === 1 || candidate.version === 2) &&
    [candidate.kv, candidate.quotes, candidate.idempotency, candidate.clientLog].every(Array.isArray) &&
    Number.isInteger(candidate.appliedIndex);
  if (!shapeOk) throw new Error('snapshot data is not a raftquotes state image (version 1, 2, 3 or 4)');
  return candidate.version === 1 ? upgradeV1(candidate as StateImage) : (candidate as StateImage);
}

/** Version 1 carried results and commands as msgpack maps; v2 carries their JSON text. */
function upgradeV1(image: StateImage): StateImage {
  const v1 = image as unknown as { idempotency: Array<[string, number, unknown]>; clientLog: Array<[number, number, unknown]> };
  return {
    ...image,
    idempotency: v1.idempotency.map(([key, index, result]) => [key, index, JSON.stringify(result), '']),
    clientLog: v1.clientLog.map(([index, term, command]) => [index, term, JSON.stringify(command)]),
  };
}
