import { CONF_CHANGE_OPS, type ConfChange } from '../confchange.js';
import { seedConfiguration } from '../configuration.js';
import { type Entry, type EntryType, type Message, MESSAGE_TYPES, type NodeId } from '../types.js';
import type { CommandArg } from './datadriven.js';
import { type InteractionEnv, type NodeOptions } from './env.js';
import { formatMessage } from './format.js';
import { matches, type MessageFilter } from './network.js';

/** Typed access to a command's arguments; rejects unknown keys so a typo fails loudly. */
export class Args {
  private readonly used = new Set<string>();

  constructor(
    readonly command: string,
    private readonly raw: readonly CommandArg[],
  ) {}

  /** Bare words, in order. */
  words(): string[] {
    return this.raw.filter((a) => a.values.length === 0).map((a) => a.key);
  }

  /** The `i`-th bare word; a script that leaves it out fails loudly. */
  word(i: number, what: string): string {
    const word = this.words()[i];
    if (word === undefined) throw new Error(`${this.command}: missing ${what}`);
    return word;
  }

  /** Keys of the key=value arguments, in order. */
  keys(): string[] {
    return this.raw.filter((a) => a.values.length > 0).map((a) => a.key);
  }

  values(key: string): string[] | undefined {
    this.used.add(key);
    return this.raw.find((a) => a.key === key && a.values.length > 0)?.values;
  }

  string(key: string): string | undefined {
    return this.values(key)?.[0];
  }

  /** A key=value argument the command cannot do without. */
  required(key: string): string {
    const value = this.string(key);
    if (value === undefined) throw new Error(`${this.command}: missing ${key}=`);
    return value;
  }

  int(key: string): number | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n)) throw new Error(`${this.command}: ${key}=${value} is not an integer`);
    return n;
  }

  bool(key: string): boolean | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    if (value !== 'true' && value !== 'false') throw new Error(`${this.command}: ${key}=${value} is not true/false`);
    return value === 'true';
  }

  /** Throws if a key=value argument was never read. */
  checkAllUsed(): void {
    for (const arg of this.raw) {
      if (arg.values.length > 0 && !this.used.has(arg.key)) throw new Error(`${this.command}: unknown argument ${arg.key}`);
    }
  }
}

type Handler = (env: InteractionEnv, args: Args, out: string[]) => void;

/** Node ids given as bare words, checked to exist; all nodes when none are given and `all`. */
function nodeIds(env: InteractionEnv, args: Args, all: boolean): NodeId[] {
  const ids = args.words();
  for (const id of ids) env.node(id);
  if (ids.length === 0 && !all) throw new Error(`${args.command}: which node?`);
  return ids.length === 0 ? env.ids() : ids;
}

function oneNode(env: InteractionEnv, args: Args): NodeId {
  const ids = nodeIds(env, args, false);
  if (ids.length !== 1) throw new Error(`${args.command}: expected one node, got ${ids.join(' ')}`);
  return args.word(0, 'node');
}

/** Narrows a script word to one of `allowed`, so a typo fails instead of matching nothing. */
function oneOf<T extends string>(command: string, value: string, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw new Error(`${command}: ${value} is not one of ${allowed.join(' ')}`);
  return found;
}

const ENTRY_TYPES: readonly EntryType[] = ['normal', 'noop', 'config'];

function filterFrom(env: InteractionEnv, args: Args): MessageFilter {
  const to = args.values('to') ?? (args.words().length > 0 ? nodeIds(env, args, false) : undefined);
  const type = args.values('type')?.map((t) => oneOf(args.command, t, MESSAGE_TYPES));
  return { from: args.values('from'), to, type };
}

function nodeOptions(args: Args): NodeOptions {
  const options: NodeOptions = {};
  const set = <K extends keyof NodeOptions>(key: K, value: NodeOptions[K] | undefined): void => {
    if (value !== undefined) options[key] = value;
  };
  set('electionTicks', args.int('election'));
  set('heartbeatTicks', args.int('heartbeat'));
  set('preVote', args.bool('prevote'));
  set('checkQuorum', args.bool('checkquorum'));
  set('maxInflightMessages', args.int('max-inflight'));
  set('maxMessageBytes', args.int('max-msg-bytes'));
  set('maxEntriesPerMessage', args.int('max-entries'));
  set('maxUncommittedEntries', args.int('max-uncommitted'));
  set('snapshotChunkBytes', args.int('chunk-bytes'));
  set('snapshotWindowChunks', args.int('snapshot-window'));
  set('compactionTrailingEntries', args.int('trailing'));
  set('seed', args.int('seed'));
  return options;
}

function describeOptions(env: InteractionEnv): string {
  const [first] = env.ids();
  if (first === undefined) throw new Error('no nodes');
  const c = env.core(first).config;
  return (
    `election=${c.electionTicks} heartbeat=${c.heartbeatTicks} prevote=${c.preVote} checkquorum=${c.checkQuorum} ` +
    `max-inflight=${c.maxInflightMessages} max-msg-bytes=${c.maxMessageBytes} chunk-bytes=${c.snapshotChunkBytes} snapshot-window=${c.snapshotWindowChunks} trailing=${c.compactionTrailingEntries}`
  );
}

const nodeCommands: Record<string, Handler> = {
  'add-nodes': (env, args, out) => {
    const count = Number(args.words()[0]);
    if (!(count >= 1)) throw new Error('add-nodes: how many?');
    env.addNodes(count, nodeOptions(args));
    out.push(`added nodes ${env.ids().join(' ')} (${describeOptions(env)})`);
    for (const id of env.ids()) out.push(`  ${id}: election timeout ${env.core(id).electionTimerView().timeout} ticks`);
  },
  crash: (env, args, out) => env.crash(oneNode(env, args), out),
  restart: (env, args, out) => env.restart(oneNode(env, args), out),
  'set-disk': (env, args, out) => {
    const id = oneNode(env, args);
    const terms = (args.values('log') ?? []).map(Number);
    const term = args.int('term') ?? Math.max(0, ...terms);
    env.setDisk(id, { term, vote: args.string('vote') ?? null, commit: args.int('commit') ?? 0 }, terms);
    out.push(`${id} restarted with term=${term} log terms=[${terms.join(' ')}]`);
  },
  status: (env, args, out) => nodeIds(env, args, true).forEach((id) => env.status(id, out)),
  'raft-log': (env, args, out) => env.raftLog(oneNode(env, args), out),
  compact: (env, args, out) => {
    const id = args.word(0, 'node');
    const node = env.node(id);
    const core = env.core(id);
    const index = Number(args.word(1, 'index'));
    const { meta, offset, offsetTerm } = core.compact(index);
    const data = node.disk.stateMachine.serializeAt(index);
    node.disk.saveSnapshot({ meta, data }, offset, offsetTerm);
    out.push(`snapshot ${meta.term}/${meta.index} (${data.length} bytes); log compacted through ${offsetTerm}/${offset}`);
  },
};

/** `conf-change 1 add-learner 4 promote 5`: op/id pairs after the leader's id. */
function confChange(env: InteractionEnv, args: Args, out: string[]): void {
  const id = args.word(0, 'leader');
  const rest = args.words().slice(1);
  if (rest.length === 0 || rest.length % 2 !== 0) throw new Error('conf-change: N then op id pairs');
  const changes: ConfChange[] = [];
  for (let i = 1; i <= rest.length; i += 2) {
    const op = oneOf(args.command, args.word(i, 'op'), CONF_CHANGE_OPS);
    const target = args.word(i + 1, 'id');
    changes.push({ op, id: target, raft: `r${target}`, http: `h${target}` });
  }
  const result = env.core(id).proposeConfChange(changes);
  if (result.ok) out.push(`ok index=${result.index} term=${result.term}${result.joint ? ' joint' : ''}`);
  else out.push(`refused: ${result.error}${result.field ? ` field=${result.field}` : ''}${result.message ? `: ${result.message}` : ''}`);
}

/** The configuration in effect on each node (thesis §4.1: the latest in its log). */
function members(env: InteractionEnv, args: Args, out: string[]): void {
  for (const id of nodeIds(env, args, true)) {
    const core = env.node(id).core;
    if (!core) {
      out.push(`${id}: down`);
      continue;
    }
    const view = core.membership();
    const ids = (list: { id: NodeId }[]): string => list.map((m) => m.id).join(',') || '-';
    const joint = view.config.outgoing ? ` outgoing=${ids(view.config.outgoing)}` : '';
    const state = view.removed ? ' REMOVED' : '';
    out.push(`${id}: index=${view.configIndex}${view.committed ? '' : ' (uncommitted)'} voters=${ids(view.config.voters)} learners=${ids(view.config.learners)}${joint}${state}`);
  }
}

const inputCommands: Record<string, Handler> = {
  'conf-change': confChange,
  members,
  'add-node': (env, args, out) => {
    const id = args.word(0, 'node');
    env.addJoiningNode(id, args.values('voters') ?? [], args.values('learners') ?? [], nodeOptions(args));
    out.push(`added node ${id} (election timeout ${env.core(id).electionTimerView().timeout} ticks)`);
  },
  campaign: (env, args, out) => {
    env.core(oneNode(env, args)).campaign(false);
    out.push('ok');
  },
  'campaign-forced': (env, args, out) => {
    env.core(oneNode(env, args)).campaign(true);
    out.push('ok');
  },
  'step-down': (env, args, out) => {
    env.core(oneNode(env, args)).becomeFollowerKeepTerm('told to step down');
    out.push('ok');
  },
  tick: (env, args, out) => {
    const core = env.core(args.word(0, 'node'));
    const n = Number(args.words()[1] ?? 1);
    for (let i = 0; i < n; i++) core.tick();
    out.push('ok');
  },
  'tick-election': (env, args, out) => {
    for (const id of nodeIds(env, args, false)) {
      const core = env.core(id);
      const { elapsed, timeout } = core.electionTimerView();
      // A leader's timer is the check-quorum period; everyone else's is the randomized timeout.
      const ticks = (core.state === 'leader' ? core.config.electionTicks : timeout) - elapsed;
      for (let i = 0; i < ticks; i++) core.tick();
      out.push(`${id}: ticked ${ticks}`);
    }
  },
  'tick-heartbeat': (env, args, out) => {
    for (const id of nodeIds(env, args, false)) {
      const core = env.core(id);
      for (let i = 0; i < core.config.heartbeatTicks; i++) core.tick();
    }
    out.push('ok');
  },
  propose: (env, args, out) => {
    const core = env.core(args.word(0, 'node'));
    const data = args.words()[1] ?? 'x';
    const size = args.int('size');
    const count = args.int('count') ?? 1;
    const type = oneOf(args.command, args.string('type') ?? 'normal', ENTRY_TYPES);
    for (let i = 1; i <= count; i++) {
      const base = count > 1 ? `${data}${i}` : data;
      const result = core.propose(size === undefined ? base : base.padEnd(size, '.'), type);
      out.push(result.ok ? `ok index=${result.index} term=${result.term}` : `refused: ${result.error} leader=${result.leader ?? '-'}`);
    }
  },
  'read-index': (env, args, out) => {
    env.core(args.word(0, 'node')).readIndex(args.words()[1] ?? 'read');
    out.push('ok');
  },
  'transfer-leadership': (env, args, out) => {
    out.push(env.core(args.required('from')).transferLeadership(args.required('to')) ? 'ok' : 'refused');
  },
  'report-unreachable': (env, args, out) => {
    env.core(args.required('from')).reportUnreachable(args.required('to'));
    out.push('ok');
  },
};

const readyCommands: Record<string, Handler> = {
  'process-ready': (env, args, out) => {
    for (const id of nodeIds(env, args, true)) if (!env.processReady(id, out)) out.push(`> ${id} no Ready`);
  },
  ready: (env, args, out) => {
    for (const id of nodeIds(env, args, false)) if (!env.readyStage(id, out)) out.push(`> ${id} no Ready`);
  },
  persist: (env, args, out) => {
    for (const id of nodeIds(env, args, false)) env.persistStage(id, out, true);
  },
  stabilize: (env, args, out) => {
    // quiet=true: for setup steps already shown in full elsewhere (basic.txt); prints the outcome.
    const quiet = args.bool('quiet') ?? false;
    const ids = nodeIds(env, args, true);
    env.stabilize(ids, quiet ? [] : out);
    if (quiet) ids.forEach((id) => env.status(id, out));
  },
};

const networkCommands: Record<string, Handler> = {
  'deliver-msgs': (env, args, out) => {
    const options = { drop: args.bool('drop'), dup: args.bool('dup'), reverse: args.bool('reverse'), count: args.int('count') };
    if (env.deliverMatching(filterFrom(env, args), out, options) === 0) out.push('no messages');
  },
  'pending-msgs': (env, _args, out) => {
    for (const m of env.network.queue) out.push(formatMessage(m));
    for (const m of env.network.stash) out.push(`${formatMessage(m)} (stashed)`);
    if (out.length === 0) out.push('no messages');
  },
  'stash-msgs': (env, args, out) => {
    // copy=true leaves the messages queued too: the stash then holds duplicates to replay later.
    const copy = args.bool('copy') ?? false;
    const filter = filterFrom(env, args);
    const count = args.int('count') ?? Infinity;
    const taken = copy ? env.network.queue.filter((m) => matches(filter, m)).slice(0, count) : env.network.take(filter, count);
    env.network.stash.push(...taken);
    for (const m of taken) out.push(`${copy ? 'stashed a copy of' : 'stashed'} ${formatMessage(m)}`);
    if (taken.length === 0) out.push('no messages');
  },
  'unstash-msgs': (env, _args, out) => {
    for (const m of env.network.stash) out.push(`queued ${formatMessage(m)}`);
    env.network.queue.push(...env.network.stash);
    env.network.stash = [];
  },
  partition: (env, args, out) => {
    const groups = args.words().join(' ').split('|').map((group) => group.trim().split(/\s+/).filter(Boolean));
    env.network.partition(groups, env.ids());
    out.push(`partitioned ${groups.map((g) => g.join(' ')).join(' | ')}`);
  },
  heal: (env, _args, out) => {
    env.network.heal();
    out.push('healed');
  },
  'msg-stats': (env, args, out) => {
    const keys = [...env.stats.keys()].sort();
    for (const key of keys) out.push(`${key}: ${env.stats.get(key)}`);
    if (keys.length === 0) out.push('no messages delivered');
    if (args.bool('reset') !== false) env.stats.clear();
  },
};

/**
 * `forge type=Heartbeat from=2 to=1 term=1 commit=5 readRound=0`: steps a hand-made message into
 * `to` directly, as an attacker on the wire would, and prints whether the core rejected it.
 * `entries=T/I,T/I` (or `entries=none`) builds AppendEntries entries; `meta=T/I` and `chunk=N`
 * (bytes) an InstallSnapshot; every other field is a number, true/false, null, or a string.
 */
function forge(env: InteractionEnv, args: Args, out: string[]): void {
  const message: Record<string, unknown> = {};
  for (const key of args.keys()) {
    const values = args.values(key) ?? [];
    const first = args.required(key);
    if (key === 'entries') message[key] = first === 'none' ? [] : values.map(parseEntry);
    else if (key === 'meta') message[key] = { ...parsePosition(first), voters: env.ids(), config: seedConfiguration(env.ids()) };
    else if (key === 'chunk') message[key] = new Uint8Array(Number(first));
    else message[key] = STRING_FIELDS.has(key) ? first : parseValue(first);
  }
  // Deliberately unvalidated: a forged message is hostile input, and step() must refuse it.
  const rejected = env.core(String(message['to'])).step(message as unknown as Message);
  out.push(rejected ? `rejected ${rejected.reason}: ${rejected.detail}` : 'stepped');
}

/** Fields that are strings even when they look like numbers (node ids are `1`..`N` here). */
const STRING_FIELDS: ReadonlySet<string> = new Set(['type', 'from', 'to', 'requestId']);

function parsePosition(text: string): { term: number; index: number } {
  const [term = NaN, index = NaN] = text.split('/').map(Number);
  return { term, index };
}

function parseEntry(text: string): Entry {
  return { ...parsePosition(text), type: 'normal', data: 'forged' };
}

function parseValue(text: string): unknown {
  if (text === 'true' || text === 'false') return text === 'true';
  if (text === 'null') return null;
  return text !== '' && !Number.isNaN(Number(text)) ? Number(text) : text;
}

const COMMANDS: Record<string, Handler> = { ...nodeCommands, ...inputCommands, ...readyCommands, ...networkCommands, forge };

/** Runs one script command against the environment and returns its output. */
export function runCommand(env: InteractionEnv, command: string, rawArgs: readonly CommandArg[]): string {
  const handler = COMMANDS[command];
  if (!handler) throw new Error(`unknown command "${command}"`);
  const args = new Args(command, rawArgs);
  const out: string[] = [];
  handler(env, args, out);
  args.checkAllUsed();
  env.checkSafety();
  return out.join('\n');
}
