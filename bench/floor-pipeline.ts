/**
 * The throughput floor of a replicated, fsynced write on this machine (issue 19's "the floor it
 * implies"): the least work any 5-member design that answers a write only once it is durable on
 * a majority must do, built from the same parts a Node implementation has (node:http, loopback
 * TCP, a synced file), with nothing else. It answers the same HTTP PUTs from the same load
 * generator as raftquotes and etcd, so it can stand in either's place in the paired rounds.
 *
 * Five processes; member 0 is the leader for good (no elections, terms, votes, checksums,
 * authentication, validation beyond JSON, snapshots, metrics or logs):
 *  - a PUT to the leader is parsed (JSON) and queued; once per event-loop turn the queue is one
 *    batch: one frame to each follower, then the leader appends the batch to its own storage;
 *  - a follower appends everything that arrived in one read as one batch (group commit) and
 *    acknowledges the last batch cumulatively;
 *  - a batch is committed once it is durable on the leader and two followers (3 of 5); it is
 *    applied to an in-memory map and answered 200;
 *  - a PUT to a follower is forwarded to the leader in a frame (one per event-loop turn) and
 *    answered when the leader reports it committed (a real follower would wait to apply it);
 *  - a GET is a linearizable read by ReadIndex (Raft thesis §6.4): the reads that arrived in one
 *    turn (a follower's, forwarded in one frame per turn) wait for one heartbeat round acked by
 *    2 followers, then are served from the local state once it has applied the read index.
 *
 * Two floors:
 *  - `file` (default): each batch's bytes go to a preallocated file, then fdatasync; entries are
 *    applied to a map. The least any durable replicated write can do here, whatever the design.
 *  - `spec`: the least SPEC.md allows. §5: one SQLite database (WAL, synchronous=FULL) holds the
 *    log and the applied state; a batch of appends is one transaction; applying and recording the
 *    applied index are one transaction (after the commit, so a second one; at synchronous=NORMAL,
 *    as a node applies); every log entry and state row carries a checksum (crc32). §7: a MAC on
 *    every peer frame (HMAC-SHA256). Nothing else a node does (Raft's state, validation,
 *    idempotency, the client log, metrics, logs) is in it.
 *
 * Standalone, both floors alternate rounds with a 5-member etcd on every paired row and print
 * what they reach against etcd: a row where even the floor stays under its target cannot meet
 * that target on this machine, whatever the Raft implementation on top.
 *
 *   npx tsx bench/floor-pipeline.ts [seconds=5] [rounds=4]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import { createHmac, timingSafeEqual } from 'node:crypto';
import Database from 'better-sqlite3';
import { paired, planFor, type Emit } from './benchmarks.js';
import { runIfMain, type PreparedRequest, type Target } from './load.js';
import { EtcdSystem, type BenchSystem } from './systems.js';

const THIS_FILE = fileURLToPath(import.meta.url);
const MEMBERS = 5;
const FOLLOWERS = MEMBERS - 1;
/** Followers' acks needed besides the leader's own append: 3 of 5. */
const ACKS_FOR_MAJORITY = 2;
/** The storage file's size: batches wrap around in it, so an fdatasync never grows the file. */
const RING_BYTES = 32 * 1024 * 1024;
/** A PUT body larger than this is refused (the node's limit is 1 MiB; bench values are 100 B). */
const MAX_BODY_BYTES = 1024 * 1024;
const START_DEADLINE_MS = 60_000;
const FRAME_HEADER = 5;

type StorageKind = 'file' | 'spec';
type KeyValue = [string, string];
/** Frame kinds: a batch of entries, a cumulative ack, forwarded writes, their answers. */
const ENTRIES = 1;
const ACK = 2;
const FORWARD = 3;
const ANSWERS = 4;
/** The commit index alone, when no batch of entries went out to carry it. */
const COMMIT = 5;
/** Linearizable reads: a follower asks for a read index; a heartbeat round confirms the leader; its ack; the read index granted. */
const READ = 6;
const HEARTBEAT = 7;
const HEARTBEAT_ACK = 8;
const READ_INDEX = 9;
const MAC_BYTES = 32;
/** The peers' shared key of the `spec` floor (a node derives one per session: the same cost). */
const MAC_KEY = Buffer.alloc(32, 7);

/** Whether frames carry a MAC (the `spec` floor): set once per process. */
let macFrames = false;

function macOf(kind: number, payload: Buffer): Buffer {
  return createHmac('sha256', MAC_KEY).update(Buffer.of(kind)).update(payload).digest();
}

/** [payload length u32][kind u8][MAC, `spec` only][JSON payload] */
function frame(kind: number, body: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(body));
  const mac = macFrames ? macOf(kind, payload) : Buffer.alloc(0);
  const out = Buffer.allocUnsafe(FRAME_HEADER + mac.length + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt8(kind, 4);
  mac.copy(out, FRAME_HEADER);
  payload.copy(out, FRAME_HEADER + mac.length);
  return out;
}

/** Splits a socket's stream into frames; `onFrames` gets every complete frame of one read. */
function frameReader(socket: Socket, onFrames: (frames: Array<[number, unknown]>) => void): void {
  let buffered: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
    const frames: Array<[number, unknown]> = [];
    let at = 0;
    const macBytes = macFrames ? MAC_BYTES : 0;
    while (buffered.length - at >= FRAME_HEADER) {
      const length = buffered.readUInt32BE(at);
      const start = at + FRAME_HEADER + macBytes;
      if (buffered.length < start + length) break;
      const kind = buffered.readUInt8(at + 4);
      const payload = buffered.subarray(start, start + length);
      if (macFrames && !timingSafeEqual(macOf(kind, payload), buffered.subarray(at + FRAME_HEADER, start))) throw new Error('bad frame MAC');
      frames.push([kind, JSON.parse(payload.toString('utf8'))]);
      at = start + length;
    }
    buffered = buffered.subarray(at);
    if (frames.length) onFrames(frames);
  });
}

/** A member's storage: a durable append of a batch (returns once it is on disk), and the apply of committed entries. */
interface Storage {
  append(entries: KeyValue[], firstIndex: number): void;
  apply(entries: KeyValue[], firstIndex: number): void;
  get(key: string): string | null;
}

function openStorage(kind: StorageKind, dir: string): Storage {
  mkdirSync(dir, { recursive: true });
  return kind === 'spec' ? specStorage(dir) : fileStorage(dir);
}

/** The batch's bytes at the next offset of a preallocated ring file, then fdatasync; applied to a map. */
function fileStorage(dir: string): Storage {
  const fd = openSync(join(dir, 'log'), 'w+');
  const zeros = Buffer.alloc(1024 * 1024);
  for (let at = 0; at < RING_BYTES; at += zeros.length) writeSync(fd, zeros, 0, zeros.length, at);
  fdatasyncSync(fd);
  let offset = 0;
  const kv = new Map<string, string>();
  process.on('exit', () => closeSync(fd));
  return {
    append(entries) {
      const bytes = Buffer.from(JSON.stringify(entries));
      if (offset + bytes.length > RING_BYTES) offset = 0;
      writeSync(fd, bytes, 0, bytes.length, offset);
      offset += bytes.length;
      fdatasyncSync(fd);
    },
    apply(entries) {
      for (const [key, value] of entries) kv.set(key, value);
    },
    get: (key) => kv.get(key) ?? null,
  };
}

/**
 * SPEC §5 at the least: one database, WAL, synchronous=FULL for the log; a batch of appends in
 * one transaction; the apply and the applied index in another, at NORMAL; a crc32 on every row.
 */
function specStorage(dir: string): Storage {
  const db = new Database(join(dir, 'floor.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('cache_size = -2048');
  db.exec(`CREATE TABLE log (idx INTEGER PRIMARY KEY, data TEXT NOT NULL, crc INTEGER NOT NULL);
    CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, idx INTEGER NOT NULL, crc INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE applied (id INTEGER PRIMARY KEY, idx INTEGER NOT NULL); INSERT INTO applied VALUES (1, 0);`);
  const insert = db.prepare('INSERT INTO log (idx, data, crc) VALUES (?, ?, ?)');
  const upsert = db.prepare('INSERT INTO kv (key, value, idx, crc) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, idx = excluded.idx, crc = excluded.crc');
  const setApplied = db.prepare('UPDATE applied SET idx = ? WHERE id = 1');
  const select = db.prepare('SELECT value, crc FROM kv WHERE key = ?');
  const full = db.prepare('PRAGMA synchronous = FULL');
  const normal = db.prepare('PRAGMA synchronous = NORMAL');
  const append = db.transaction((entries: KeyValue[], first: number) => {
    entries.forEach((entry, i) => {
      const data = JSON.stringify(entry);
      insert.run(first + i, data, crc32(data));
    });
  });
  const apply = db.transaction((entries: KeyValue[], first: number) => {
    entries.forEach(([key, value], i) => upsert.run(key, value, first + i, crc32(value, crc32(key))));
    setApplied.run(first + entries.length - 1);
  });
  process.on('exit', () => db.close());
  return {
    append: (entries, first) => append(entries, first),
    apply(entries, first) {
      normal.run();
      try {
        apply(entries, first);
      } finally {
        full.run();
      }
    },
    get(key) {
      const row = select.get(key) as { value: string; crc: number } | undefined;
      if (row && crc32(row.value, crc32(key)) !== row.crc) throw new Error(`checksum mismatch at key ${key}`);
      return row?.value ?? null;
    },
  };
}

/** Routes one request: PUT /v1/kv/<key> with a JSON body {"value": string}, or GET /v1/kv/<key>; answers 400/404/413 itself. */
function route(req: IncomingMessage, res: ServerResponse, role: Role): void {
  const url = req.url ?? '';
  const key = url.startsWith('/v1/kv/') ? decodeURIComponent(url.slice('/v1/kv/'.length)) : null;
  if (key !== null && req.method === 'GET') {
    req.resume();
    role.onGet(key, (value) => {
      const body = value === null ? '{"error":"not_found"}' : JSON.stringify({ key, value });
      res.writeHead(value === null ? 404 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    });
    return;
  }
  if (key === null || req.method !== 'PUT') {
    req.resume();
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  });
  req.on('end', () => {
    if (size > MAX_BODY_BYTES) return void res.writeHead(413).end();
    let value: unknown;
    try {
      value = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { value?: unknown }).value;
    } catch {
      value = undefined;
    }
    if (typeof value !== 'string') return void res.writeHead(400).end();
    role.onPut([key, value], (index) => answer(res, index));
  });
}

function answer(res: ServerResponse, index: number): void {
  const body = `{"index":${index}}`;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body);
}

interface Role {
  onPut(entry: KeyValue, reply: (index: number) => void): void;
  /** A linearizable read (ReadIndex): `reply` gets the value as of a point after the read arrived. */
  onGet(key: string, reply: (value: string | null) => void): void;
}

/** Calls `send(socket, items)` once per event-loop turn with everything queued for that socket in the turn. */
function perTurn<T>(send: (socket: Socket, items: T[]) => void): (socket: Socket, item: T) => void {
  const queued = new Map<Socket, T[]>();
  return (socket, item) => {
    const list = queued.get(socket);
    if (list) return void list.push(item);
    queued.set(socket, [item]);
    setImmediate(() => {
      const items = queued.get(socket) ?? [];
      queued.delete(socket);
      send(socket, items);
    });
  };
}

/** The leader's side: batches, replication, commit, apply, answers (local and forwarded), read rounds. */
function leader(storage: Storage, followers: Socket[]): Role {
  interface Batch { seq: number; first: number; entries: KeyValue[]; replies: Array<(index: number) => void> }
  interface ReadRound { round: number; readIndex: number; reads: Array<(readIndex: number) => void> }
  const queue: Array<{ entry: KeyValue; reply: (index: number) => void }> = [];
  const inFlight: Batch[] = [];
  const acked = followers.map(() => 0);
  const heartbeatAcked = followers.map(() => 0);
  const rounds: ReadRound[] = [];
  let reads: Array<(readIndex: number) => void> = [];
  let seq = 0;
  let round = 0;
  let index = 0;
  let durable = 0;
  let committedIndex = 0;
  /** The commit index the followers were last told (in a batch, a heartbeat or a COMMIT frame). */
  let toldIndex = 0;
  const secondHighest = (xs: number[]): number => [...xs].sort((x, y) => y - x)[ACKS_FOR_MAJORITY - 1] ?? 0;
  const once = (run: () => void): (() => void) => {
    let scheduled = false;
    return () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        run();
      });
    };
  };

  const commit = (): void => {
    const committed = Math.min(durable, secondHighest(acked));
    while (inFlight.length && (inFlight[0] as Batch).seq <= committed) {
      const batch = inFlight.shift() as Batch;
      storage.apply(batch.entries, batch.first);
      committedIndex = batch.first + batch.entries.length - 1;
      batch.replies.forEach((reply, i) => reply(batch.first + i));
    }
    if (committedIndex > toldIndex) tellCommit();
  };
  /** Followers learn the commit index from the next batch or heartbeat, or from this frame when none went out. */
  const tellCommit = once(() => {
    if (committedIndex <= toldIndex) return;
    toldIndex = committedIndex;
    const out = frame(COMMIT, { c: committedIndex });
    for (const socket of followers) socket.write(out);
  });
  const flush = once(() => {
    if (queue.length === 0) return;
    const taken = queue.splice(0);
    const entries = taken.map((q) => q.entry);
    const first = index + 1;
    seq++;
    index += entries.length;
    inFlight.push({ seq, first, entries, replies: taken.map((q) => q.reply) });
    toldIndex = committedIndex;
    const out = frame(ENTRIES, { s: seq, i: first, e: entries, c: committedIndex });
    for (const socket of followers) socket.write(out);
    storage.append(entries, first);
    durable = seq;
    commit();
  });
  /** ReadIndex (Raft thesis §6.4): the reads that arrived in this turn wait for one heartbeat round acked by a majority. */
  const startRound = once(() => {
    if (reads.length === 0) return;
    round++;
    rounds.push({ round, readIndex: committedIndex, reads });
    reads = [];
    toldIndex = committedIndex;
    const out = frame(HEARTBEAT, { r: round, c: committedIndex });
    for (const socket of followers) socket.write(out);
  });
  const releaseReads = (): void => {
    const confirmed = secondHighest(heartbeatAcked);
    while (rounds.length && (rounds[0] as ReadRound).round <= confirmed) {
      const done = rounds.shift() as ReadRound;
      for (const read of done.reads) read(done.readIndex);
    }
  };
  const onPut = (entry: KeyValue, reply: (index: number) => void): void => {
    queue.push({ entry, reply });
    flush();
  };
  const onGet = (key: string, reply: (value: string | null) => void): void => {
    // The leader applies at commit: everything up to any read index is applied already.
    reads.push(() => reply(storage.get(key)));
    startRound();
  };
  const answerForwarded = perTurn<[number, number]>((socket, answers) => socket.write(frame(ANSWERS, { a: answers })));
  const grantRead = perTurn<[number, number]>((socket, granted) => socket.write(frame(READ_INDEX, { g: granted })));
  followers.forEach((socket, f) =>
    frameReader(socket, (frames) => {
      for (const [kind, body] of frames) {
        if (kind === ACK) acked[f] = Math.max(acked[f] as number, (body as { s: number }).s);
        else if (kind === HEARTBEAT_ACK) heartbeatAcked[f] = Math.max(heartbeatAcked[f] as number, (body as { r: number }).r);
        else if (kind === FORWARD) for (const [id, key, value] of (body as { f: Array<[number, string, string]> }).f) onPut([key, value], (idx) => answerForwarded(socket, [id, idx]));
        else if (kind === READ) {
          for (const id of (body as { q: number[] }).q) reads.push((readIndex) => grantRead(socket, [id, readIndex]));
          startRound();
        }
      }
      commit();
      releaseReads();
    }),
  );
  return { onPut, onGet };
}

/** A follower's side: group-committed appends and acks, the apply of what is committed; forwards its clients' writes and read-index requests. */
function follower(storage: Storage, link: Socket): Role {
  const writes = new Map<number, (index: number) => void>();
  const reads = new Map<number, () => void>();
  /** Reads granted a read index this follower has not applied yet: [read index, serve]. */
  const readsWaiting: Array<[number, () => void]> = [];
  /** Appended, not yet known committed: [first index, entries]. */
  const unapplied: Array<[number, KeyValue[]]> = [];
  let applied = 0;
  let nextId = 0;
  const applyUpTo = (commitIndex: number): void => {
    while (unapplied.length) {
      const [first, entries] = unapplied[0] as [number, KeyValue[]];
      if (first + entries.length - 1 > commitIndex) break;
      unapplied.shift();
      storage.apply(entries, first);
      applied = first + entries.length - 1;
    }
    for (let i = readsWaiting.length - 1; i >= 0; i--) {
      const [readIndex, serve] = readsWaiting[i] as [number, () => void];
      if (readIndex <= applied) {
        readsWaiting.splice(i, 1);
        serve();
      }
    }
  };
  frameReader(link, (frames) => {
    let appended: [number, KeyValue[]] | null = null;
    let last = 0;
    let commitIndex = 0;
    let heartbeat = 0;
    for (const [kind, body] of frames) {
      if (kind === ENTRIES) {
        const batch = body as { s: number; i: number; e: KeyValue[]; c: number };
        if (appended) appended[1].push(...batch.e);
        else appended = [batch.i, [...batch.e]];
        last = batch.s;
        commitIndex = Math.max(commitIndex, batch.c);
      } else if (kind === COMMIT) {
        commitIndex = Math.max(commitIndex, (body as { c: number }).c);
      } else if (kind === HEARTBEAT) {
        heartbeat = (body as { r: number }).r;
        commitIndex = Math.max(commitIndex, (body as { c: number }).c);
      } else if (kind === ANSWERS) {
        for (const [id, idx] of (body as { a: Array<[number, number]> }).a) {
          writes.get(id)?.(idx);
          writes.delete(id);
        }
      } else if (kind === READ_INDEX) {
        for (const [id, readIndex] of (body as { g: Array<[number, number]> }).g) {
          const serve = reads.get(id);
          reads.delete(id);
          if (serve) readsWaiting.push([readIndex, serve]);
        }
      }
    }
    if (appended) {
      storage.append(appended[1], appended[0]);
      unapplied.push(appended);
      link.write(frame(ACK, { s: last }));
    }
    if (heartbeat) link.write(frame(HEARTBEAT_ACK, { r: heartbeat }));
    applyUpTo(commitIndex);
  });
  const forward = perTurn<[number, string, string]>((socket, items) => socket.write(frame(FORWARD, { f: items })));
  const askReadIndex = perTurn<number>((socket, ids) => socket.write(frame(READ, { q: ids })));
  return {
    onPut(entry, reply) {
      const id = ++nextId;
      writes.set(id, reply);
      forward(link, [id, entry[0], entry[1]]);
    },
    onGet(key, reply) {
      const id = ++nextId;
      reads.set(id, () => reply(storage.get(key)));
      askReadIndex(link, id);
    },
  };
}

/** One member process: its storage, its peer link(s), its HTTP server; tells the parent when ready. */
async function member(i: number, dir: string, httpPort: number, peerPort: number, storageKind: StorageKind): Promise<void> {
  macFrames = storageKind === 'spec';
  const storage = openStorage(storageKind, dir);
  let role: Role;
  if (i === 0) {
    const sockets: Socket[] = [];
    const server = createServer((s) => {
      s.setNoDelay(true);
      sockets.push(s);
    });
    await new Promise<void>((resolve) => server.listen(peerPort, '127.0.0.1', resolve));
    const started = Date.now();
    while (sockets.length < FOLLOWERS) {
      if (Date.now() - started > START_DEADLINE_MS) throw new Error('followers did not connect');
      await new Promise((r) => setTimeout(r, 10));
    }
    role = leader(storage, sockets);
  } else {
    const link = connect(peerPort, '127.0.0.1');
    link.setNoDelay(true);
    await new Promise<void>((resolve, reject) => link.once('connect', resolve).once('error', reject));
    link.on('close', () => process.exit(0));
    role = follower(storage, link);
  }
  const http = createHttpServer((req, res) => route(req, res, role));
  http.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => http.listen(httpPort, '127.0.0.1', resolve));
  process.send?.('ready');
}

/** The floor as a benchmark system: writes and linearizable reads (member 0 leads for good; no failover, no restarts). */
export class FloorSystem implements BenchSystem {
  readonly name: 'floor-spec' | 'floor-file';
  readonly size = MEMBERS;
  private readonly dir = mkdtempSync(join(tmpdir(), 'raftquotes-floor-pipeline-'));
  private readonly children: ChildProcess[] = [];

  constructor(
    readonly storage: StorageKind,
    private readonly ports = storage === 'spec' ? { http: 28580, peer: 28600 } : { http: 28590, peer: 28601 },
  ) {
    this.name = `floor-${storage}`;
  }

  async start(): Promise<void> {
    // The leader first: the followers connect to it.
    for (let i = 0; i < MEMBERS; i++) {
      // The members run this TypeScript file through tsx, wherever the parent runs (bench or test).
      const child = fork(THIS_FILE, ['member', String(i), join(this.dir, `m${i}`), String(this.ports.http + i), String(this.ports.peer), this.storage], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      this.children.push(child);
      if (i === 0) await new Promise((r) => setTimeout(r, 300));
    }
    await Promise.all(
      this.children.map(
        (child, i) =>
          new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`floor member ${i} not ready`)), START_DEADLINE_MS);
            child.once('message', () => (clearTimeout(timer), resolve()));
            child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`floor member ${i} exited with ${code}`))));
          }),
      ),
    );
  }

  async stop(): Promise<void> {
    this.abort();
    await Promise.all(this.children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : null)));
    rmSync(this.dir, { recursive: true, force: true });
  }

  abort(): void {
    for (const child of this.children) if (child.exitCode === null) child.kill('SIGKILL');
  }

  target(node: number): Target {
    return { host: '127.0.0.1', port: this.ports.http + node };
  }

  async leader(): Promise<number> {
    return 0;
  }

  put(key: string, value: string): PreparedRequest {
    const body = Buffer.from(JSON.stringify({ value }));
    return { method: 'PUT', path: `/v1/kv/${encodeURIComponent(key)}`, headers: { 'content-type': 'application/json', 'content-length': body.length }, body };
  }

  get(key: string): PreparedRequest {
    return { method: 'GET', path: `/v1/kv/${encodeURIComponent(key)}`, headers: {}, body: null };
  }

  kill9(): void {
    throw new Error('the floor pipeline has no failover');
  }

  async restart(): Promise<void> {
    throw new Error('the floor pipeline has no restart');
  }

  pid(node: number): number | null {
    return this.children[node]?.pid ?? null;
  }
}

/** Both floors and etcd in alternating rounds on every paired row (standalone; `npm run bench` runs them beside raftquotes). */
export async function floorPaired(emit: Emit, plan = planFor(false)): Promise<void> {
  if (!EtcdSystem.version()) throw new Error('the floors are measured against etcd: install it (apt-get install -y etcd-server, or npm run bench -- --with-etcd once)');
  const systems = [new FloorSystem('spec'), new FloorSystem('file'), new EtcdSystem()];
  try {
    for (const system of systems) await system.start();
    await paired(systems, plan, emit);
  } finally {
    for (const system of systems) await system.stop();
  }
}

const isMain = process.argv[1] === THIS_FILE;
if (isMain && process.argv[2] === 'member') {
  const [i, dir, httpPort, peerPort, storage] = process.argv.slice(3);
  member(Number(i), dir as string, Number(httpPort), Number(peerPort), storage as StorageKind).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  runIfMain(import.meta.url, async () => {
    const seconds = Number(process.argv[2] ?? 5);
    const rounds = Number(process.argv[3] ?? 4);
    await floorPaired((r) => console.log(JSON.stringify(r)), { ...planFor(false), pairedSeconds: seconds, pairedRounds: rounds });
  });
}
