import { constants as bufferConstants } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { forEachImagePage } from './snapshot-codec.js';
import { errorMessage, isRecord } from '../narrow.js';

/**
 * The backup file (SPEC §10): the state image that InstallSnapshot sends (snapshot-codec.ts,
 * not a second format), between a small header that says what it is and a trailer that seals it.
 *
 * Format 2 (written since the backup is streamed: its size and hash are known only at the end):
 *   "RQBACKUP"  8 bytes, the magic
 *   u32 BE      length of the header
 *   header      JSON: format, backupId, createdAt, sourceNode, index, term, voters
 *   image       a state image whose applied index is header.index, streamed page by page
 *   trailer     "RQBKEND\n" (8 bytes), u64 BE byte length of the image, 32-byte SHA-256 of the image
 *
 * Format 1 (still read) had no trailer: its header carried imageBytes and imageSha256.
 * The trailer (or the header's length), the SHA-256 and the image's own header let a reader
 * refuse a truncated, damaged or foreign file before it writes anything: a stream cut short
 * has no trailer at its end.
 */

export const BACKUP_MAGIC = Buffer.from('RQBACKUP', 'ascii');
/** The format this code writes and the newest it reads; a newer file is refused, never guessed at. */
export const BACKUP_FORMAT = 2;
/** Marks the end of a format 2 backup; without it at the end, the file was cut short. */
export const BACKUP_TRAILER_MAGIC = Buffer.from('RQBKEND\n', 'ascii');
/** Magic, u64 image length, SHA-256. */
export const BACKUP_TRAILER_BYTES = BACKUP_TRAILER_MAGIC.length + 8 + 32;
/** A header is a few hundred bytes (voter ids are ≤ 64 characters, ≤ 9 voters). */
export const MAX_BACKUP_HEADER_BYTES = 64 * 1024;
/** The largest image a Buffer holds; the state quota (2 GiB default) keeps real ones well under. */
export const MAX_BACKUP_IMAGE_BYTES = bufferConstants.MAX_LENGTH;
/** Voters in a configuration (config.ts allows 9). */
const MAX_BACKUP_VOTERS = 64;
const PREFIX_BYTES = BACKUP_MAGIC.length + 4;
const ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** What a backup says about itself (format 2 carries imageBytes and imageSha256 in its trailer). */
export interface BackupHeader {
  format: number;
  /** Random, per backup: the default cluster id of a cluster restored from it derives from this. */
  backupId: string;
  createdAt: string;
  /** The node that served it. */
  sourceNode: string;
  /** The applied index and term of the image: every write acknowledged before the backup began is at or below it. */
  index: number;
  term: number;
  /** The configuration at the time (a restore replaces it with --peers). */
  voters: string[];
  imageBytes: number;
  /** Hex SHA-256 of the image. */
  imageSha256: string;
}

/** A file that is not a backup this version can restore. `code` says which way. */
export class BackupFormatError extends Error {
  override readonly name = 'BackupFormatError';
  constructor(
    readonly code: 'not_a_backup' | 'newer_format' | 'truncated' | 'damaged',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The header a format 2 backup starts with: everything but the image's size and hash. */
export type BackupStartHeader = Omit<BackupHeader, 'imageBytes' | 'imageSha256'>;

/** The bytes before the image (format 2): magic, header length, header. */
export function encodeBackupStart(image: { index: number; term: number }, sourceNode: string, voters: string[]): { head: Buffer; header: BackupStartHeader } {
  const header: BackupStartHeader = {
    format: BACKUP_FORMAT,
    backupId: randomBytes(12).toString('hex'),
    createdAt: new Date().toISOString(),
    sourceNode,
    index: image.index,
    term: image.term,
    voters: [...voters],
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length, 0);
  return { head: Buffer.concat([BACKUP_MAGIC, length, json]), header };
}

/** The bytes after the image (format 2): end magic, image length, SHA-256 of the image. */
export function encodeBackupTrailer(imageBytes: number, imageSha256: Buffer): Buffer {
  const trailer = Buffer.alloc(BACKUP_TRAILER_BYTES);
  BACKUP_TRAILER_MAGIC.copy(trailer, 0);
  trailer.writeBigUInt64BE(BigInt(imageBytes), BACKUP_TRAILER_MAGIC.length);
  imageSha256.copy(trailer, BACKUP_TRAILER_MAGIC.length + 8);
  return trailer;
}

/**
 * Reads the head from the first bytes of a file; `totalBytes` is the file's size, so a short
 * file is named truncated with both sizes. Returns the header and where the image starts.
 */
export function parseBackupHead(prefix: Buffer, totalBytes: number): { header: BackupHeader; imageOffset: number } {
  if (prefix.length < BACKUP_MAGIC.length || !prefix.subarray(0, BACKUP_MAGIC.length).equals(BACKUP_MAGIC)) {
    throw new BackupFormatError('not_a_backup', 'not a raftquotes backup (no RQBACKUP magic at the start)');
  }
  if (prefix.length < PREFIX_BYTES) throw new BackupFormatError('truncated', `truncated backup: ${totalBytes} bytes, not even a header`);
  const headerBytes = prefix.readUInt32BE(BACKUP_MAGIC.length);
  if (headerBytes === 0 || headerBytes > MAX_BACKUP_HEADER_BYTES) throw new BackupFormatError('not_a_backup', `not a raftquotes backup (header of ${headerBytes} bytes)`);
  if (prefix.length < PREFIX_BYTES + headerBytes) throw new BackupFormatError('truncated', `truncated backup: ${totalBytes} bytes, the header alone needs ${PREFIX_BYTES + headerBytes}`);
  const header = checkHeader(prefix.subarray(PREFIX_BYTES, PREFIX_BYTES + headerBytes));
  const imageOffset = PREFIX_BYTES + headerBytes;
  if (header.format >= 2) {
    if (totalBytes < imageOffset + BACKUP_TRAILER_BYTES) throw new BackupFormatError('truncated', `truncated backup: ${totalBytes} bytes, too short for an image and its end marker`);
    return { header, imageOffset };
  }
  const expected = imageOffset + header.imageBytes;
  if (totalBytes < expected) throw new BackupFormatError('truncated', `truncated backup: ${totalBytes} bytes of ${expected}`);
  if (totalBytes > expected) throw new BackupFormatError('damaged', `damaged backup: ${totalBytes} bytes, but its header says ${expected}`);
  return { header, imageOffset };
}

/** Bytes of the head (magic, length, header) at the start of `prefix`, or null until enough has arrived. */
export function backupHeadBytes(prefix: Buffer): number | null {
  if (prefix.length < PREFIX_BYTES) return null;
  return PREFIX_BYTES + prefix.readUInt32BE(BACKUP_MAGIC.length);
}

/**
 * Parses and verifies a whole backup: head, size, checksum, and every page of the image
 * (decoded, not applied), so a restore that starts is a restore that finishes.
 */
export function parseBackup(data: Buffer): { header: BackupHeader; image: Buffer } {
  const { header, imageOffset } = parseBackupHead(data.subarray(0, Math.min(data.length, PREFIX_BYTES + MAX_BACKUP_HEADER_BYTES)), data.length);
  if (header.format >= 2) sealFromTrailer(header, data, imageOffset);
  const image = data.subarray(imageOffset, imageOffset + header.imageBytes);
  if (createHash('sha256').update(image).digest('hex') !== header.imageSha256) throw new BackupFormatError('damaged', 'damaged backup: the image does not match its SHA-256');
  let imageHeader: { appliedIndex: number; appliedTerm: number };
  try {
    imageHeader = forEachImagePage(image, () => undefined);
  } catch (err) {
    throw new BackupFormatError('damaged', `damaged backup: ${errorMessage(err)}`, { cause: err });
  }
  if (imageHeader.appliedIndex !== header.index || imageHeader.appliedTerm !== header.term) {
    throw new BackupFormatError('damaged', `damaged backup: the header says index ${header.index} term ${header.term}, the image ${imageHeader.appliedIndex} term ${imageHeader.appliedTerm}`);
  }
  return { header, image };
}

/** Format 2: the trailer must end the file and agree with it; it gives the image's size and hash. */
function sealFromTrailer(header: BackupHeader, data: Buffer, imageOffset: number): void {
  const trailer = data.subarray(data.length - BACKUP_TRAILER_BYTES);
  if (!trailer.subarray(0, BACKUP_TRAILER_MAGIC.length).equals(BACKUP_TRAILER_MAGIC)) {
    throw new BackupFormatError('truncated', `truncated backup: ${data.length} bytes and no end marker (the stream was cut short)`);
  }
  const imageBytes = Number(trailer.readBigUInt64BE(BACKUP_TRAILER_MAGIC.length));
  const expected = data.length - imageOffset - BACKUP_TRAILER_BYTES;
  if (imageBytes !== expected) throw new BackupFormatError('damaged', `damaged backup: its end marker says ${imageBytes} bytes of image, the file holds ${expected}`);
  header.imageBytes = imageBytes;
  header.imageSha256 = trailer.subarray(BACKUP_TRAILER_MAGIC.length + 8).toString('hex');
}

function checkHeader(json: Buffer): BackupHeader {
  let value: unknown;
  try {
    value = JSON.parse(json.toString('utf8'));
  } catch {
    throw new BackupFormatError('not_a_backup', 'not a raftquotes backup (its header is not JSON)');
  }
  const h = isRecord(value) ? value : {};
  const count = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (!count(h.format) || h.format < 1) throw new BackupFormatError('not_a_backup', 'not a raftquotes backup (its header has no format)');
  if (h.format > BACKUP_FORMAT) {
    throw new BackupFormatError('newer_format', `backup format ${String(h.format)} is newer than this raftquotes reads (${BACKUP_FORMAT}); restore it with the version that made it`);
  }
  const ok =
    typeof h.backupId === 'string' && /^[0-9a-f]{8,64}$/.test(h.backupId) &&
    typeof h.createdAt === 'string' && h.createdAt.length <= 64 &&
    typeof h.sourceNode === 'string' && ID_PATTERN.test(h.sourceNode) &&
    count(h.index) && count(h.term) &&
    Array.isArray(h.voters) && h.voters.length <= MAX_BACKUP_VOTERS && h.voters.every((v) => typeof v === 'string' && ID_PATTERN.test(v)) &&
    (h.format !== 1 || (count(h.imageBytes) && h.imageBytes > 0 && h.imageBytes <= MAX_BACKUP_IMAGE_BYTES)) &&
    (h.format !== 1 || (typeof h.imageSha256 === 'string' && /^[0-9a-f]{64}$/.test(h.imageSha256)));
  if (!ok) throw new BackupFormatError('damaged', 'damaged backup: its header lacks a field or has one out of range');
  // Every field of BackupHeader was checked just above.
  return h as unknown as BackupHeader;
}
