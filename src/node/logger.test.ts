import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

function capture(format: 'json' | 'pretty', level = 'info'): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, logger: createLogger('Node1', format, level, (line) => lines.push(line)) };
}

describe('node logger', () => {
  it('writes pino\'s JSON lines: level, time, bindings, fields, msg', () => {
    const { lines, logger } = capture('json');
    logger.info('became leader term=7');
    logger.child({ component: 'api' }).warn({ peer: 'Node2', n: 3 }, 'slow peer');
    expect(lines.every((l) => l.endsWith('\n'))).toBe(true);
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toEqual({ level: 30, time: expect.any(Number), node: 'Node1', msg: 'became leader term=7' });
    expect(Object.keys(second ?? {})).toEqual(['level', 'time', 'node', 'component', 'peer', 'n', 'msg']);
    expect(second).toMatchObject({ level: 40, component: 'api', peer: 'Node2', n: 3, msg: 'slow peer' });
  });

  it('serializes an error as pino does (type, message, stack, own fields, cause)', () => {
    const { lines, logger } = capture('json');
    const cause = new RangeError('disk full');
    const err = Object.assign(new Error('write failed', { cause }), { code: 'EIO' });
    logger.fatal({ err }, 'fatal: write failed');
    const record = JSON.parse(lines[0] as string) as { level: number; err: Record<string, unknown> };
    expect(record.level).toBe(60);
    expect(record.err).toMatchObject({ type: 'Error', message: 'write failed', code: 'EIO', cause: { type: 'RangeError', message: 'disk full' } });
    expect(record.err['stack']).toContain('write failed');
  });

  it('drops records below its level; silent writes nothing', () => {
    const { lines, logger } = capture('json', 'warn');
    logger.debug('no');
    logger.info('no');
    logger.error('yes');
    expect(lines).toHaveLength(1);
    const silent = capture('json', 'silent');
    silent.logger.fatal({}, 'no');
    expect(silent.lines).toHaveLength(0);
  });

  it('never throws on fields it cannot write, and says so in the line', () => {
    const { lines, logger } = capture('json');
    const cycle: Record<string, unknown> = {};
    cycle['self'] = cycle;
    logger.error({ cycle, big: 10n }, 'odd fields');
    const record = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(record).toMatchObject({ level: 50, node: 'Node1', msg: 'odd fields' });
    expect(record['logError']).toMatch(/not serializable/);
  });

  it('pretty: one readable line, with the error message when the line lacks it', () => {
    const { lines, logger } = capture('pretty');
    logger.info({ term: 7 }, 'became leader term=7');
    logger.error({ err: new Error('EACCES') }, 'cannot open');
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}became leader term=7\n$/);
    expect(lines[1]).toMatch(/ERROR cannot open \(EACCES\)\n$/);
  });
});
