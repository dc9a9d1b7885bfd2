/**
 * `raftquotes ctl`: the course controller (SPEC §4). One request per run with
 * `ctl <REQUEST> [--node N] [--key K] [--value V] [--ack]`, or a REPL when no request is given.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { z } from 'zod';
import { ControllerClient, DEFAULT_TIMEOUT_MS, type ControllerOutcome, type ControllerTarget } from '../controller/client.js';
import { canonicalRequest, SILENT_REQUESTS, type ControllerRequest } from '../controller/protocol.js';
import { ConfigError, parseHostPort, parsePeers } from './config.js';
import { parseValueArgument, runRepl } from './ctl-repl.js';
import { errorMessage } from '../narrow.js';

/** Where `ctl` looks for nodes when neither --nodes nor RAFTQUOTES_NODES is given. */
export const DEFAULT_CLUSTER_FILE = './data/cluster.json';
/** Bounds for --timeout. */
const MIN_TIMEOUT_MS = 10;
const MAX_TIMEOUT_MS = 600_000;

/** Streams and environment, injectable for tests. */
export interface CtlIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

interface CtlOptions {
  node?: string;
  key?: string;
  value?: string;
  ack?: boolean;
  from?: string;
  nodes?: string;
  clusterFile?: string;
  timeout?: string;
  sender?: string;
}

const clusterFileSchema = z.object({ nodes: z.array(z.object({ id: z.string().min(1), controller: z.string().min(1) })).min(1) });

/** Reads the nodes' controller addresses from cluster.json (SPEC §6). */
export function nodesFromClusterFile(path: string): ControllerTarget[] {
  if (!existsSync(path)) {
    throw new ConfigError(`--cluster-file: ${path} not found; start "raftquotes cluster", or pass --nodes Node1=127.0.0.1:5555,... (or set RAFTQUOTES_NODES)`);
  }
  let parsed: z.infer<typeof clusterFileSchema>;
  try {
    parsed = clusterFileSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch (err) {
    throw new ConfigError(`--cluster-file: ${path} is not a cluster.json with nodes[].id and nodes[].controller (${errorMessage(err).split('\n')[0]})`);
  }
  return parsed.nodes.map((n) => ({ id: n.id, ...parseHostPort(n.controller, `--cluster-file (${n.id}.controller)`) }));
}

/** --nodes, then an explicit --cluster-file, then RAFTQUOTES_NODES, then ./data/cluster.json. */
export function discoverNodes(options: { nodes?: string; clusterFile?: string }, env: NodeJS.ProcessEnv): ControllerTarget[] {
  const fromList = (list: string, what: string): ControllerTarget[] => Object.entries(parsePeers(list, what)).map(([id, hp]) => ({ id, ...hp }));
  if (options.nodes) return fromList(options.nodes, '--nodes');
  if (options.clusterFile) return nodesFromClusterFile(options.clusterFile);
  if (env.RAFTQUOTES_NODES) return fromList(env.RAFTQUOTES_NODES, 'RAFTQUOTES_NODES');
  return nodesFromClusterFile(DEFAULT_CLUSTER_FILE);
}

function timeoutOption(text: string | undefined): number {
  if (text === undefined) return DEFAULT_TIMEOUT_MS;
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms < MIN_TIMEOUT_MS || ms > MAX_TIMEOUT_MS) throw new ConfigError(`--timeout: expected milliseconds in [${MIN_TIMEOUT_MS}, ${MAX_TIMEOUT_MS}], got "${text}"`);
  return ms;
}

function buildCommand(io: CtlIo): Command {
  return new Command('raftquotes ctl')
    .description('the course controller: one request, or a REPL when no request is given')
    .argument('[request]', 'CONVERT_FOLLOWER (FOLLOW), TIMEOUT (TRYLEAD), SHUTDOWN (PLAYDEAD), LEADER_INFO, STORE, RETRIEVE, STATUS')
    .option('--node <id>', 'the node to send to (STORE/RETRIEVE default: the leader; LEADER_INFO/STATUS default: all)')
    .option('--key <key>', 'STORE: the key')
    .option('--value <value>', 'STORE: the value, parsed as JSON when it parses, else a string')
    .option('--ack', 'STORE: ask the leader to reply once the entry commits')
    .option('--from <index>', 'RETRIEVE: start at this log index')
    .option('--nodes <list>', 'Node1=host:port,... controller addresses [RAFTQUOTES_NODES]')
    .option('--cluster-file <path>', `cluster.json to read (default ${DEFAULT_CLUSTER_FILE})`)
    .option('--timeout <ms>', `wait for each reply (default ${DEFAULT_TIMEOUT_MS})`)
    .option('--sender <name>', 'sender_name of requests', 'Controller')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
}

/** Exit status of an outcome: 0 when the request did what was asked. */
function exitCode(outcome: ControllerOutcome, request: ControllerRequest | null): number {
  if (outcome.kind === 'sent') return 0;
  if (outcome.kind === 'no_reply') return 1;
  const message = outcome.reply.message;
  if (message.request === 'ERROR' || message.error !== undefined) return 1;
  // STORE/RETRIEVE that ended on a LEADER_INFO: the redirects ran out without reaching a leader.
  if ((request === 'STORE' || request === 'RETRIEVE') && message.request !== request) return 1;
  return 0;
}

function print(io: CtlIo, outcome: ControllerOutcome): void {
  if (outcome.kind === 'sent') io.stdout.write(`${JSON.stringify({ sent: outcome.message, node: outcome.node })}\n`);
  else if (outcome.kind === 'no_reply') io.stderr.write(`raftquotes ctl: ${outcome.detail}\n`);
  else io.stdout.write(`${JSON.stringify(outcome.reply.message)}\n`);
}

async function store(client: ControllerClient, options: CtlOptions): Promise<ControllerOutcome> {
  if (options.key === undefined) throw new ConfigError('STORE needs --key (and --value)');
  if (options.value === undefined) throw new ConfigError('STORE needs --value (JSON, or a plain string)');
  return client.store(options.key, parseValueArgument(options.value), { ack: options.ack, node: options.node });
}

async function retrieve(client: ControllerClient, options: CtlOptions): Promise<ControllerOutcome> {
  const from = options.from === undefined ? undefined : Number(options.from);
  if (from !== undefined && !(Number.isSafeInteger(from) && from >= 1)) throw new ConfigError(`--from: expected a log index >= 1, got "${options.from}"`);
  return client.retrieve({ node: options.node, from });
}

/** LEADER_INFO or STATUS without --node: every node answers; STATUS prints them all. */
async function askEveryone(client: ControllerClient, request: string, io: CtlIo): Promise<number> {
  if (request === 'LEADER_INFO') {
    const leader = await client.findLeader();
    const outcome = await client.ask((leader ?? client.firstNode).id, request);
    print(io, outcome);
    return exitCode(outcome, 'LEADER_INFO');
  }
  const outcomes = await Promise.all(client.nodes.map((n) => client.ask(n.id, request)));
  outcomes.forEach((o) => print(io, o));
  return outcomes.some((o) => o.kind === 'reply') ? 0 : 1;
}

/** One request: send it, follow redirects and pages, print the replies as JSON lines. */
async function runOneShot(typed: string, options: CtlOptions, client: ControllerClient, io: CtlIo): Promise<number> {
  const request = canonicalRequest(typed.toUpperCase());
  // Aliases are sent as typed (TRYLEAD stays TRYLEAD); unknown names are sent verbatim, so
  // `ctl FOO --node Node1` shows the node's ERROR reply.
  const wire = request ? typed.toUpperCase() : typed;
  let outcome: ControllerOutcome;
  if (request === 'STORE') outcome = await store(client, options);
  else if (request === 'RETRIEVE') outcome = await retrieve(client, options);
  else if (request && SILENT_REQUESTS.has(request)) {
    if (!options.node) throw new ConfigError(`${wire} needs --node (which node should ${request === 'TIMEOUT' ? 'campaign' : request === 'SHUTDOWN' ? 'shut down' : 'become a follower'}?)`);
    outcome = await client.fire(options.node, wire);
  } else if (!options.node) return askEveryone(client, wire, io);
  else outcome = await client.ask(options.node, wire, { key: options.key, value: options.value === undefined ? undefined : parseValueArgument(options.value) });
  print(io, outcome);
  return exitCode(outcome, request);
}

async function runParsed(request: string | undefined, options: CtlOptions, io: CtlIo): Promise<number> {
  const nodes = discoverNodes(options, io.env);
  const client = new ControllerClient({ nodes, timeoutMs: timeoutOption(options.timeout), senderName: options.sender });
  try {
    if (options.node && !client.node(options.node)) throw new ConfigError(`--node: unknown node "${options.node}"; known nodes: ${nodes.map((n) => n.id).join(', ')}`);
    if (request === undefined) return await runRepl(client, { input: io.stdin, output: io.stdout, terminal: Boolean(io.stdin.isTTY && io.stdout.isTTY), env: io.env });
    return await runOneShot(request, options, client, io);
  } finally {
    client.close();
  }
}

/**
 * Runs `raftquotes ctl` with the arguments after "ctl"; resolves with the exit code
 * (0 done, 1 no node answered or the request failed, 2 a usage mistake).
 */
export async function runCtl(argv: string[], io: CtlIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const command = buildCommand(io);
  let request: string | undefined;
  try {
    command.action((req: string | undefined) => void (request = req));
    await command.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2;
    throw err;
  }
  try {
    return await runParsed(request, command.opts<CtlOptions>(), io);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.stderr.write(`raftquotes ctl: ${err.message}\n`);
    return 2;
  }
}
