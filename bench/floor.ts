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
 * Under load the machine's 2 cores are the limit, so the floor there is CPU per write:
 *  - `bareHttp`: 64 closed-loop clients against the same do-nothing server in its own process:
 *    its µs of CPU per request, the load generator's, and the ops/s they reach together;
 *  - `sqliteUsPerEntry`: one process appending entries to a log table in transactions of
 *    BATCH_UNDER_LOAD (fsynced) and upserting each into a key-value table (not fsynced, as
 *    the node applies): µs of CPU per entry. Five members each pay it for every write.
 *
 *   npx tsx bench/floor.ts [rounds=1500]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { cpuSecondsOf } from './cpu.js';
import { closedLoop, percentile, round2, runIfMain, VALUE_100, type PreparedRequest, type Target } from './load.js';

/** The child processes run this file: `follower` and `http` roles (it may be imported by run.ts). */
const THIS_FILE = fileURLToPath(import.meta.url);
const FOLLOWERS = 4;
/** Answers needed besides the leader's own commit: a majority of 5 is 3. */
const ANSWERS_FOR_MAJORITY = 2;
const FRAME = Buffer.alloc(200, 7);
const ANSWER = Buffer.alloc(8, 1);
const ROW = 'x'.repeat(150);
/** Rows written before measuring, so the WAL has wrapped once (a running node's never grows). */
const PREWARM_ROWS = 3_000;
const ROUND_DEADLINE_MS = 5_000;
/** Entries per group commit at 64 clients (the cluster's raft_append_batch_entries mean). */
const BATCH_UNDER_LOAD = 23;
const SQLITE_ENTRIES = 23_000;

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

/** A do-nothing HTTP server (its own process when forked with 'http'): 204 to everything. */
function bareHttpServer(): Promise<number> {
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
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
  const children: ChildProcess[] = Array.from({ length: FOLLOWERS }, (_, i) => fork(THIS_FILE, ['follower', join(dir, `f${i}`), String(port)], { execArgv: process.execArgv, stdio: 'inherit' }));
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

const BODY = Buffer.from(JSON.stringify({ value: VALUE_100 }));
const bareRequest = (): PreparedRequest => ({ method: 'PUT', path: '/v1/kv/x', headers: { 'content-type': 'application/json', 'content-length': BODY.length }, body: BODY });

/**
 * The do-nothing server in its own process: one client's round trip, then 64 clients' ops/s
 * with the server's and the load generator's CPU per request.
 */
async function bareHttp(seconds: number): Promise<{ p50Ms: number; meanMs: number; opsPerSec64: number; serverCpuUs: number; loadGeneratorCpuUs: number }> {
  const child = fork(THIS_FILE, ['http'], { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m) => resolve(Number(m)));
      child.once('exit', (code) => reject(new Error(`bare HTTP server exited with ${code}`)));
    });
    const targetOf = (): Target => ({ host: '127.0.0.1', port });
    const one = await closedLoop({ clients: 1, durationMs: seconds * 1000, warmupMs: 500, targetOf, requestOf: bareRequest });
    let cpu0 = 0;
    let cpu1 = 0;
    let self: NodeJS.CpuUsage | null = null;
    let selfStart = process.cpuUsage();
    const many = await closedLoop({
      clients: 64,
      durationMs: seconds * 1000,
      warmupMs: 500,
      targetOf,
      requestOf: bareRequest,
      window: {
        onStart: () => {
          cpu0 = cpuSecondsOf(child.pid ?? null) ?? NaN;
          selfStart = process.cpuUsage();
        },
        onEnd: () => {
          cpu1 = cpuSecondsOf(child.pid ?? null) ?? NaN;
          self = process.cpuUsage(selfStart);
        },
      },
    });
    const used = self as NodeJS.CpuUsage | null;
    return {
      p50Ms: one.p50Ms,
      meanMs: one.meanMs,
      opsPerSec64: many.opsPerSec,
      serverCpuUs: round2(((cpu1 - cpu0) * 1e6) / Math.max(1, many.ops)),
      loadGeneratorCpuUs: used ? round2((used.user + used.system) / Math.max(1, many.ops)) : NaN,
    };
  } finally {
    child.kill();
  }
}

/** µs of CPU per entry: fsynced log appends in batches of BATCH_UNDER_LOAD, each entry applied too. */
function sqliteCpuPerEntry(dir: string): number {
  mkdirSync(dir, { recursive: true });
  const db = new Database(join(dir, 'batch.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('cache_size = -2048');
    db.exec('CREATE TABLE log (idx INTEGER PRIMARY KEY, data TEXT NOT NULL); CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, rev INTEGER NOT NULL)');
    const insert = db.prepare('INSERT INTO log (idx, data) VALUES (?, ?)');
    const upsert = db.prepare('INSERT INTO kv (key, value, rev) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, rev = excluded.rev');
    const full = db.prepare('PRAGMA synchronous = FULL');
    const normal = db.prepare('PRAGMA synchronous = NORMAL');
    let idx = 0;
    const append = db.transaction((first: number) => {
      for (let i = 0; i < BATCH_UNDER_LOAD; i++) insert.run(first + i, ROW);
    });
    const apply = db.transaction((first: number) => {
      for (let i = 0; i < BATCH_UNDER_LOAD; i++) upsert.run(`w${(first + i) % 64}-${(first + i) % 512}`, VALUE_100, first + i);
    });
    const start = process.cpuUsage();
    while (idx < SQLITE_ENTRIES) {
      full.run();
      append(idx + 1);
      normal.run();
      apply(idx + 1);
      idx += BATCH_UNDER_LOAD;
    }
    const used = process.cpuUsage(start);
    return round2((used.user + used.system) / idx);
  } finally {
    db.close();
  }
}

/** The floor's three parts and their sum, in ms. */
export interface Floor {
  httpRttMs: number;
  /** 64 clients against the do-nothing server: ops/s, and CPU per request of each side. */
  bareHttpOpsPerSec64: number;
  bareHttpServerCpuUs: number;
  loadGeneratorCpuUs: number;
  /** CPU per entry of one member's log append (fsynced, in batches) and apply. */
  sqliteUsPerEntry: number;
  /** Load generator + do-nothing server + 5 members' SQLite: CPU per write under load. */
  cpuFloorUsPerWrite: number;
  quorumMs: number;
  quorumMeanMs: number;
  commitAloneMs: number;
  floorMs: number;
  floorMeanMs: number;
}

export async function measureFloor(rounds = 1500): Promise<Floor> {
  const dir = mkdtempSync(join(tmpdir(), 'raftquotes-floor-'));
  try {
    const http = await bareHttp(3);
    const { quorum, alone } = await quorumRounds(dir, rounds);
    const quorumMs = median(quorum);
    const sqliteUsPerEntry = sqliteCpuPerEntry(join(dir, 'batch'));
    return {
      httpRttMs: round2(http.p50Ms),
      bareHttpOpsPerSec64: round2(http.opsPerSec64),
      bareHttpServerCpuUs: http.serverCpuUs,
      loadGeneratorCpuUs: http.loadGeneratorCpuUs,
      sqliteUsPerEntry,
      cpuFloorUsPerWrite: round2(http.loadGeneratorCpuUs + http.serverCpuUs + 5 * sqliteUsPerEntry),
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

const isMain = process.argv[1] === THIS_FILE;
if (isMain && process.argv[2] === 'follower') follower(process.argv[3] as string, Number(process.argv[4]));
else if (isMain && process.argv[2] === 'http') void bareHttpServer().then((port) => process.send?.(port));
else runIfMain(import.meta.url, async () => console.log(JSON.stringify({ bench: 'floor', ...(await measureFloor(Number(process.argv[2] ?? 1500))) })));
