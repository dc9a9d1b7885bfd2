import { closeSync, createWriteStream, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname, resolve } from 'node:path';
import { fsyncDirectory } from '../storage/identity.js';
import { BACKUP_TRAILER_BYTES, MAX_BACKUP_HEADER_BYTES, MAX_BACKUP_IMAGE_BYTES, parseBackup } from '../state/backup-file.js';
import { readClusterFile, tlsDirOf } from './cluster.js';
import { nodeTlsPaths } from './certs.js';
import { ConfigError } from './config.js';

/** A backup of a large state takes a while to build and send; past this the request is given up. */
const BACKUP_TIMEOUT_MS = 10 * 60_000;
/** How often the progress line is redrawn. */
const PROGRESS_EVERY_MS = 500;

export interface BackupOptions {
  out: string;
  /** A node's base URL; default: the first node of --cluster-file. */
  via?: string;
  clusterFile: string;
}

/** Where to ask, and the CA to trust for https (a `cluster --tls` data dir's). */
function target(options: BackupOptions): { url: URL; ca: Buffer | undefined } {
  let base = options.via;
  let ca: Buffer | undefined;
  if (base === undefined) {
    if (!existsSync(options.clusterFile)) throw new ConfigError(`--via: no URL given and no ${options.clusterFile} to find a node in`);
    const first = readClusterFile(options.clusterFile).nodes[0];
    if (!first) throw new ConfigError(`--via: ${options.clusterFile} lists no node`);
    base = first.http;
    const caPath = nodeTlsPaths(tlsDirOf(dirname(options.clusterFile)), '').ca;
    if (existsSync(caPath)) ca = readFileSync(caPath);
  }
  let url: URL;
  try {
    url = new URL('/api/backup', base);
  } catch {
    throw new ConfigError(`--via: expected a node's http(s) URL, got "${base}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`--via: expected an http(s) URL, got "${base}"`);
  return { url, ca };
}

/**
 * `raftquotes backup --out FILE [--via URL]` (SPEC §10): saves GET /api/backup as it streams,
 * with a progress line on stderr. The file is written as FILE.tmp (mode 0600: it holds all the data), checked whole (size, checksum,
 * every image page), fsynced and only then renamed over FILE, so FILE is either the old file
 * or a complete backup. The admin token, when the node needs one, comes from
 * RAFTQUOTES_ADMIN_TOKEN. Returns the exit code.
 */
export async function runBackup(options: BackupOptions): Promise<number> {
  const { url, ca } = target(options);
  const out = resolve(options.out);
  const tmp = `${out}.tmp`;
  const started = Date.now();
  try {
    const bytes = await download(url, ca, tmp);
    const { header } = parseBackup(readFileSync(tmp));
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, out);
    fsyncDirectory(dirname(out));
    process.stderr.write('\n');
    console.log(`backup of index ${header.index} (term ${header.term}, from ${header.sourceNode}) saved to ${options.out}: ${bytes} bytes in ${Date.now() - started} ms`);
    return 0;
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

function download(url: URL, ca: Buffer | undefined, path: string): Promise<number> {
  const token = process.env.RAFTQUOTES_ADMIN_TOKEN;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const maxBytes = MAX_BACKUP_IMAGE_BYTES + MAX_BACKUP_HEADER_BYTES + 12 + BACKUP_TRAILER_BYTES;
  return new Promise((resolvePromise, reject) => {
    const fail = (err: Error): void => {
      clearTimeout(timer);
      reject(err);
    };
    const onResponse = (res: IncomingMessage): void => {
      if (res.statusCode !== 200) return refusal(res, url, fail);
      // Streamed (chunked): the size is known only at the end; the index from the first header.
      const index = String(res.headers['x-raft-index'] ?? '?');
      const file = createWriteStream(path, { mode: 0o600 });
      let received = 0;
      let drawn = 0;
      const progress = (): boolean => process.stderr.write(`\rbackup of index ${index}: ${mib(received)} MiB received`);
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > maxBytes) res.destroy(new Error(`${url.href} sent more than a backup can be (${maxBytes} bytes)`));
        if (Date.now() - drawn >= PROGRESS_EVERY_MS) {
          drawn = Date.now();
          progress();
        }
      });
      res.on('aborted', () => fail(new Error(`the backup stream from ${url.origin} was cut after ${received} bytes`)));
      res.on('error', fail);
      file.on('error', fail);
      file.on('finish', () => {
        clearTimeout(timer);
        progress();
        resolvePromise(received);
      });
      res.pipe(file);
    };
    const req = url.protocol === 'https:' ? httpsRequest(url, { method: 'GET', headers, ca }, onResponse) : httpRequest(url, { method: 'GET', headers }, onResponse);
    const timer = setTimeout(() => req.destroy(new Error(`no complete backup from ${url.origin} within ${BACKUP_TIMEOUT_MS / 1000} s`)), BACKUP_TIMEOUT_MS);
    req.on('error', fail);
    req.end();
  });
}

/** A non-200 answer: its error message (SPEC §3 shape), in one line. */
function refusal(res: IncomingMessage, url: URL, fail: (err: Error) => void): void {
  const chunks: Buffer[] = [];
  let bytes = 0;
  res.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes <= 64 * 1024) chunks.push(chunk);
  });
  res.on('end', () => {
    let message = Buffer.concat(chunks).toString('utf8').slice(0, 500);
    try {
      const body = JSON.parse(message) as { error?: string; message?: string };
      message = `${body.error ?? ''}: ${body.message ?? ''}`;
    } catch {
      // not JSON: shown as it is
    }
    fail(new Error(`${url.origin} refused the backup (${res.statusCode}) ${message}`));
  });
  res.on('error', fail);
}

function mib(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1);
}
