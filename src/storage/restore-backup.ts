import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import type { BackupHeader } from '../state/backup-file.js';
import { StorageError } from './errors.js';
import { openNodeDatabase } from './sqlite-storage.js';
import { errorMessage } from '../narrow.js';

/** What seeds one node of a new cluster from a backup (SPEC §10). */
export interface RestoreOptions {
  dataDir: string;
  nodeId: string;
  clusterId: string;
  /** The new cluster's voters (--peers): they replace the backup's configuration. */
  voters: string[];
  header: BackupHeader;
  /** The state image, already verified (parseBackup). */
  image: Buffer;
}

/**
 * Makes a new node in an empty data dir from a verified backup: its identity (database row
 * and marker, with the new cluster id), the state machine restored from the image, and a
 * snapshot at the image's index and term holding the new configuration, as if it had been
 * installed by InstallSnapshot (the log starts after it). All in one transaction: a failure
 * leaves no database, and the directory, which this made, is removed.
 *
 * The hard state takes the image's term (no vote), so the new cluster's first election is in
 * a later term than every entry it holds.
 */
export function restoreBackup(options: RestoreOptions): void {
  const { dataDir, header, image } = options;
  const existed = existsSync(dataDir);
  if (existed && readdirSync(dataDir).length > 0) {
    throw new StorageError(`data dir ${dataDir} is not empty; restore makes a new node and never writes over one (use an empty or new directory)`);
  }
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const { storage, stateMachine } = openNodeDatabase(dataDir, { clusterId: options.clusterId, nodeId: options.nodeId }, { init: true });
    try {
      storage.atomically(() => {
        stateMachine.restore(header.index, header.term, image);
        storage.persist({
          hardState: { term: header.term, vote: null, commit: header.index },
          snapshot: { meta: { index: header.index, term: header.term, voters: [...options.voters] }, data: image },
          entries: [],
          storeImage: false,
        });
      });
    } finally {
      storage.close();
    }
  } catch (err) {
    if (existed) for (const name of readdirSync(dataDir)) rmSync(`${dataDir}/${name}`, { recursive: true, force: true });
    else rmSync(dataDir, { recursive: true, force: true });
    throw err instanceof StorageError ? err : new StorageError(`restore into ${dataDir} failed: ${errorMessage(err)}`, { cause: err });
  }
}
