import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { StorageError } from './errors.js';
import { errorCode, errorMessage, isRecord } from '../narrow.js';

/**
 * The identity marker: `<data-dir>/node-identity.json`, kept outside the database (SPEC §5).
 * The database holds the same identity, but a deleted database takes its identity with it and
 * the node would start empty, forget its vote, and could vote twice in one term. The marker
 * survives that, so a data dir that has a marker and no database is refused.
 */
export const IDENTITY_FILE = 'node-identity.json';
/** Bumped if the marker's fields change incompatibly. */
const MARKER_FORMAT = 1;
/** A marker is a few hundred bytes; anything much larger is not one. */
const MAX_MARKER_BYTES = 4096;

/** Which node of which cluster a data dir belongs to. */
export interface NodeIdentity {
  clusterId: string;
  nodeId: string;
}

/** The marker as stored: the identity plus when the node was initialized. */
export interface IdentityMarker extends NodeIdentity {
  createdAt: string;
}

/** Path of the marker in `dataDir`. */
export function markerPath(dataDir: string): string {
  return join(dataDir, IDENTITY_FILE);
}

/**
 * Reads the marker, or null when there is none. A marker that exists but cannot be read or
 * parsed is a StorageError: it is never treated as absent (that would allow a re-init).
 */
export function readIdentityMarker(dataDir: string): IdentityMarker | null {
  const path = markerPath(dataDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return null;
    throw new StorageError(`identity marker ${path} is unreadable (${errorCode(err) ?? errorMessage(err)}); refusing to start`, { cause: err });
  }
  const marker = text.length <= MAX_MARKER_BYTES ? parseMarker(text) : null;
  if (!marker) throw new StorageError(`identity marker ${path} is damaged (not a ${IDENTITY_FILE} of format ${MARKER_FORMAT}); refusing to start — restore it from a backup`);
  return marker;
}

function parseMarker(text: string): IdentityMarker | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isRecord(value)) return null;
  const { format, clusterId, nodeId, createdAt } = value;
  if (format !== MARKER_FORMAT || typeof clusterId !== 'string' || typeof nodeId !== 'string' || typeof createdAt !== 'string') return null;
  return { clusterId, nodeId, createdAt };
}

/** Writes the marker atomically and durably (temp file, fsync, rename, fsync of the directory). */
export function writeIdentityMarker(dataDir: string, marker: IdentityMarker): void {
  const text = `${JSON.stringify({ format: MARKER_FORMAT, clusterId: marker.clusterId, nodeId: marker.nodeId, createdAt: marker.createdAt }, null, 2)}\n`;
  writeFileDurably(markerPath(dataDir), text);
  // A data dir made just now is itself an entry in its parent. A parent this process may not
  // open (no read permission) cannot be synced; the node still runs, as before markers existed.
  try {
    fsyncDirectory(dirname(resolve(dataDir)));
  } catch (err) {
    if (errorCode(err) !== 'EACCES') throw err;
  }
}

/**
 * Replaces `path` with `text` so that after a crash it holds either the old or the new
 * content, and the new content survives a power loss once this returns: the data is fsynced
 * before the rename, and the directory after it (the rename itself lives in the directory).
 */
export function writeFileDurably(path: string, text: string, mode = 0o644): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDirectory(dirname(path));
}

/** fsync of a directory, so entries created or renamed in it are durable. */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Refuses a marker naming another node or another cluster (SPEC §5), naming both. */
export function checkMarker(marker: IdentityMarker, expected: NodeIdentity, dataDir: string): void {
  if (marker.nodeId !== expected.nodeId) {
    throw new StorageError(`data dir ${dataDir} belongs to node ${marker.nodeId}, not ${expected.nodeId} (${IDENTITY_FILE}); refusing to start (use that node's own --data-dir)`);
  }
  if (marker.clusterId !== expected.clusterId) {
    throw new StorageError(`data dir ${dataDir} belongs to cluster "${marker.clusterId}", not "${expected.clusterId}" (${IDENTITY_FILE}); refusing to start`);
  }
}
