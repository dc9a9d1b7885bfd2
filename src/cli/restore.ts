import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { BackupFormatError, backupHeadBytes, MAX_BACKUP_HEADER_BYTES, parseBackup, parseBackupHead } from '../state/backup-file.js';
import { restoreBackup } from '../storage/restore-backup.js';
import { ConfigError, parsePeers } from './config.js';
import { errorCode, errorMessage } from '../narrow.js';

export interface RestoreCliOptions {
  dataDir: string;
  id: string;
  peers: string;
  clusterId?: string;
}

const CLUSTER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/**
 * `raftquotes restore FILE --data-dir DIR --id NodeK --peers ... [--cluster-id ID]` (SPEC §10):
 * the explicit init step of a node of a new cluster, seeded from a backup. The file is
 * checked whole before anything is written. Every node of the new cluster is restored from
 * the same file with its own --id and the same --peers; without --cluster-id they all get
 * the same new id, derived from the backup's own id, so it never equals the old cluster's.
 * The node then starts with `raftquotes node` and no --init or --cluster-id (the identity
 * marker holds the id). Returns the exit code.
 */
export function runRestore(file: string, options: RestoreCliOptions): number {
  if (!ID_PATTERN.test(options.id)) throw new ConfigError(`--id: expected a name like Node3, got "${options.id}"`);
  const peers = parsePeers(options.peers, '--peers');
  if (!peers[options.id]) throw new ConfigError(`--peers must include this node (${options.id})`);
  if (options.clusterId !== undefined && !CLUSTER_ID_PATTERN.test(options.clusterId)) throw new ConfigError(`--cluster-id: expected letters, digits, ".", "_" or "-" (at most 128), got "${options.clusterId}"`);
  const started = Date.now();
  const { header, image } = readBackup(file);
  const clusterId = options.clusterId ?? `restored-${header.backupId.slice(0, 16)}`;
  restoreBackup({ dataDir: options.dataDir, nodeId: options.id, clusterId, voters: Object.keys(peers), header, image });
  console.log(`restored ${options.id} of cluster "${clusterId}" into ${options.dataDir} from ${file}: index ${header.index} term ${header.term}, ${image.length} bytes of state in ${Date.now() - started} ms`);
  console.log(`start it with: raftquotes node --id ${options.id} --peers ${options.peers} --data-dir ${options.dataDir} (plus the new cluster's secret or TLS flags; no --init, no --cluster-id)`);
  return 0;
}

/** Reads and verifies the whole file; a problem is one line naming the file. */
function readBackup(file: string): ReturnType<typeof parseBackup> {
  let size: number;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw new Error('not a file');
    size = stat.size;
  } catch (err) {
    throw new ConfigError(`cannot read backup ${file}: ${errorCode(err) ?? errorMessage(err)}`);
  }
  try {
    // The head first: a file that is not a backup, or is too short or too long for what its
    // header says, is refused before the whole of it is read.
    const prefix = readPrefix(file, Math.min(size, MAX_BACKUP_HEADER_BYTES + 12));
    const headBytes = backupHeadBytes(prefix);
    parseBackupHead(headBytes === null ? prefix : prefix.subarray(0, Math.min(prefix.length, headBytes)), size);
    return parseBackup(readFileSync(file));
  } catch (err) {
    if (err instanceof BackupFormatError) throw new ConfigError(`cannot restore ${file}: ${err.message}; nothing was written`);
    throw err;
  }
}

function readPrefix(file: string, bytes: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    const read = readSync(fd, buffer, 0, bytes, 0);
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}
