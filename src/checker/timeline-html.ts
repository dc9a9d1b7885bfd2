import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeOp } from './explain.js';
import type { Failure, HistoryOp } from './types.js';
import { showValue } from './values.js';

/** Keys drawn in one page (the failing key first); the rest are listed by name only. */
export const MAX_TIMELINE_KEYS = 20;
/** Ops drawn per key; beyond this the key's lanes are cut (the page must stay usable). */
export const MAX_TIMELINE_OPS_PER_KEY = 5_000;
/** Longest op label inside a bar. */
const MAX_LABEL_CHARS = 24;
/** Width the whole history gets at zoom 1. */
const DEFAULT_TRACK_PX = 1600;
/** Roughly how far apart time-axis ticks are at zoom 1. */
const TICK_SPACING_PX = 120;

/**
 * Writes a self-contained HTML timeline of a history, in the spirit of Porcupine's
 * visualizer: one section per key, one lane per client, a bar per op from invoke to
 * completion (indeterminate ops fade out to the end), the failure's ops outlined and
 * its focus op filled red. Every piece of history text is HTML-escaped: op values are
 * user data and must never become markup (SPEC §7).
 */
export async function writeTimelineHtml(history: readonly HistoryOp[], failure: Failure | undefined, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, renderTimelineHtml(history, failure), 'utf8');
}

/** The page as a string (see writeTimelineHtml). */
export function renderTimelineHtml(history: readonly HistoryOp[], failure?: Failure): string {
  const frame = timeFrame(history);
  const keys = orderedKeys(history, failure);
  const shown = keys.slice(0, MAX_TIMELINE_KEYS);
  const hidden = keys.slice(MAX_TIMELINE_KEYS);
  const sections = shown.map((key) => keySection(key, history.filter((op) => op.key === key), failure, frame));
  const more = hidden.length ? `<p class="more">${hidden.length} more keys not drawn: ${escapeHtml(hidden.join(', '))}</p>` : '';
  return page(failure, `${sections.join('\n')}${more}`, history.length, keys.length);
}

interface TimeFrame {
  start: number;
  end: number;
  pxPerMs: number;
}

function timeFrame(history: readonly HistoryOp[]): TimeFrame {
  const times = history.flatMap((op) => [op.invokeMs, op.completeMs ?? op.invokeMs]).filter(Number.isFinite);
  // reduce, not Math.min(...times): long histories would overflow the argument list.
  const start = times.length ? times.reduce((a, b) => Math.min(a, b)) : 0;
  const end = times.reduce((a, b) => Math.max(a, b), start + 1);
  return { start, end, pxPerMs: DEFAULT_TRACK_PX / (end - start) };
}

function orderedKeys(history: readonly HistoryOp[], failure: Failure | undefined): string[] {
  const keys = [...new Set(history.map((op) => op.key))].sort();
  return failure ? [failure.key, ...keys.filter((k) => k !== failure.key)] : keys;
}

function keySection(key: string, ops: readonly HistoryOp[], failure: Failure | undefined, frame: TimeFrame): string {
  const drawn = ops.slice(0, MAX_TIMELINE_OPS_PER_KEY);
  const clients = [...new Set(drawn.map((op) => op.clientId))].sort();
  const windowIds = new Set(failure?.key === key ? failure.ops.map((op) => String(op.id)) : []);
  const focusId = failure?.key === key ? String(failure.focusOpId) : undefined;
  const lanes = clients.map((client) => {
    const mine = drawn.filter((op) => op.clientId === client).sort((a, b) => a.invokeMs - b.invokeMs);
    const bars = mine.map((op, i) => bar(op, barEnd(op, mine[i + 1], frame), frame, windowIds, focusId));
    return `<div class="lane"><div class="who">${escapeHtml(client)}</div><div class="track">${bars.join('')}</div></div>`;
  });
  const cut = ops.length > drawn.length ? ` (first ${drawn.length} of ${ops.length} ops drawn)` : '';
  const open = failure === undefined || failure.key === key ? ' open' : '';
  return `<details class="key"${open}><summary>key ${escapeHtml(JSON.stringify(key))}: ${ops.length} ops, ${clients.length} clients${cut}</summary>${axis(frame)}${lanes.join('')}</details>`;
}

/**
 * Where a bar ends. An op with unknown outcome may take effect at any later time, but
 * its client moved on: draw it until the client gave up (its recorded time, else its
 * next op), faded, so the lane stays readable.
 */
function barEnd(op: HistoryOp, nextOfClient: HistoryOp | undefined, frame: TimeFrame): number {
  if (op.completeMs !== null && op.completeMs >= op.invokeMs) return op.completeMs;
  return nextOfClient ? nextOfClient.invokeMs : frame.end;
}

function bar(op: HistoryOp, end: number, frame: TimeFrame, windowIds: Set<string>, focusId: string | undefined): string {
  const unknown = op.outcome === 'indeterminate';
  const classes = ['op', unknown ? 'unknown' : op.outcome, op.kind];
  if (windowIds.has(String(op.id))) classes.push('window');
  const focus = String(op.id) === focusId;
  if (focus) classes.push('focus');
  const style = `--s:${px(op.invokeMs - frame.start, frame)};--w:${px(end - op.invokeMs, frame)}`;
  return `<div class="${classes.join(' ')}"${focus ? ' id="focus"' : ''} style="${style}" title="${escapeHtml(describeOp(op))}">${escapeHtml(label(op))}</div>`;
}

/** A length at zoom 1, as a plain number for the CSS variables. */
function px(ms: number, frame: TimeFrame): string {
  const value = ms * frame.pxPerMs;
  return Number.isFinite(value) ? value.toFixed(2) : '0';
}

function label(op: HistoryOp): string {
  const text = (() => {
    switch (op.kind) {
      case 'read':
        return op.outcome === 'ok' ? `R ${showValue(op.output)}` : 'R';
      case 'write':
        return `W ${showValue(op.input.value)}`;
      case 'cas':
        return `${showValue(op.input.from)}→${showValue(op.input.to)}${op.outcome === 'fail' ? ' ✗' : ''}`;
      case 'delete':
        return `DEL${op.outcome === 'fail' ? ' ✗' : ''}`;
    }
  })();
  const marked = op.outcome === 'indeterminate' ? `${text} ?` : text;
  return marked.length <= MAX_LABEL_CHARS ? marked : `${marked.slice(0, MAX_LABEL_CHARS - 1)}…`;
}

function axis(frame: TimeFrame): string {
  const span = frame.end - frame.start;
  const step = niceStep((span * TICK_SPACING_PX) / DEFAULT_TRACK_PX);
  const ticks: string[] = [];
  for (let t = 0; t <= span; t += step) ticks.push(`<span class="tick" style="--s:${px(t, frame)}">${escapeHtml(formatMs(frame.start + t))}</span>`);
  return `<div class="lane axis"><div class="who">ms</div><div class="track">${ticks.join('')}</div></div>`;
}

/** 1, 2 or 5 times a power of ten, at least `raw`. */
function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-3)));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
}

function formatMs(ms: number): string {
  return Number.isInteger(ms) ? String(ms) : ms.toFixed(1);
}

const HTML_ESCAPES: ReadonlyMap<string, string> = new Map([
  ['&', '&amp;'],
  ['<', '&lt;'],
  ['>', '&gt;'],
  ['"', '&quot;'],
  ["'", '&#39;'],
]);

/** Escapes text for HTML element content and double- or single-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES.get(c) ?? c);
}

function page(failure: Failure | undefined, body: string, opCount: number, keyCount: number): string {
  const verdict = failure
    ? `<h2 class="bad">Not linearizable: key ${escapeHtml(JSON.stringify(failure.key))}</h2><pre class="explanation">${escapeHtml(failure.explanation)}</pre>`
    : '<h2 class="good">No violation reported</h2>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>raftquotes history timeline</title>
<style>${STYLE}</style></head>
<body>
<h1>History timeline</h1>
<p>${opCount} ops on ${keyCount} keys. Bars run from invoke to completion; faded bars (marked ?) never completed: they may have taken effect at any later time, or never. Hover a bar for details.</p>
${verdict}
<p class="controls"><label>zoom <input id="zoom" type="range" min="-4" max="5" step="0.25" value="0"></label>
<span class="legend"><span class="swatch op ok">ok</span> <span class="swatch op fail">failed</span> <span class="swatch op unknown">unknown</span> <span class="swatch op ok window">in failure window</span> <span class="swatch op ok focus">stuck here</span></span></p>
${body}
<script>${SCRIPT}</script>
</body></html>
`;
}

const STYLE = `
body { font: 13px system-ui, sans-serif; margin: 16px; --zoom: 1; }
pre.explanation { background: #fff4f4; border: 1px solid #e0a0a0; padding: 8px; white-space: pre-wrap; }
.bad { color: #b00; } .good { color: #070; }
details.key { margin: 12px 0; overflow-x: auto; }
summary { cursor: pointer; font-weight: 600; }
.lane { display: flex; height: 22px; border-bottom: 1px solid #eee; }
.who { flex: 0 0 90px; position: sticky; left: 0; background: #fff; z-index: 2; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.track { position: relative; flex: 0 0 auto; width: calc(${DEFAULT_TRACK_PX}px * var(--zoom) + 200px); }
.op { position: absolute; top: 2px; height: 16px; box-sizing: border-box; border-radius: 3px; padding: 0 3px; font-size: 11px; line-height: 16px;
  white-space: nowrap; overflow: hidden; left: calc(var(--s) * var(--zoom) * 1px); width: max(3px, calc(var(--w) * var(--zoom) * 1px)); }
.legend .op { position: static; display: inline-block; width: auto; }
.op.ok { background: #cfe8cf; border: 1px solid #7bb47b; }
.op.fail { background: #e4e4e4; border: 1px solid #aaa; }
.op.unknown { background: linear-gradient(90deg, #ffd8a8, #fff8f0); border: 1px dashed #e08a2c; }
.op.window { outline: 2px solid #d33; z-index: 1; }
.op.focus { background: #f66; color: #fff; outline: 3px solid #900; z-index: 1; }
.axis .tick { position: absolute; left: calc(var(--s) * var(--zoom) * 1px); font-size: 10px; color: #666; border-left: 1px solid #ccc; padding-left: 2px; }
`;

/** The only script: zoom, and bring the stuck op into view. It reads no history data. */
const SCRIPT = `
const zoom = document.getElementById('zoom');
zoom.addEventListener('input', () => document.body.style.setProperty('--zoom', String(2 ** Number(zoom.value))));
const focus = document.getElementById('focus');
if (focus) focus.scrollIntoView({ block: 'center', inline: 'center' });
`;
