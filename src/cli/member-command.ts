import type { Command } from 'commander';
import { ConfigError } from './config.js';

function timeoutOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`--timeout-ms: expected a non-negative integer, got "${value}"`);
  return n;
}

/** `raftquotes member list|add|promote|remove|replace` (SPEC §9); the work is in member.ts. */
export function registerMemberCommands(program: Command): void {
  const member = program.command('member').description('membership (SPEC §9): list, add, promote, remove, replace, through any node (--via URL)');
  const via = (opts: { via?: string; clusterFile: string; ca?: string }): Promise<string> =>
    import('./member.js').then((m) => {
      m.useCa(opts.ca, opts.clusterFile);
      return opts.via ?? m.defaultVia(opts.clusterFile);
    });
  const memberCommand = (name: string, description: string): Command =>
    member
      .command(name)
      .description(description)
      .option('--via <url>', 'HTTP URL of any node (default: the first node of cluster.json)')
      .option('--cluster-file <path>', 'cluster.json to read', './data/cluster.json')
      .option('--ca <file>', 'CA certificate (PEM) to trust for https:// nodes (env RAFTQUOTES_TLS_CA; default: <data-dir>/tls/ca.crt of a `cluster --tls`)');
  memberCommand('list', 'voters, learners and the joint state').action(async (opts: { via?: string; clusterFile: string }) => {
    process.exitCode = await (await import('./member.js')).memberList(await via(opts));
  });
  memberCommand('add <id>', 'add a node as a learner, then promote it once caught up (unless --learner)')
    .requiredOption('--raft <host:port>', 'its Raft address')
    .requiredOption('--http <url>', 'its HTTP URL')
    .option('--learner', 'leave it a learner')
    .option('--timeout-ms <ms>', 'how long to wait for it to catch up', (v) => timeoutOption(v))
    .action(async (id: string, opts: { via?: string; clusterFile: string; raft: string; http: string; learner?: boolean; timeoutMs?: number }) => {
      const m = await import('./member.js');
      process.exitCode = await m.memberAdd(await via(opts), id, opts.raft, opts.http, opts.learner === true, opts.timeoutMs ?? m.DEFAULT_CATCH_UP_TIMEOUT_MS);
    });
  memberCommand('promote <id>', 'make a caught-up learner a voter').action(async (id: string, opts: { via?: string; clusterFile: string }) => {
    const m = await import('./member.js');
    process.exitCode = await m.memberPromote(await via(opts), id, m.DEFAULT_CATCH_UP_TIMEOUT_MS);
  });
  memberCommand('remove <id>', 'remove a member (the leader hands over first)').action(async (id: string, opts: { via?: string; clusterFile: string }) => {
    process.exitCode = await (await import('./member.js')).memberRemove(await via(opts), id);
  });
  memberCommand('replace <old>', 'replace a (dead) member: add the new one, wait for it to catch up, promote it, remove the old one')
    .requiredOption('--with <id>', 'the new node id')
    .requiredOption('--raft <host:port>', 'the new node Raft address')
    .requiredOption('--http <url>', 'the new node HTTP URL')
    .option('--timeout-ms <ms>', 'how long to wait for it to catch up', (v) => timeoutOption(v))
    .action(async (old: string, opts: { via?: string; clusterFile: string; with: string; raft: string; http: string; timeoutMs?: number }) => {
      const m = await import('./member.js');
      process.exitCode = await m.memberReplace(await via(opts), old, opts.with, opts.raft, opts.http, opts.timeoutMs ?? m.DEFAULT_CATCH_UP_TIMEOUT_MS);
    });

}
