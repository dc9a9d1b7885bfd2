// A three-node replicated key-value store on @raftquotes/raft and Node's standard library.
// The nodes run in one process and exchange messages through an in-memory queue; each keeps
// its Raft log in a file, fsynced before advance(). Run: node kv.mjs <data-dir> [key=value ...]
// It recovers the three nodes from <data-dir>, elects a leader, writes the pairs through it,
// waits until every node applied every entry, and prints each node's state as JSON.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import { join } from 'node:path';
import { processReady, RaftCore, SeededPrng } from '@raftquotes/raft';

const IDS = ['1', '2', '3'];
const MAX_TICKS = 2_000; // every wait is bounded: about 65 election timeouts

/** The durable log: one JSON line per persisted update, fsynced before persist() returns. */
class FileLog {
  constructor(path) {
    this.path = path;
  }

  /** DurableStorage: the update survives a crash once this returns (the contract of advance()). */
  persist({ snapshot, entries, hardState }) {
    const record = { entries, hardState, snapshot: snapshot && { meta: snapshot.meta, data: Buffer.from(snapshot.data).toString('base64') } };
    const fd = openSync(this.path, 'a');
    try {
      writeSync(fd, `${JSON.stringify(record)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Replays the file into what RaftCore's constructor wants (a RaftRestore), plus the snapshot. */
  recover() {
    const restore = { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, offset: 0, offsetTerm: 0, entries: [], appliedIndex: 0 };
    let image = null;
    let text = '';
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if (error.code !== 'ENOENT') throw error;
    }
    for (const line of text.split('\n')) {
      let record;
      try {
        record = JSON.parse(line);
      } catch {
        break; // a torn last line: its fsync never returned, so nothing acknowledged it
      }
      if (record.snapshot) {
        image = { meta: record.snapshot.meta, data: Buffer.from(record.snapshot.data, 'base64') };
        Object.assign(restore, { snapshot: { meta: image.meta }, offset: image.meta.index, offsetTerm: image.meta.term, entries: [] });
      }
      const first = record.entries[0];
      if (first) restore.entries = [...restore.entries.slice(0, first.index - restore.offset - 1), ...record.entries];
      if (record.hardState) restore.hardState = record.hardState;
    }
    if (image) restore.appliedIndex = image.meta.index;
    return { restore, image };
  }
}

/** The replicated state machine: a Map, changed only by committed entries, in log order. */
class KvStateMachine {
  map = new Map();

  apply(entry) {
    if (entry.type !== 'normal') return; // a leader's no-op or a configuration: no command
    const { key, value } = JSON.parse(entry.data);
    this.map.set(key, value);
  }

  restore(snapshot) {
    this.map = new Map(JSON.parse(Buffer.from(snapshot.data).toString('utf8')));
  }

  snapshotImage() {
    return Buffer.from(JSON.stringify([...this.map]));
  }
}

/** Starts node `id` from its log file: the core, its state machine, and its Ready handlers. */
function startNode(id, dir, queue) {
  const log = new FileLog(join(dir, `node-${id}.log`));
  const { restore, image } = log.recover();
  const stateMachine = new KvStateMachine();
  if (image) stateMachine.restore(image);
  const core = new RaftCore({ id, voters: IDS, electionTicks: 10, heartbeatTicks: 2 }, new SeededPrng(Number(id) * 7919 + restore.hardState.term), restore);
  const transport = { send: (messages) => queue.push(...messages) };
  return { id, core, stateMachine, handlers: { storage: log, transport, stateMachine } };
}

/** Handles every Ready and delivers every queued message until the cluster is quiet. */
function settle(nodes, queue) {
  for (let busy = true; busy; ) {
    busy = false;
    for (const node of nodes) busy = processReady(node.core, node.handlers) || busy;
    for (const message of queue.splice(0)) {
      nodes.find((n) => n.id === message.to).core.step(message);
      busy = true;
    }
  }
}

/** Ticks every node until `done()` holds; fails after MAX_TICKS. */
function tickUntil(nodes, queue, what, done) {
  for (let ticks = 0; ticks < MAX_TICKS; ticks++) {
    settle(nodes, queue);
    if (done()) return;
    for (const node of nodes) node.core.tick();
  }
  throw new Error(`gave up waiting for ${what} after ${MAX_TICKS} ticks`);
}

function main([dir, ...pairs]) {
  if (!dir) throw new Error('usage: node kv.mjs <data-dir> [key=value ...]');
  mkdirSync(dir, { recursive: true });
  const queue = [];
  const nodes = IDS.map((id) => startNode(id, dir, queue));
  const leader = () => nodes.find((n) => n.core.state === 'leader');
  tickUntil(nodes, queue, 'a leader', () => leader() !== undefined);
  for (const pair of pairs) {
    const [key, value] = pair.split('=');
    const result = leader().core.propose(JSON.stringify({ key, value }));
    if (!result.ok) throw new Error(`write ${pair} refused: ${result.error}`);
  }
  // Done when the leader committed its whole log (its no-op included) and every node applied it.
  const last = () => leader()?.core.log.lastIndex();
  const allApplied = () => leader()?.core.log.commitIndex === last() && nodes.every((n) => n.core.log.appliedIndex === last());
  tickUntil(nodes, queue, 'every node to apply every write', allApplied);
  const state = Object.fromEntries(nodes.map((n) => [n.id, Object.fromEntries(n.stateMachine.map)]));
  console.log(JSON.stringify({ leader: leader().id, term: leader().core.term, commitIndex: leader().core.log.commitIndex, nodes: state }));
}

main(process.argv.slice(2));
