import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/**
 * A tiny in-process pretty printer ("12:00:01.234 INFO became leader term=7"): pino-pretty's
 * worker thread would cost memory on every node, and `cluster` only needs readable lines.
 */
function prettyStream(): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          const record = JSON.parse(line) as { time: number; level: number; msg?: string; err?: { message?: string } };
          const time = new Date(record.time).toISOString().slice(11, 23);
          const level = (LEVEL_NAMES[record.level] ?? String(record.level)).padEnd(5);
          process.stdout.write(`${time} ${level} ${record.msg ?? ''}${record.err?.message && !record.msg?.includes(record.err.message) ? ` (${record.err.message})` : ''}\n`);
        } catch {
          process.stdout.write(`${line}\n`);
        }
      }
      callback();
    },
  });
}

/** The node's logger: JSON lines by default, readable lines under `cluster`. */
export function createLogger(nodeId: string, format: 'json' | 'pretty', level: string): Logger {
  const options = { level, base: { node: nodeId }, timestamp: pino.stdTimeFunctions.epochTime };
  return format === 'pretty' ? pino(options, prettyStream()) : pino(options);
}
