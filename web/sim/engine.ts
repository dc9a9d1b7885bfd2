/**
 * The browser simulator's engine (SPEC §11 "The simulator in the browser"): five RaftCore
 * instances, the same code the nodes run, over a simulated network and simulated time. It is
 * deterministic: everything random comes from SeededPrng streams derived from the seed, and
 * every user action is recorded with the simulated time and the number of events processed
 * before it, so the same seed and the same recording replay exactly, whatever the frame rate.
 *
 * Nothing here touches the DOM or the wall clock: the page (main.ts) decides how fast
 * simulated time runs, and a Node test can drive the engine directly.
 */
import { type Entry, type Message, type NodeId, RaftCore, type Ready, SeededPrng } from '@raftquotes/raft';
import { EventQueue } from '../../src/sim/event-queue.js';
import { SimDisk } from './core-disk.js';

/** Named limits and timing of the simulator. */
export const SIM_LIMITS = {
  nodes: 5,
  /** One core tick, in simulated ms (the nodes' default: heartbeat 50 ms, election 300-600 ms). */
  tickMs: 10,
  /** Network delay of one message, in simulated ms (slow enough to watch messages travel). */
  minDelayMs: 12,
  maxDelayMs: 30,
  /** Events kept for the page's event list; the hash covers every event. */
  maxEventLog: 2_000,
  /** Actions kept in one recording. */
  maxActions: 10_000,
  /** Events processed by one call that moves time, so a bad input cannot hang the page. */
  maxEventsPerRun: 500_000,
  /** Longest client write text. */
  maxWriteChars: 200,
  /** Highest accepted drop rate (a lossier network never elects anyone: not instructive). */
  maxDropRate: 0.9,
} as const;

/** A user action; the page records these and a replay applies them at the same point. */
export type SimAction =
  | { kind: 'crash'; node: NodeId }
  | { kind: 'restart'; node: NodeId }
  | { kind: 'timeout'; node: NodeId }
  | { kind: 'cut'; a: NodeId; b: NodeId }
  | { kind: 'heal'; a: NodeId; b: NodeId }
  | { kind: 'heal-all' }
  | { kind: 'drop'; message: number }
  | { kind: 'write'; text: string }
  | { kind: 'drop-rate'; rate: number };

/** An action as recorded: after `step` events, at simulated time `at` (ms). */
export interface RecordedAction {
  step: number;
  at: number;
  action: SimAction;
}

/** A recording: the seed and the actions, enough to replay a run exactly. */
export interface SimRecording {
  version: 1;
  seed: number;
  actions: RecordedAction[];
}

/** A message on the wire. */
export interface InFlight {
  id: number;
  message: Message;
  sentAt: number;
  deliverAt: number;
}

/** One line of the event list. */
export interface SimEventLine {
  seq: number;
  at: number;
  node: NodeId | null;
  text: string;
}

type QueueItem = { kind: 'tick'; node: number; epoch: number } | { kind: 'deliver'; id: number };

/** One simulated node: its core (null while crashed), its durable disk and the texts it applied. */
export interface SimNodeView {
  id: NodeId;
  core: RaftCore | null;
  disk: SimDisk;
  /** Bumped on crash, so the ticks of a crashed incarnation stop. */
  epoch: number;
}

/** A one-line description of a message (type, term and the fields that matter), for the lists. */
export function summarize(m: Message): string {
  switch (m.type) {
    case 'AppendEntries':
      return `AppendEntries t${m.term} prev=${m.prevLogIndex} n=${m.entries.length} commit=${m.commit}`;
    case 'AppendEntriesResponse':
      return `AppendEntriesResponse t${m.term} ${m.success ? `ok match=${m.matchIndex}` : `reject ${m.rejectedIndex}`}`;
    case 'RequestVote':
    case 'PreVote':
      return `${m.type} t${m.term} last=${m.lastLogIndex}@${m.lastLogTerm}`;
    case 'RequestVoteResponse':
    case 'PreVoteResponse':
      return `${m.type} t${m.term} ${m.granted ? 'granted' : 'refused'}`;
    case 'Heartbeat':
      return `Heartbeat t${m.term} commit=${m.commit}`;
    default:
      return `${m.type} t${m.term}`;
  }
}

/** FNV-1a, 32 bits: a cheap running hash of the event sequence (not for security). */
function fnv1a(hash: number, text: string): number {
  let h = hash;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Thrown for an action the engine refuses (unknown node, bad rate...): the page shows it. */
export class SimActionError extends Error {
  override readonly name = 'SimActionError';
  readonly code = 'bad_action';
}

/**
 * The simulated cluster. Inputs: runUntil/stepMessage/stepTick (time) and apply (actions).
 * Outputs: nodes, inFlight, events, hash.
 */
export class BrowserSim {
  readonly seed: number;
  readonly ids: NodeId[];
  readonly nodes: SimNodeView[];
  now = 0;
  /** Events processed so far (ticks and deliveries): the replay clock. */
  steps = 0;
  /** Running hash of every event line, as 8 hex digits via hash(). */
  private hashValue = 0x811c9dc5;
  private eventSeq = 0;
  readonly events: SimEventLine[] = [];
  readonly inFlight = new Map<number, InFlight>();
  readonly recording: RecordedAction[] = [];
  /** Cut links, as "A>B" (both directions are cut by cut()). */
  readonly cut = new Set<string>();
  dropRate = 0;
  /** Committed client writes seen by the leader that applied them: index -> text. */
  readonly applied = new Map<number, string>();
  private readonly queue = new EventQueue<QueueItem>();
  private readonly prng: SeededPrng;
  private messageSeq = 0;
  private writeSeq = 0;
  private pending: RecordedAction[] = [];

  constructor(seed: number, replay: RecordedAction[] = []) {
    this.seed = seed >>> 0;
    this.prng = new SeededPrng(this.seed ^ 0x51ed);
    this.ids = Array.from({ length: SIM_LIMITS.nodes }, (_, i) => `Node${i + 1}`);
    this.nodes = this.ids.map((id) => ({ id, core: null, disk: new SimDisk(), epoch: 0 }));
    this.pending = [...replay].sort((x, y) => x.step - y.step);
    this.nodes.forEach((_, i) => this.boot(i));
    this.applyDue();
  }

  /** The running hash of every event so far. */
  hash(): string {
    return this.hashValue.toString(16).padStart(8, '0');
  }

  /** The current leader (highest term among live leaders), or null. */
  leader(): NodeId | null {
    let best: RaftCore | null = null;
    for (const node of this.nodes) {
      if (node.core?.state === 'leader' && (!best || node.core.term > best.term)) best = node.core;
    }
    return best ? best.id : null;
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.has(`${from}>${to}`);
  }

  // ---------------------------------------------------------------- time

  /** Processes every event up to simulated time `t` (ms), then sets the clock to `t`. */
  runUntil(t: number): void {
    let budget: number = SIM_LIMITS.maxEventsPerRun;
    while (budget-- > 0) {
      const next = this.queue.peekTime();
      if (next === undefined || next > t) break;
      this.processNext();
    }
    if (t > this.now) this.now = t;
  }

  /** Processes events until one message has been delivered (or dropped on arrival). */
  stepMessage(): void {
    let budget: number = SIM_LIMITS.maxEventsPerRun;
    while (budget-- > 0 && this.queue.size > 0) {
      if (this.processNext() === 'deliver') return;
    }
  }

  /** Advances simulated time by one tick (every live node ticks once; messages due arrive). */
  stepTick(): void {
    this.runUntil(this.now + SIM_LIMITS.tickMs);
  }

  /** Processes events until `steps` events have been processed (replay to the same point). */
  runToStep(steps: number): void {
    let budget: number = SIM_LIMITS.maxEventsPerRun;
    while (this.steps < steps && budget-- > 0 && this.queue.size > 0) this.processNext();
  }

  private processNext(): 'tick' | 'deliver' | null {
    const next = this.queue.pop();
    if (!next) return null;
    this.now = Math.max(this.now, next.at);
    this.steps++;
    const item = next.event;
    if (item.kind === 'tick') this.onTick(item.node, item.epoch);
    else this.onDeliver(item.id);
    this.applyDue();
    return item.kind;
  }

  /** Replays the recorded actions whose step has come. */
  private applyDue(): void {
    while (this.pending.length > 0 && (this.pending[0] as RecordedAction).step <= this.steps) {
      const due = this.pending.shift() as RecordedAction;
      // The live run may have let time pass without events before the action: same clock here.
      if (Number.isFinite(due.at) && due.at > this.now) this.now = due.at;
      try {
        this.apply(due.action);
      } catch (err) {
        if (!(err instanceof SimActionError)) throw err;
        this.record(null, `recorded action ignored: ${err.message}`);
      }
    }
  }

  // ---------------------------------------------------------------- actions

  /** Applies a user action now and records it (step and simulated time) for replay. */
  apply(action: SimAction): void {
    this.validate(action);
    if (this.recording.length < SIM_LIMITS.maxActions) this.recording.push({ step: this.steps, at: this.now, action });
    switch (action.kind) {
      case 'crash':
        return this.crash(this.ids.indexOf(action.node));
      case 'restart':
        return this.restart(this.ids.indexOf(action.node));
      case 'timeout':
        return this.withCore(action.node, (core, i) => {
          core.campaign(true);
          this.afterInput(i);
        });
      case 'cut':
      case 'heal':
        return this.setLink(action.a, action.b, action.kind === 'cut');
      case 'heal-all':
        this.cut.clear();
        return this.record(null, 'all links healed');
      case 'drop':
        if (this.inFlight.delete(action.message)) this.record(null, `message #${action.message} dropped by hand`);
        return;
      case 'write':
        return this.write(action.text);
      case 'drop-rate':
        this.dropRate = action.rate;
        return this.record(null, `network drop rate ${Math.round(action.rate * 100)} %`);
    }
  }

  /** The recording of this run so far. */
  exportRecording(): SimRecording {
    return { version: 1, seed: this.seed, actions: [...this.recording] };
  }

  private validate(action: SimAction): void {
    const known = (id: unknown): boolean => typeof id === 'string' && this.ids.includes(id);
    const ok = ((): boolean => {
      switch (action.kind) {
        case 'crash':
        case 'restart':
        case 'timeout':
          return known(action.node);
        case 'cut':
        case 'heal':
          return known(action.a) && known(action.b) && action.a !== action.b;
        case 'heal-all':
          return true;
        case 'drop':
          return Number.isSafeInteger(action.message) && action.message > 0;
        case 'write':
          return typeof action.text === 'string' && action.text.length > 0 && action.text.length <= SIM_LIMITS.maxWriteChars;
        case 'drop-rate':
          return typeof action.rate === 'number' && action.rate >= 0 && action.rate <= SIM_LIMITS.maxDropRate;
        default:
          return false;
      }
    })();
    if (!ok) throw new SimActionError(`not a valid action: ${JSON.stringify(action).slice(0, 200)}`);
  }

  private withCore(id: NodeId, fn: (core: RaftCore, i: number) => void): void {
    const i = this.ids.indexOf(id);
    const core = this.nodes[i]?.core;
    if (core) fn(core, i);
  }

  private setLink(a: NodeId, b: NodeId, cut: boolean): void {
    for (const key of [`${a}>${b}`, `${b}>${a}`]) {
      if (cut) this.cut.add(key);
      else this.cut.delete(key);
    }
    this.record(null, `link ${a}–${b} ${cut ? 'cut' : 'healed'}`);
  }

  /** A client write goes to the leader (as the HTTP API forwards it); refused if there is none. */
  private write(text: string): void {
    const leader = this.leader();
    if (!leader) return this.record(null, `write "${text}" refused: no leader`);
    const i = this.ids.indexOf(leader);
    const result = (this.nodes[i]?.core as RaftCore).propose(`w${++this.writeSeq}=${text}`);
    this.record(leader, result.ok ? `proposed "${text}" at index ${result.index}, term ${result.term}` : `write refused: ${result.error}`);
    this.afterInput(i);
  }

  // ---------------------------------------------------------------- nodes

  private boot(i: number): void {
    const node = this.nodes[i] as SimNodeView;
    const restore = node.disk.recover();
    node.core = new RaftCore({ id: node.id, voters: this.ids }, new SeededPrng(this.seed * 31 + i * 7919 + node.epoch), restore);
    // Each node ticks on its own phase, so timers do not fire in lockstep.
    this.queue.push(this.now + 1 + this.prng.int(SIM_LIMITS.tickMs), { kind: 'tick', node: i, epoch: node.epoch });
    this.record(node.id, `started: term ${node.core.term}, log to ${node.core.log.lastIndex()}`);
  }

  private crash(i: number): void {
    const node = this.nodes[i] as SimNodeView;
    if (!node.core) return;
    node.core = null;
    node.epoch++;
    this.record(node.id, 'crashed');
  }

  private restart(i: number): void {
    if (!this.nodes[i]?.core) this.boot(i);
  }

  private onTick(i: number, epoch: number): void {
    const node = this.nodes[i] as SimNodeView;
    if (!node.core || epoch !== node.epoch) return;
    node.core.tick();
    this.afterInput(i);
    this.queue.push(this.now + SIM_LIMITS.tickMs, { kind: 'tick', node: i, epoch });
  }

  private onDeliver(id: number): void {
    const flight = this.inFlight.get(id);
    if (!flight) return; // dropped by hand while in flight
    this.inFlight.delete(id);
    const { message } = flight;
    const i = this.ids.indexOf(message.to);
    const core = this.nodes[i]?.core;
    if (!core) return this.record(message.to, `lost #${id} ${message.type} (node down)`);
    if (this.isCut(message.from, message.to)) return this.record(message.to, `lost #${id} ${message.type} (link cut)`);
    const rejected = core.step(message);
    this.record(message.to, `got #${id} ${summarize(message)} from ${message.from}${rejected ? ` (rejected: ${rejected.reason})` : ''}`);
    this.afterInput(i);
  }

  /**
   * Runs the Ready cycle at once: a simulated disk write is instant, so a crash loses
   * nothing acknowledged (the fault simulator in src/sim covers lost unsynced writes).
   */
  private afterInput(i: number): void {
    const node = this.nodes[i] as SimNodeView;
    const core = node.core;
    if (!core) return;
    for (let rounds = 0; rounds < 16 && core.hasReady(); rounds++) {
      const rd = core.ready();
      for (const line of rd.events) this.record(node.id, line);
      this.send(rd.messages);
      node.disk.persist(rd);
      this.send(rd.messagesAfterPersist);
      node.disk.apply(rd.committedEntries);
      this.noteCommitted(node, rd.committedEntries);
      if (rd.snapshotImageWanted) core.provideSnapshotImage(node.disk.stateMachine.applied, node.disk.stateMachine.serialize());
      core.advance(rd as Ready);
    }
  }

  private noteCommitted(node: SimNodeView, entries: Entry[]): void {
    if (entries.length === 0) return;
    const last = entries[entries.length - 1] as Entry;
    if (node.core?.state === 'leader') this.record(node.id, `committed to index ${last.index}`);
    for (const entry of entries) {
      if (entry.type !== 'normal' || this.applied.has(entry.index)) continue;
      this.applied.set(entry.index, entry.data.slice(entry.data.indexOf('=') + 1));
    }
  }

  private send(messages: Message[]): void {
    for (const message of messages) {
      const id = ++this.messageSeq;
      // Both random draws happen for every message, so a drop-rate change shifts no other draw.
      const lost = this.prng.chance(this.dropRate);
      const delay = SIM_LIMITS.minDelayMs + this.prng.float() * (SIM_LIMITS.maxDelayMs - SIM_LIMITS.minDelayMs);
      if (lost || this.isCut(message.from, message.to)) {
        this.record(message.from, `sent #${id} ${message.type} to ${message.to}: lost (${lost ? 'network' : 'link cut'})`);
        continue;
      }
      this.inFlight.set(id, { id, message, sentAt: this.now, deliverAt: this.now + delay });
      this.queue.push(this.now + delay, { kind: 'deliver', id });
    }
  }

  private record(node: NodeId | null, text: string): void {
    const line: SimEventLine = { seq: ++this.eventSeq, at: this.now, node, text };
    this.hashValue = fnv1a(this.hashValue, `${line.seq}|${line.at.toFixed(3)}|${node ?? '-'}|${text}\n`);
    this.events.push(line);
    if (this.events.length > SIM_LIMITS.maxEventLog) this.events.splice(0, this.events.length - SIM_LIMITS.maxEventLog);
  }
}

/** Parses a recording file; throws SimActionError naming what is wrong. */
export function parseRecording(text: string): SimRecording {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SimActionError('the recording is not JSON');
  }
  const r = parsed as Partial<SimRecording> | null;
  if (!r || r.version !== 1 || !Number.isSafeInteger(r.seed) || !Array.isArray(r.actions) || r.actions.length > SIM_LIMITS.maxActions) {
    throw new SimActionError('not a raftquotes simulator recording (version 1, seed, actions)');
  }
  for (const a of r.actions) {
    if (!a || !Number.isSafeInteger(a.step) || a.step < 0 || typeof a.at !== 'number' || typeof a.action !== 'object' || a.action === null) {
      throw new SimActionError('a recorded action needs step, at and action');
    }
  }
  return { version: 1, seed: r.seed as number, actions: r.actions };
}
