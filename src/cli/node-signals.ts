/**
 * Process-level handlers of a node: a crash is logged before exit, and SIGHUP
 * reloads certificates and secret files without a restart (SPEC §7).
 */
import type { Logger } from '../log/logger.js';
import { setCorruptionListener } from '../state/checksum.js';
import { readSecretFile, type NodeConfig } from './config.js';
import { errorMessage } from '../narrow.js';

/** Exit code of a node that stopped on a bug (sysexits EX_SOFTWARE), as raft-node uses. */
export const CRASH_EXIT_CODE = 70;

/** The pino methods used here (pino's Logger fits). */
export interface SignalLogger extends Pick<Logger, 'info' | 'warn' | 'error'> {
  fatal(obj: object, msg: string): void;
  flush?(): void;
}

/** A stack (or message) on one line, so a crash is one log line in pretty and JSON formats. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' | ');
}

/**
 * An uncaught exception or unhandled rejection is a bug: log it as one fatal line with the
 * stack, then exit 70. Never swallowed: state after an unexpected throw cannot be trusted,
 * and a supervisor (or `cluster`'s log) must see why the node went away.
 */
export function installCrashHandlers(logger: SignalLogger, exit: (code: number) => void = (code) => process.exit(code)): void {
  let crashing = false;
  const die = (kind: string, reason: unknown): void => {
    if (crashing) return; // a second failure while logging the first: the first is what matters
    crashing = true;
    const err = reason instanceof Error ? reason : new Error(String(reason));
    try {
      logger.fatal({ err }, `${kind}, exiting ${CRASH_EXIT_CODE}: ${oneLine(err.stack ?? err.message)}`);
      logger.flush?.();
    } catch {
      process.stderr.write(`${kind}, exiting ${CRASH_EXIT_CODE}: ${oneLine(err.stack ?? err.message)}\n`);
    }
    exit(CRASH_EXIT_CODE);
  };
  process.on('uncaughtException', (err) => die('uncaught exception', err));
  process.on('unhandledRejection', (reason) => die('unhandled rejection', reason));
}

/**
 * SPEC §5: a checksum mismatch found on any read path stops the node with an error naming
 * the index or key (exit 70, like the Raft loop's fatal errors). The error still reaches its
 * caller (that request fails); the exit follows on the next turn.
 */
export function installCorruptionStop(logger: SignalLogger, exit: (code: number) => void = (code) => process.exit(code)): void {
  let stopping = false;
  setCorruptionListener((err) => {
    if (stopping) return;
    stopping = true;
    logger.fatal({ err, where: err.where }, `fatal: ${err.message}`);
    process.exitCode = CRASH_EXIT_CODE;
    setImmediate(() => exit(CRASH_EXIT_CODE));
  });
}

/** What SIGHUP can reload; each method is optional (a component without TLS has none). */
export interface Reloadable {
  /** Re-reads the certificate, key and CA files; throws with a clear message on a bad file. */
  reloadTls?(): unknown;
  /** Takes a new peer secret (transport). */
  setSecret?(secret: string): unknown;
  /** Takes a new admin token (api). */
  setAdminToken?(token: string): unknown;
}

/**
 * SIGHUP: reload certificates (transport and api) and re-read the secret and admin token
 * files. Each step logs success or a clear error; an error keeps the node running with what
 * it had (a half-written certificate must not take a node down).
 */
export async function reloadOnSighup(config: NodeConfig, parts: { transport: Reloadable; api: Reloadable }, logger: SignalLogger): Promise<void> {
  let steps = 0;
  const step = async (what: string, run: () => unknown): Promise<void> => {
    steps++;
    try {
      await run();
      logger.info({}, `SIGHUP: reloaded ${what}`);
    } catch (err) {
      logger.error({ err }, `SIGHUP: could not reload ${what}, keeping the current one: ${errorMessage(err)}`);
    }
  };
  const { transport, api } = parts;
  if (config.tls && transport.reloadTls) await step('peer TLS certificates', () => transport.reloadTls?.());
  if (config.httpTls && api.reloadTls) await step('HTTPS certificates', () => api.reloadTls?.());
  const secretFile = config.secretFile;
  if (secretFile && transport.setSecret) await step(`the peer secret from ${secretFile}`, () => transport.setSecret?.(readSecretFile(secretFile, '--secret-file')));
  const tokenFile = config.adminTokenFile;
  if (tokenFile && api.setAdminToken) await step(`the admin token from ${tokenFile}`, () => api.setAdminToken?.(readSecretFile(tokenFile, '--admin-token-file')));
  if ((config.tls && !transport.reloadTls) || (config.httpTls && !api.reloadTls)) {
    logger.warn({}, 'SIGHUP: this build cannot reload certificates in place; restart the node to use new ones');
  } else if (steps === 0) {
    logger.info({}, 'SIGHUP: nothing to reload (no TLS files, no secret or token file with a live setter)');
  }
}

/** Installs the SIGHUP handler; reloads never overlap. */
export function installReloadHandler(config: NodeConfig, parts: { transport: Reloadable; api: Reloadable }, logger: SignalLogger): void {
  let running: Promise<void> | null = null;
  process.on('SIGHUP', () => {
    if (running) {
      logger.warn({}, 'SIGHUP: a reload is already running; ignored');
      return;
    }
    running = reloadOnSighup(config, parts, logger).finally(() => {
      running = null;
    });
  });
}
