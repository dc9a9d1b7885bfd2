import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HistoryBuilder } from '../../../src/checker/history-builder.js';
import { checkLinearizability } from '../../../src/checker/index.js';
import { escapeHtml, renderTimelineHtml, writeTimelineHtml } from '../../../src/checker/timeline-html.js';

const dir = mkdtempSync(join(tmpdir(), 'raftquotes-timeline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function hostileHistory() {
  const b = new HistoryBuilder('<img src=x onerror=alert(1)>');
  b.write('c1', '<script>alert("x")</script>', 0, 10);
  b.write("c2'><b>", 'second', 20, 30);
  b.read('c3', '<script>alert("x")</script>', 40, 50); // stale
  b.write('c4', 'maybe', 35, null);
  return b.ops;
}

describe('writeTimelineHtml', () => {
  it('writes one self-contained page with a lane per client and the failure highlighted', async () => {
    const history = hostileHistory();
    const { failure } = checkLinearizability(history);
    const path = join(dir, 'nested', 'timeline.html');
    await writeTimelineHtml(history, failure, path);
    const html = readFileSync(path, 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.match(/class="lane"/g)).toHaveLength(4);
    expect(html.match(/class="op [^"]*focus/g)).toHaveLength(1);
    expect(html.match(/class="op [^"]*window/g)?.length).toBeGreaterThanOrEqual(2);
    expect(html).toContain('class="op unknown write"');
    expect(html).not.toMatch(/<(link|img|iframe)\b/i);
    expect(html).not.toContain('src="http');
  });

  it('never lets history text become markup', () => {
    const history = hostileHistory();
    const html = renderTimelineHtml(history, checkLinearizability(history).failure);
    expect(html.match(/<script>/g)).toHaveLength(1); // ours, which reads no data
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>');
    expect(html).toContain('&lt;script&gt;');
    expect(html).toContain('c2&#39;&gt;&lt;b&gt;');
  });

  it('draws a passing history without a failure section', () => {
    const b = new HistoryBuilder();
    b.write('c1', 1, 0, 10);
    b.read('c2', 1, 5, 15);
    const html = renderTimelineHtml(b.ops);
    expect(html).toContain('No violation reported');
    expect(html).not.toContain('class="op ok focus');
  });

  it('escapes every special character', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});
