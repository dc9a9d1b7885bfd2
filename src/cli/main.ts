import { Command, CommanderError, Option } from 'commander';
import { BOOLEAN_SETTINGS, ConfigError, nodeFlags, parseNodeConfig, type NodeSettingName } from './config.js';
import { registerMemberCommands } from './member-command.js';

/**
 * `node` is on the path of every restart and catch-up: its modules (most of dist/) start
 * loading now, while commander parses, so their file reads overlap that work. The flags are
 * still checked first (an import failure is reported where it is awaited, after them).
 */
const nodeCommand = process.argv[2] === 'node' ? import('./node-command.js') : null;
nodeCommand?.catch(() => undefined);

/** Prints a user mistake as one line and exits non-zero, never a stack trace. */
function exitWithError(err: unknown): never {
  if (err instanceof ConfigError) {
    console.error(`raftquotes: ${err.message}`);
    process.exit(2);
  }
  if (err instanceof CommanderError) process.exit(err.exitCode || 2);
  const message = err instanceof Error ? err.message : String(err);
  console.error(`raftquotes: ${message}`);
  process.exit(1);
}

function intOption(value: string, previous: unknown, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${flag}: expected a non-negative integer, got "${value}"`);
  void previous;
  return n;
}

function buildProgram(): Command {
  const program = new Command('raftquotes')
    .description('A motivational quote board replicated by a from-scratch Raft cluster')
    .exitOverride()
    .showHelpAfterError(false);

  program
    .command('cluster')
    .description('start N local node processes and write <data-dir>/cluster.json')
    .option('--nodes <n>', 'number of nodes', (v, p) => intOption(v, p, '--nodes'), 5)
    .option('--data-dir <dir>', 'data directory', './data')
    .option('--host <host>', 'address every node listens on', '127.0.0.1')
    .option('--http-base <port>', 'node i serves HTTP on base+i', (v, p) => intOption(v, p, '--http-base'), 8080)
    .option('--raft-base <port>', 'node i listens for peers on base+i', (v, p) => intOption(v, p, '--raft-base'), 7000)
    .option('--controller-base <port>', 'node i listens for the UDP controller on base+i', (v, p) => intOption(v, p, '--controller-base'), 5554)
    .option('--node-args <flags>', 'extra flags for every node, space separated (e.g. "--snapshot-every 100")', '')
    .option('--tls', 'mutual TLS between peers and HTTPS for clients; certificates made under <data-dir>/tls', false)
    .action(async (opts: { nodes: number; dataDir: string; host: string; httpBase: number; raftBase: number; controllerBase: number; nodeArgs: string; tls: boolean }) => {
      const { runCluster } = await import('./cluster.js');
      process.exitCode = await runCluster({ ...opts, nodeArgs: opts.nodeArgs.split(/\s+/).filter(Boolean) });
    });

  const node = program.command('node').description('run one node (every flag also has a RAFTQUOTES_* environment variable)');
  /** commander names each option after its flag (--secret-file → secretFile); map back to the setting. */
  const attributeOf = new Map<NodeSettingName, string>();
  for (const { key, flag, env } of nodeFlags()) {
    const option = key === 'unsafeLocalReads'
      ? new Option(flag, `test only: serve reads without ReadIndex [${env}]`).hideHelp()
      : BOOLEAN_SETTINGS.has(key) ? new Option(flag, `[${env}]`) : new Option(`${flag} <value>`, `[${env}]`);
    attributeOf.set(key, option.attributeName());
    node.addOption(option);
  }
  node.action(async (opts: Record<string, string | boolean>) => {
    const flags: Partial<Record<NodeSettingName, string | boolean>> = {};
    for (const [key, attribute] of attributeOf) if (opts[attribute] !== undefined) flags[key] = opts[attribute] as string | boolean;
    const config = parseNodeConfig(flags, process.env);
    const { runNode } = await (nodeCommand ?? import('./node-command.js'));
    await runNode(config);
  });

  program
    .command('certs')
    .description('make a CA and a certificate per node for TLS: DIR/ca.crt, ca.key, NodeK.crt, NodeK.key (keys 0600)')
    .requiredOption('--out <dir>', 'directory to write the files to')
    .option('--nodes <ids>', 'node ids, comma separated', 'Node1,Node2,Node3,Node4,Node5')
    .option('--hosts <names>', 'host names and IP addresses every node certificate also names, comma separated', '127.0.0.1,localhost')
    .action(async (opts: { out: string; nodes: string; hosts: string }) => {
      const { runCerts } = await import('./certs-command.js');
      process.exitCode = runCerts(opts);
    });

  registerMemberCommands(program);

  program
    .command('status')
    .description('one table: each node state, term, leader, commit, applied and lag')
    .option('--cluster-file <path>', 'cluster.json to read', './data/cluster.json')
    .action(async (opts: { clusterFile: string }) => {
      const { runStatus } = await import('./status.js');
      process.exitCode = await runStatus(opts.clusterFile);
    });

  addOperationsCommands(program);
  return program;
}

/** `backup` and `restore` (SPEC §10). */
function addOperationsCommands(program: Command): void {
  program
    .command('backup')
    .description('save a consistent backup of the state (GET /api/backup) to FILE (mode 0600); admin token from RAFTQUOTES_ADMIN_TOKEN')
    .requiredOption('--out <file>', 'file to write (replaced atomically)')
    .option('--via <url>', "a node's URL (default: the first node of --cluster-file)")
    .option('--cluster-file <path>', 'cluster.json to find a node in', './data/cluster.json')
    .action(async (opts: { out: string; via?: string; clusterFile: string }) => {
      const { runBackup } = await import('./backup.js');
      process.exitCode = await runBackup(opts);
    });

  program
    .command('restore <file>')
    .description('seed a node of a new cluster from a backup (the init step: start it afterwards without --init)')
    .requiredOption('--data-dir <dir>', 'an empty or new data dir')
    .requiredOption('--id <id>', "this node's id, e.g. Node1")
    .requiredOption('--peers <list>', "the new cluster's voters, Node1=h:p,... (replaces the backup's configuration)")
    .option('--cluster-id <id>', 'cluster id of the new cluster (default: a new one derived from the backup, the same for every node)')
    .action(async (file: string, opts: { dataDir: string; id: string; peers: string; clusterId?: string }) => {
      const { runRestore } = await import('./restore.js');
      process.exitCode = runRestore(file, opts);
    });
}

async function main(): Promise<void> {
  // ctl has its own flag grammar (course requests, a REPL): hand it the raw arguments.
  if (process.argv[2] === 'ctl') {
    const { runCtl } = await import('./ctl.js');
    process.exitCode = await runCtl(process.argv.slice(3)).catch(exitWithError);
    return;
  }
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError && (err.code === 'commander.helpDisplayed' || err.code === 'commander.version')) return;
    exitWithError(err);
  }
}

void main();
