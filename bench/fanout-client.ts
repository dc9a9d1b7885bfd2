/**
 * One process of fan-out subscribers (bench/fanout.ts starts several, so the load generator's
 * own CPU is spread and does not single-handedly limit what it measures). Talks to its parent
 * over IPC:
 *   parent → { kind: 'start', urls, count, localAddresses, prefix }   open `count` sockets
 *   child  → { kind: 'ready', opened } | { kind: 'failed', error }
 *   parent → { kind: 'mark' }                                         count status events from here
 *   parent → { kind: 'report' }                                       send what arrived
 *   child  → { kind: 'arrivals', arrivals: [quoteNumber, epochMs][], closed, duplicates, outOfOrder, statuses }
 * Only quote events are parsed (status events, 5 a second per socket, are counted and skipped
 * by one byte compare), and each arrival is stamped with the epoch in ms at sub-ms precision,
 * so the parent compares it with the time it posted the quote. A quote a socket receives twice
 * or after a later one is counted, not timed, so `arrivals` never hides a missing delivery.
 */
import WebSocket from 'ws';

interface StartMessage {
  kind: 'start';
  urls: string[];
  count: number;
  localAddresses: string[];
  prefix: string;
  connectTimeoutMs: number;
}

const sockets: WebSocket[] = [];
const arrivals: number[] = [];
let closed = 0;
let duplicates = 0;
let outOfOrder = 0;
let statuses = 0;

function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Connection attempts per subscriber: a node this busy may answer a handshake 408 or 503, as it would a browser, which retries. */
const CONNECT_ATTEMPTS = 5;
const RETRY_DELAY_MS = 500;

async function open(url: string, localAddress: string, prefix: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await openOnce(url, localAddress, prefix);
      return;
    } catch (err) {
      if (attempt >= CONNECT_ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS * attempt));
    }
  }
}

function openOnce(url: string, localAddress: string, prefix: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, localAddress });
    let opened = false;
    ws.once('open', () => {
      opened = true;
      sockets.push(ws);
      resolve();
    });
    ws.once('error', (err) => {
      if (ws.readyState !== WebSocket.OPEN) reject(err);
    });
    ws.on('close', () => {
      if (opened) closed++;
    });
    /** Highest quote number this socket received. */
    let last = -1;
    ws.on('message', (data: Buffer) => {
      // {"type":"quote",...: byte 9 is the 'q' of "quote" (a status event has 's').
      if (data[9] !== 0x71) {
        statuses++;
        return;
      }
      const at = now();
      const text = (JSON.parse(data.toString()) as { quote?: { text?: string } }).quote?.text ?? '';
      if (!text.startsWith(prefix)) return;
      const n = Number(text.slice(prefix.length));
      if (n === last) duplicates++;
      else if (n < last) outOfOrder++;
      else {
        last = n;
        arrivals.push(n, at);
      }
    });
  });
}

async function start(message: StartMessage): Promise<void> {
  const { urls, count, localAddresses, prefix } = message;
  // Opened in waves, so thousands of handshakes do not all time out together on a busy machine.
  const WAVE = 200;
  for (let from = 0; from < count; from += WAVE) {
    const wave: Array<Promise<void>> = [];
    for (let i = from; i < Math.min(count, from + WAVE); i++) {
      wave.push(open(urls[i % urls.length] as string, localAddresses[Math.floor(i / urls.length) % localAddresses.length] as string, prefix));
    }
    await Promise.all(wave);
  }
}

process.on('message', (message: { kind: string } & Partial<StartMessage>) => {
  if (message.kind === 'start') {
    const timer = setTimeout(() => process.send?.({ kind: 'failed', error: `not connected within ${message.connectTimeoutMs} ms` }), message.connectTimeoutMs);
    start(message as StartMessage).then(
      () => {
        clearTimeout(timer);
        process.send?.({ kind: 'ready', opened: sockets.length });
      },
      (err: Error) => {
        clearTimeout(timer);
        process.send?.({ kind: 'failed', error: err.message });
      },
    );
  } else if (message.kind === 'mark') {
    statuses = 0;
  } else if (message.kind === 'report') {
    const pairs: Array<[number, number]> = [];
    for (let i = 0; i < arrivals.length; i += 2) pairs.push([arrivals[i] as number, arrivals[i + 1] as number]);
    process.send?.({ kind: 'arrivals', arrivals: pairs, closed, duplicates, outOfOrder, statuses });
  } else if (message.kind === 'stop') {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
