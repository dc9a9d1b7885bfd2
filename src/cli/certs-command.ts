import { CertsError, writeClusterCerts } from './certs.js';
import { ConfigError } from './config.js';
import { errorCode, errorMessage } from '../narrow.js';

/** Splits a comma-separated flag value, dropping empty items. */
function list(value: string): string[] {
  return value.split(',').map((v) => v.trim()).filter(Boolean);
}

/**
 * `raftquotes certs --out DIR [--nodes Node1,...] [--hosts h1,...]` (SPEC §1, §7): a new CA
 * and one certificate per node (CN and SANs: the node id and every host). Bad input is one
 * clear line (ConfigError), checked before any key is made.
 */
export function runCerts(opts: { out: string; nodes: string; hosts: string }): number {
  if (opts.out.trim() === '') throw new ConfigError('--out: a directory is required');
  let written: string[];
  try {
    written = writeClusterCerts(opts.out, list(opts.nodes), list(opts.hosts));
  } catch (err) {
    if (err instanceof CertsError) throw new ConfigError(err.message);
    const code = errorCode(err);
    throw new ConfigError(`--out: cannot write to ${opts.out} (${code ?? errorMessage(err)})`);
  }
  console.log(`raftquotes certs: wrote ${written.length} files to ${opts.out} (keys mode 0600; keep ca.key offline in a real deployment)`);
  for (const path of written) console.log(`  ${path}`);
  return 0;
}
