/**
 * The `raftquotes ctl` REPL: type course requests (`STORE k v`, `TIMEOUT Node3`, ...); a
 * listener prints every reply as it arrives, like the course controller's listener thread.
 * History, tab completion of requests and node names, and `help`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { clearLine, createInterface, cursorTo, type Interface } from 'node:readline';
import type { ControllerClient, ControllerOutcome, ControllerReply } from '../controller/client.js';
import { canonicalRequest, CONTROLLER_REQUESTS, REQUEST_ALIASES, SILENT_REQUESTS, type ControllerRequest } from '../controller/protocol.js';
import { errorMessage } from '../narrow.js';
import { defined } from '@raftquotes/raft';

/** Lines of history kept across sessions. */
const HISTORY_SIZE = 500;
/** After the input ends, how long late replies are still printed before exiting. */
const LINGER_MS = 300;
const REPL_WORDS = ['help', 'nodes', 'send', 'exit'];

export interface ReplOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** A terminal gets a prompt, line editing, history and completion. */
  terminal: boolean;
  env: NodeJS.ProcessEnv;
}

/** One parsed REPL line. */
export type ReplCommand =
  | { kind: 'help' | 'nodes' | 'exit' | 'empty' }
  | { kind: 'request'; request: ControllerRequest; wire: string; targets: string[] | 'leader' | 'all'; key?: string; value?: unknown; ack?: boolean; from?: number }
  | { kind: 'send'; target: string; text: string }
  | { kind: 'error'; message: string };

const HELP = `Requests (replies print as they arrive; node names are case-insensitive):
  LEADER_INFO [Node|all]          who is the leader (default: all nodes)
  STATUS [Node|all]               state, term, commit index, ... (default: all nodes)
  STORE [Node] <key> <value> [--ack]
                                  write; the value is JSON if it parses, else text. Without
                                  Node it goes to the leader; redirects are followed
  RETRIEVE [Node] [from]          the committed log (pages are followed)
  TIMEOUT <Node|all>              forced election           (alias TRYLEAD)
  SHUTDOWN <Node|all>             stop Raft, keep the process (alias PLAYDEAD)
  CONVERT_FOLLOWER <Node|all>     become follower / revive   (alias FOLLOW)
  SEND <Node> <json>              send a raw datagram
  nodes | help | exit`;

/** A typed value: JSON when it parses (42, true, {"a":1}, "\"quoted\""), otherwise the raw text. */
export function parseValueArgument(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Words with their start offsets, so a value keeps its inner spacing. */
function words(line: string): Array<{ text: string; at: number }> {
  return [...line.matchAll(/\S+/g)].map((m) => ({ text: m[0], at: m.index ?? 0 }));
}

/** Parses a STORE's arguments: [--ack] <key> <value...> [--ack]. */
function parseStoreArgs(line: string, rest: Array<{ text: string; at: number }>): Pick<Extract<ReplCommand, { kind: 'request' }>, 'key' | 'value' | 'ack'> | string {
  let args = rest;
  let ack = false;
  if (args[0]?.text === '--ack') [ack, args] = [true, args.slice(1)];
  if (args.at(-1)?.text === '--ack') [ack, args] = [true, args.slice(0, -1)];
  const [key, first] = args;
  if (!key || !first) return 'usage: STORE [Node] <key> <value> [--ack]';
  const last = args.at(-1) as { text: string; at: number };
  return { key: key.text, value: parseValueArgument(line.slice(first.at, last.at + last.text.length)), ack };
}

/** Parses one REPL line against the known node ids. */
export function parseReplLine(line: string, nodeIds: readonly string[]): ReplCommand {
  const all = words(line);
  const head = all[0]?.text;
  if (!head) return { kind: 'empty' };
  const lower = head.toLowerCase();
  if (lower === 'help' || lower === '?') return { kind: 'help' };
  if (lower === 'nodes') return { kind: 'nodes' };
  if (lower === 'exit' || lower === 'quit') return { kind: 'exit' };
  const findNode = (text: string | undefined): string | null => (text ? (nodeIds.find((id) => id.toLowerCase() === text.toLowerCase()) ?? null) : null);
  if (lower === 'send') {
    const target = findNode(all[1]?.text);
    if (!target || !all[2]) return { kind: 'error', message: 'usage: SEND <Node> <json or any text>' };
    return { kind: 'send', target, text: line.slice(all[2].at).trim() };
  }
  const request = canonicalRequest(head.toUpperCase());
  if (!request) return { kind: 'error', message: `unknown command "${head}"; type help` };
  const second = all[1]?.text;
  const isAll = second !== undefined && (second.toLowerCase() === 'all' || second === '*');
  const node = findNode(second);
  const targets: string[] | 'leader' | 'all' = isAll ? 'all' : node ? [node] : request === 'STORE' || request === 'RETRIEVE' ? 'leader' : 'all';
  const rest = all.slice(node || isAll ? 2 : 1);
  const base = { kind: 'request' as const, request, wire: head.toUpperCase(), targets };
  if (SILENT_REQUESTS.has(request) && !node && !isAll) return { kind: 'error', message: `usage: ${head.toUpperCase()} <Node|all>` };
  if (request === 'STORE') {
    const store = parseStoreArgs(line, rest);
    return typeof store === 'string' ? { kind: 'error', message: store } : { ...base, ...store };
  }
  if (request === 'RETRIEVE' && rest[0]) {
    const from = Number(rest[0].text);
    if (!Number.isSafeInteger(from) || from < 1) return { kind: 'error', message: 'usage: RETRIEVE [Node] [from index >= 1]' };
    return { ...base, from };
  }
  return base;
}

/** Tab completion: requests and commands first, then node names, "all" and --ack. */
export function completeReplLine(line: string, nodeIds: readonly string[]): [string[], string] {
  const partial = /\S*$/.exec(line)?.[0] ?? '';
  const first = line.trimStart() === partial;
  const choices = first ? [...CONTROLLER_REQUESTS, ...Object.keys(REQUEST_ALIASES), ...REPL_WORDS] : [...nodeIds, 'all', '--ack'];
  const hits = choices.filter((c) => c.toLowerCase().startsWith(partial.toLowerCase()));
  return [hits.length > 0 ? hits : choices, partial];
}

function loadHistory(file: string | null): string[] {
  if (!file) return [];
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).reverse().slice(0, HISTORY_SIZE);
  } catch {
    return [];
  }
}

function saveHistory(file: string | null, history: string[]): void {
  if (!file) return;
  try {
    writeFileSync(file, `${history.slice(0, HISTORY_SIZE).reverse().join('\n')}\n`);
  } catch {
    // A read-only home (e.g. a container) only costs the history.
  }
}

/** Runs the REPL until `exit`, Ctrl-C/Ctrl-D, or the end of the input; resolves with 0. */
export async function runRepl(client: ControllerClient, options: ReplOptions): Promise<number> {
  const ids = client.nodes.map((n) => n.id);
  const historyFile = options.terminal ? (options.env.RAFTQUOTES_CTL_HISTORY ?? join(homedir(), '.raftquotes_ctl_history')) || null : null;
  const rl = createInterface({
    input: options.input,
    output: options.output,
    terminal: options.terminal,
    // Piped input gets no prompts: its output is just the replies.
    prompt: options.terminal ? 'ctl> ' : '',
    history: loadHistory(historyFile),
    historySize: HISTORY_SIZE,
    completer: (line: string) => completeReplLine(line, ids),
  });
  let history: string[] = [];
  rl.on('history', (h: string[]) => (history = h));
  const say = (text: string): void => printAbovePrompt(rl, options, text);
  const stopListening = client.onReply((reply) => say(formatReply(reply)));
  say(`raftquotes ctl: ${client.nodes.map((n) => `${n.id}=${n.host}:${n.port}`).join(' ')}\nType help for the requests. Replies print as they arrive.`);
  let queue = Promise.resolve();
  rl.on('line', (line) => {
    // One command at a time, in order, so piped scripts behave like typed ones.
    queue = queue.then(() => runCommand(parseReplLine(line, ids), client, say, () => rl.close())).then(() => rl.prompt());
  });
  rl.on('SIGINT', () => rl.close());
  rl.prompt();
  await new Promise<void>((resolve) => rl.once('close', resolve));
  await queue;
  await new Promise((resolve) => setTimeout(resolve, LINGER_MS));
  stopListening();
  saveHistory(historyFile, history);
  return 0;
}

function formatReply(reply: ControllerReply): string {
  const who = reply.node ?? `${reply.from.address}:${reply.from.port}`;
  return `[${who}] ${JSON.stringify(reply.message)}`;
}

/** Prints a line without mangling what the user is typing at the prompt. */
function printAbovePrompt(rl: Interface, options: ReplOptions, text: string): void {
  if (!options.terminal) {
    options.output.write(`${text}\n`);
    return;
  }
  clearLine(options.output, 0);
  cursorTo(options.output, 0);
  options.output.write(`${text}\n`);
  rl.prompt(true);
}

function describe(outcome: ControllerOutcome): string | null {
  if (outcome.kind === 'sent') return `→ sent ${String(outcome.message.request)} to ${outcome.node} (no reply expected)`;
  if (outcome.kind === 'no_reply') return `! ${outcome.detail}`;
  const count = Array.isArray(outcome.reply.message.value) ? outcome.reply.message.value.length : 0;
  return outcome.pages && outcome.pages > 1 ? `(${count} entries over ${outcome.pages} pages)` : null;
}

async function runCommand(command: ReplCommand, client: ControllerClient, say: (text: string) => void, exit: () => void): Promise<void> {
  try {
    const outcomes = await execute(command, client, say, exit);
    for (const outcome of outcomes) {
      const line = describe(outcome);
      if (line) say(line);
    }
  } catch (err) {
    say(`! ${errorMessage(err)}`);
  }
}

async function execute(command: ReplCommand, client: ControllerClient, say: (text: string) => void, exit: () => void): Promise<ControllerOutcome[]> {
  switch (command.kind) {
    case 'empty':
      return [];
    case 'help':
      return (say(HELP), []);
    case 'nodes':
      return (say(client.nodes.map((n) => `${n.id}\t${n.host}:${n.port}`).join('\n')), []);
    case 'exit':
      return (exit(), []);
    case 'error':
      return (say(`! ${command.message}`), []);
    case 'send':
      return [await sendRaw(client, command.target, command.text)];
    case 'request':
      return executeRequest(command, client);
  }
}

async function sendRaw(client: ControllerClient, target: string, text: string): Promise<ControllerOutcome> {
  const node = client.requireNode(target);
  // Sent byte for byte, JSON or not: this is how to try the node's ERROR replies.
  await client.sendBytes(node, Buffer.from(text, 'utf8'));
  return { kind: 'sent', node: node.id, message: { raw: text } };
}

async function executeRequest(command: Extract<ReplCommand, { kind: 'request' }>, client: ControllerClient): Promise<ControllerOutcome[]> {
  const one = command.targets === 'leader' ? undefined : command.targets === 'all' ? null : command.targets[0];
  if (command.request === 'STORE') return [await client.store(defined(command.key, 'a parsed STORE has a key'), command.value, { ack: command.ack, node: one ?? undefined })];
  if (command.request === 'RETRIEVE') return [await client.retrieve({ node: one ?? undefined, from: command.from })];
  const targets = one ? [one] : client.nodes.map((n) => n.id);
  const silent = SILENT_REQUESTS.has(command.request);
  return Promise.all(targets.map((id) => (silent ? client.fire(id, command.wire) : client.ask(id, command.wire))));
}
