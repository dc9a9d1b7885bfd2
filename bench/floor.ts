/**
 * The floor under one write at one client on this machine (issue 19), measured without Raft:
 * what any 5-member design that fsyncs on a majority pays before it runs a line of its own code.
 *
 *  - `httpRttMs`: one keep-alive PUT with a 100-byte body to a bare node:http server that
 *    answers 204 at once, from the benchmarks' own client (bench/raw-http.ts).
 *  - `quorumMs`: a "leader" process writes a 200-byte frame to four "follower" processes over
 *    loopback TCP (Nagle off), then commits one 150-byte row to its own SQLite database (WAL,
 *    synchronous=FULL, the node's settings); each follower commits the row to its own database
 *    and answers 8 bytes. Done when the leader's commit and two answers are in (3 of 5). All
 *    five databases are on the machine's one disk, as a cluster's are here.
 *  - `commitAloneMs`: the same commit with nothing else running.
 *
 * The sum httpRttMs + quorumMs is the floor of a write's latency: no parsing, no log, no
 * apply, no state machine. One client's ops/s is 1 / mean latency, so 1.5x etcd's needs a
 * mean under etcd's / 1.5; the benchmark report sets that beside this floor.
 *
 *   npx tsx bench/floor.ts [rounds=1500]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { closedLoop, percentile, round2, runIfMain, VALUE_100 } from './load.js';

const FOLLOWERS = 4;
/** Answers needed besides the leader's own commit: a majority of 5 is 3. */
const ANSWERS_FOR_MAJORITY = 2;
const FRAME = Buffer.alloc(200, 7);
const ANSWER = Buffer.alloc(8, 1);
const ROW = 'x'.repeat(150);
/** Rows written before measuring, so the WAL has wrapped once (a running node's never grows). */
const PREWARM_ROWS = 3_000;
const ROUND_DEADLINE_MS = 5_000;

/** One database with the node's settings (src/storage/sqlite-storage.ts), WAL already wrapped. */
function openDatabase(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const db = new Database(join(dir, 'floor.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('cache_size = -2048');
  db.exec('CREATE TABLE IF NOT EXISTS log (idx INTEGER PRIMARY KEY, data TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO log (idx, data) VALUES (?, ?)');
  let idx = 0;
  const commit = db.transaction(() => insert.run(++idx, ROW));
  db.pragma('synchronous = OFF');
  for (let i = 0; i < PREWARM_ROWS; i++) commit();
  db.pragma('synchronous = FULL');
  return () => commit();
}

/** Follower role: commit on every frame, then answer. */
function follower(dir: string, port: number): void {
  const commit = openDatabase(dir);
  const socket = connect(port, '127.0.0.1', () => socket.setNoDelay(true));
  let pending = 0;
  socket.on('data', (chunk) => {
    pending += chunk.length;
    while (pending >= FRAME.length) {
      pending -= FRAME.length;
      commit();
      socket.write(ANSWER);
    }
  });
  socket.on('close', () => process.exit(0));
}

const median = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 50);
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** Leader role: `rounds` closed-loop replicated commits; the ms of each, send to majority. */
async function quorumRounds(dir: string, rounds: number): Promise<{ quorum: number[]; alone: number[] }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const sockets: Socket[] = [];
  server.on('connection', (s) => {
    s.setNoDelay(true);
    sockets.push(s);
  });
  const children: ChildProcess[] = Array.from({ length: FOLLOWERS }, (_, i) => fork(process.argv[1] as string, ['follower', join(dir, `f${i}`), String(port)], { execArgv: process.execArgv, stdio: 'inherit' }));
  const commit = openDatabase(join(dir, 'leader'));
  try {
    const started = Date.now();
    while (sockets.length < FOLLOWERS) {
      if (Date.now() - started > 60_000) throw new Error('followers did not connect');
      await new Promise((r) => setTimeout(r, 20));
    }
    const alone: number[] = [];
    for (let i = 0; i < 300; i++) {
      const t0 = performance.now();
      commit();
      alone.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 2));
    }
    const quorum: number[] = [];
    for (let round = 0; round < rounds; round++) quorum.push(await replicate(sockets, commit));
    return { quorum, alone };
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
    for (const child of children) child.kill();
  }
}

/** One write: frames out, own commit, then wait for two answers. */
function replicate(sockets: Socket[], commit: () => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let answers = 0;
    let committed = false;
    const timer = setTimeout(() => reject(new Error('no majority within the round deadline')), ROUND_DEADLINE_MS);
    const onAnswer = (): void => {
      answers++;
      if (answers === ANSWERS_FOR_MAJORITY && committed) finish();
    };
    const finish = (): void => {
      clearTimeout(timer);
      for (const s of sockets) s.off('data', onAnswer);
      resolve(performance.now() - t0);
    };
    for (const s of sockets) {
      s.on('data', onAnswer);
      s.write(FRAME);
    }
    commit();
    committed = true;
    if (answers >= ANSWERS_FOR_MAJORITY) finish();
  });
}

/** Median round trip of a keep-alive PUT to a server that does nothing. */
async function httpRtt(seconds: number): Promise<{ p50Ms: number; meanMs: number }> {
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const body = Buffer.from(JSON.stringify({ value: VALUE_100 }));
  try {
    const s = await closedLoop({
      clients: 1,
      durationMs: seconds * 1000,
      warmupMs: 500,
      targetOf: () => ({ host: '127.0.0.1', port }),
      requestOf: () => ({ method: 'PUT', path: '/v1/kv/x', headers: { 'content-type': 'application/json', 'content-length': body.length }, body }),
    });
    return { p50Ms: s.p50Ms, meanMs: s.meanMs };
  } finally {
    server.close();
  }
}

/** The floor's three parts and their sum, in ms. */
export interface Floor {
  httpRttMs: number;
  quorumMs: number;
  quorumMeanMs: number;
  commitAloneMs: number;
  floorMs: number;
  floorMeanMs: number;
}

export async function measureFloor(rounds = 1500): Promise<Floor> {
  const dir = mkdtempSync(join(tmpdir(), 'raftquotes-floor-'));
  try {
    const http = await httpRtt(3);
    const { quorum, alone } = await quorumRounds(dir, rounds);
    const quorumMs = median(quorum);
    return {
      httpRttMs: round2(http.p50Ms),
      quorumMs: round2(quorumMs),
      quorumMeanMs: round2(mean(quorum)),
      commitAloneMs: round2(median(alone)),
      floorMs: round2(http.p50Ms + quorumMs),
      floorMeanMs: round2(http.meanMs + mean(quorum)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'follower') follower(process.argv[3] as string, Number(process.argv[4]));
else runIfMain(import.meta.url, async () => console.log(JSON.stringify({ bench: 'floor', ...(await measureFloor(Number(process.argv[2] ?? 1500))) })));
