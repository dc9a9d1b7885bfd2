/**
 * The CSE 486/586 controller protocol (SPEC §4): message shapes, request names and aliases,
 * validation of incoming datagrams, and the replies, each kept under the datagram limits.
 * Pure functions only: the server and the client share them.
 */
import type { NodeStatus } from '../node/types.js';
import { MAX_JSON_DEPTH, isTooDeep } from '../state/json-limits.js';
import { keyProblem as keyProblemOf } from '../state/keys.js';
import type { CommittedClientEntry } from '../state/types.js';
import { errorMessage, oneOf } from '../narrow.js';

/** SPEC §4: a reply never exceeds this many bytes. */
export const MAX_REPLY_BYTES = 60_000;
/**
 * Largest request datagram accepted. Not 64 KiB: the kernel never delivers a UDP payload
 * above 65,507 bytes (IPv4), so a 64 KiB check could never fire. 60,000 mirrors the reply limit.
 */
export const MAX_REQUEST_BYTES = 60_000;
/** Course graders read replies with recvfrom(1024): LEADER_INFO and STORE acks stay below it. */
export const COURSE_BUFFER_BYTES = 1024;
/** How much of an unknown request name an ERROR reply echoes back. */
const MAX_ECHOED_REQUEST_CHARS = 64;

/** The course's request names. */
export const CONTROLLER_REQUESTS = ['CONVERT_FOLLOWER', 'TIMEOUT', 'SHUTDOWN', 'LEADER_INFO', 'STORE', 'RETRIEVE', 'STATUS'] as const;
export type ControllerRequest = (typeof CONTROLLER_REQUESTS)[number];

/** The seed project's aliases, accepted as synonyms. */
export const REQUEST_ALIASES: Readonly<Record<string, ControllerRequest>> = {
  FOLLOW: 'CONVERT_FOLLOWER',
  TRYLEAD: 'TIMEOUT',
  PLAYDEAD: 'SHUTDOWN',
};

/** Requests the node never answers (the controller just fires them). */
export const SILENT_REQUESTS: ReadonlySet<ControllerRequest> = new Set(['CONVERT_FOLLOWER', 'TIMEOUT', 'SHUTDOWN']);

/** A protocol message: the course template plus any extra fields. */
export interface ControllerMessage {
  sender_name?: string | null;
  request?: unknown;
  term?: number | null;
  key?: unknown;
  value?: unknown;
  [extra: string]: unknown;
}

/** A validated request. */
export type ParsedRequest =
  | { request: 'STORE'; key: string; value: unknown; ack: boolean }
  | { request: 'RETRIEVE'; from: number }
  | { request: Exclude<ControllerRequest, 'STORE' | 'RETRIEVE'> };

/** A datagram that must be answered with one ERROR reply. */
export interface BadDatagram {
  bad: true;
  /** The request name as sent (truncated), or null when there was none. */
  request: string | null;
  reason: string;
}

/** The canonical request for a name or alias, or null when unknown. */
export function canonicalRequest(name: string): ControllerRequest | null {
  return oneOf(CONTROLLER_REQUESTS, name) ?? REQUEST_ALIASES[name] ?? null;
}

/** Bytes of a value's compact JSON encoding. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? 'null', 'utf8');
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

const bad = (request: string | null, reason: string): BadDatagram => ({ bad: true, request, reason });
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes one datagram into a JSON object, or explains why it is not one. */
function decodeObject(data: Uint8Array, maxBytes: number): { message: Record<string, unknown> } | BadDatagram {
  if (data.byteLength > maxBytes) return bad(null, `datagram is ${data.byteLength} bytes; the limit is ${maxBytes}`);
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return bad(null, 'datagram is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return bad(null, `datagram is not JSON (${errorMessage(err)})`);
  }
  if (kindOf(parsed) !== 'object') return bad(null, `expected a JSON object, got ${kindOf(parsed)}`);
  return { message: parsed as Record<string, unknown> };
}

/** Checks the envelope fields every request shares; returns a reason or null. */
function envelopeProblem(message: Record<string, unknown>): string | null {
  const sender = message.sender_name;
  if (sender !== undefined && sender !== null && typeof sender !== 'string') return `sender_name: expected a string or null, got ${kindOf(sender)}`;
  const term = message.term;
  if (term !== undefined && term !== null && !(typeof term === 'number' && Number.isFinite(term))) return `term: expected a number or null, got ${kindOf(term)}`;
  return null;
}

/** A key as PUT /api/kv/<key> accepts it (SPEC §3, the same rules: state/keys.ts), or the reason it is refused. */
export function keyProblem(key: unknown): string | null {
  if (typeof key !== 'string') return `key: expected a string, got ${kindOf(key)}`;
  const problem = keyProblemOf(key);
  return problem === null ? null : `key: ${problem}`;
}

function parseStore(message: Record<string, unknown>): ParsedRequest | BadDatagram {
  const key = message.key;
  const problem = keyProblem(key);
  if (problem !== null || typeof key !== 'string') return bad('STORE', problem ?? 'key: expected a string');
  if (message.value === undefined) return bad('STORE', 'value: missing (any JSON value, null included)');
  // SPEC §3 limit, as PUT /api/kv checks it: a deeper value is refused before anything walks it
  // recursively (JSON.stringify in the replies, canonicalJson when applied).
  if (isTooDeep(message.value)) return bad('STORE', `value: nested deeper than ${MAX_JSON_DEPTH} arrays/objects`);
  const ack = message.ack;
  if (ack !== undefined && ack !== null && typeof ack !== 'boolean') return bad('STORE', `ack: expected true or false, got ${kindOf(ack)}`);
  return { request: 'STORE', key, value: message.value, ack: ack === true };
}

/**
 * RETRIEVE pages with `"value": {"from": <index>}`. Any other value (course controllers often
 * reuse one message dict, so a stale STORE value may ride along) means "from the start".
 */
function parseRetrieve(message: Record<string, unknown>): ParsedRequest | BadDatagram {
  const value = message.value;
  if (kindOf(value) !== 'object' || !('from' in (value as object))) return { request: 'RETRIEVE', from: 1 };
  const from = (value as { from: unknown }).from;
  if (typeof from !== 'number' || !Number.isSafeInteger(from) || from < 1) return bad('RETRIEVE', `value.from: expected a log index >= 1, got ${JSON.stringify(from)}`);
  return { request: 'RETRIEVE', from };
}

/** Validates one datagram: a request to act on, or a BadDatagram to answer with ERROR. */
export function parseDatagram(data: Uint8Array, maxBytes = MAX_REQUEST_BYTES): ParsedRequest | BadDatagram {
  const decoded = decodeObject(data, maxBytes);
  if ('bad' in decoded) return decoded;
  const message = decoded.message;
  const name = message.request;
  if (name === undefined) return bad(null, 'request: missing');
  if (typeof name !== 'string') return bad(null, `request: expected a string, got ${kindOf(name)}`);
  const echoed = name.length > MAX_ECHOED_REQUEST_CHARS ? `${name.slice(0, MAX_ECHOED_REQUEST_CHARS)}…` : name;
  const request = canonicalRequest(name);
  if (!request) return bad(echoed, `unknown request "${echoed}"; expected one of ${[...CONTROLLER_REQUESTS, ...Object.keys(REQUEST_ALIASES)].join(', ')}`);
  const problem = envelopeProblem(message);
  if (problem) return bad(echoed, problem);
  if (request === 'STORE') return parseStore(message);
  if (request === 'RETRIEVE') return parseRetrieve(message);
  return { request };
}

// ------------------------------------------------------------------------------- replies

/** `{"sender_name","request":"LEADER_INFO","term","key":"LEADER","value"}`. */
export function leaderInfoReply(sender: string, term: number, leader: string | null): ControllerMessage {
  return { sender_name: sender, request: 'LEADER_INFO', term, key: 'LEADER', value: leader };
}

/** The ERROR reply for a bad datagram (sender_name added so course scripts can print it). */
export function errorReply(sender: string, request: string | null, reason: string): ControllerMessage {
  return { sender_name: sender, request: 'ERROR', key: request, value: reason };
}

/**
 * The STORE acknowledgement. It echoes key and value, except a value that would push the
 * reply past a course grader's 1024-byte buffer: then `value` is null and `value_omitted` true.
 */
export function storeAckReply(sender: string, fields: { key: string; value: unknown; term: number; index: number }): ControllerMessage {
  const reply: ControllerMessage = { sender_name: sender, request: 'STORE', key: fields.key, value: fields.value, term: fields.term, index: fields.index };
  return jsonBytes(reply) <= COURSE_BUFFER_BYTES ? reply : { ...reply, value: null, value_omitted: true };
}

/** A STORE that did not commit: `error` is a SPEC §3 code (timeout: the outcome is unknown). */
export function storeErrorReply(sender: string, fields: { key: string; value: unknown; term: number; error: string; leader?: string | null }): ControllerMessage {
  const reply: ControllerMessage = { sender_name: sender, request: 'STORE', error: fields.error, key: fields.key, value: fields.value, term: fields.term };
  if (fields.leader) reply.leader = fields.leader;
  return jsonBytes(reply) <= COURSE_BUFFER_BYTES ? reply : { ...reply, value: null, value_omitted: true };
}

/** One entry of RETRIEVE's COMMITED_LOGS, as the course shows it. */
export interface RetrieveEntry {
  Term: number;
  Key: string;
  Value: unknown;
  /** Present only when the value alone would not fit in a reply (it is then null). */
  Truncated?: true;
}

/** SPEC §4: KV put → key/value; delete → key/null; cas → key/`to`; quote → "quote"/{text, author}. */
export function toRetrieveEntry(entry: CommittedClientEntry): RetrieveEntry {
  const command = entry.command;
  switch (command.op) {
    case 'put':
      return { Term: entry.term, Key: command.key, Value: command.value };
    case 'delete':
      return { Term: entry.term, Key: command.key, Value: null };
    case 'cas':
      return { Term: entry.term, Key: command.key, Value: command.to };
    case 'quote':
      return { Term: entry.term, Key: 'quote', Value: { text: command.text, author: command.author } };
  }
}

/** Reads committed client entries with index >= from, oldest first, at most `limit`. */
export type EntrySource = (from: number, limit: number) => CommittedClientEntry[];

/** Entries read from the state machine per call while filling a RETRIEVE reply. */
const RETRIEVE_BATCH = 512;
/** A `"next"` field with the largest index it could ever hold, counted in advance. */
const NEXT_FIELD_BYTES = `,"next":${Number.MAX_SAFE_INTEGER}`.length;

/**
 * The RETRIEVE reply: the oldest committed entries from `from` that fit in MAX_REPLY_BYTES,
 * plus `"next"` when more remain. An entry too large to fit even alone is sent truncated,
 * so paging always moves forward.
 */
export function retrieveReply(sender: string, source: EntrySource, from: number, maxBytes = MAX_REPLY_BYTES): ControllerMessage {
  const reply: ControllerMessage = { sender_name: sender, request: 'RETRIEVE', term: null, key: 'COMMITED_LOGS', value: [] };
  const entries: RetrieveEntry[] = [];
  let used = jsonBytes(reply) + NEXT_FIELD_BYTES;
  let cursor = from;
  for (;;) {
    const batch = source(cursor, RETRIEVE_BATCH);
    for (const entry of batch) {
      let shown = toRetrieveEntry(entry);
      let bytes = jsonBytes(shown) + (entries.length > 0 ? 1 : 0);
      if (used + bytes > maxBytes) {
        if (entries.length > 0) return { ...reply, value: entries, next: entry.index };
        shown = { Term: shown.Term, Key: shown.Key, Value: null, Truncated: true };
        bytes = jsonBytes(shown);
      }
      entries.push(shown);
      used += bytes;
      cursor = entry.index + 1;
    }
    if (batch.length < RETRIEVE_BATCH) return { ...reply, value: entries };
  }
}

/** The STATUS reply; per-peer detail is dropped if it would not fit in one datagram. */
export function statusReply(sender: string, status: NodeStatus, maxBytes = MAX_REPLY_BYTES): ControllerMessage {
  const reply: ControllerMessage = { sender_name: sender, request: 'STATUS', term: status.term, key: 'STATUS', value: status };
  if (jsonBytes(reply) <= maxBytes) return reply;
  return { ...reply, value: { ...status, peers: {}, peersOmitted: Object.keys(status.peers).length } };
}

/** Encodes a reply; throws if it breaks the datagram limit (a bug, never a user input). */
export function encodeReply(reply: ControllerMessage, maxBytes = MAX_REPLY_BYTES): Buffer {
  const data = Buffer.from(JSON.stringify(reply), 'utf8');
  if (data.byteLength > maxBytes) throw new Error(`controller reply of ${data.byteLength} bytes exceeds ${maxBytes}`);
  return data;
}

/** A request message in the course template, for clients. */
export function requestMessage(sender: string, request: string, fields: { key?: unknown; value?: unknown; term?: number | null; ack?: boolean } = {}): ControllerMessage {
  const message: ControllerMessage = { sender_name: sender, request, term: fields.term ?? null, key: fields.key ?? null, value: fields.value === undefined ? null : fields.value };
  if (fields.ack) message.ack = true;
  return message;
}
