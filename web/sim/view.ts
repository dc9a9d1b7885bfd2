/**
 * Drawing the simulated cluster: the ring (nodes coloured by term, messages travelling), the
 * node cards, the logs, the leader's per-peer progress, the links, the messages in flight and
 * the events. Every piece of text goes through textContent (client writes are user text).
 */
import type { RaftCore } from '../../src/raft/raft.js';
import type { NodeId } from '../../src/raft/types.js';
import { summarize, type BrowserSim, type SimAction } from './engine.js';

/** Named limits of the drawing. */
export const VIEW_LIMITS = {
  logCells: 20,
  flightRows: 40,
  eventRows: 120,
  ringSize: 320,
  ringRadius: 118,
  nodeRadius: 30,
} as const;

const SVG_NS = 'http://www.w3.org/2000/svg';

/** What the view asks the page to do when a control is used. */
export type Act = (action: SimAction) => void;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const node = document.createElementNS(SVG_NS, tag) as SVGElement;
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

function button(label: string, ariaLabel: string, testId: string, onClick: () => void): HTMLButtonElement {
  const b = el('button', 'button button-small', label);
  b.type = 'button';
  b.setAttribute('aria-label', ariaLabel);
  b.setAttribute('data-testid', testId);
  b.addEventListener('click', onClick);
  return b;
}

function stateOf(core: RaftCore | null): string {
  return core ? core.state : 'down';
}

function position(sim: BrowserSim, id: NodeId): { x: number; y: number } {
  const i = sim.ids.indexOf(id);
  const angle = -Math.PI / 2 + (2 * Math.PI * i) / sim.ids.length;
  const c = VIEW_LIMITS.ringSize / 2;
  return { x: c + VIEW_LIMITS.ringRadius * Math.cos(angle), y: c + VIEW_LIMITS.ringRadius * Math.sin(angle) };
}

// ---------------------------------------------------------------------------------------- ring

function ringNode(sim: BrowserSim, index: number, leader: NodeId | null): SVGElement {
  const node = sim.nodes[index]!;
  const core = node.core;
  const { x, y } = position(sim, node.id);
  const group = svg('g', { class: `ring-node t${(core?.term ?? 0) % 8}`, 'data-testid': `ring-${node.id}`, 'data-state': stateOf(core), 'data-leader': String(node.id === leader), 'data-term': core?.term ?? '' });
  group.append(svg('circle', { class: 'ring-circle', cx: x, cy: y, r: VIEW_LIMITS.nodeRadius }));
  if (core && core.state !== 'leader') {
    // The election timer as an arc that fills up: when it is full, the node campaigns.
    const timer = core.electionTimerView();
    const fraction = timer.timeout > 0 ? Math.min(1, timer.elapsed / timer.timeout) : 0;
    const r = VIEW_LIMITS.nodeRadius + 5;
    const length = 2 * Math.PI * r;
    group.append(svg('circle', { class: 'sim-timer', cx: x, cy: y, r, 'stroke-dasharray': `${fraction * length} ${length}`, transform: `rotate(-90 ${x} ${y})` }));
  }
  const name = svg('text', { class: 'ring-name', x, y: y - 2, 'text-anchor': 'middle' });
  name.textContent = node.id;
  const term = svg('text', { class: 'ring-term', x, y: y + 11, 'text-anchor': 'middle' });
  term.textContent = core ? `term ${core.term}` : 'down';
  group.append(name, term);
  return group;
}

function ringMessages(sim: BrowserSim, act: Act): SVGElement[] {
  const dots: SVGElement[] = [];
  for (const flight of sim.inFlight.values()) {
    const from = position(sim, flight.message.from);
    const to = position(sim, flight.message.to);
    const span = flight.deliverAt - flight.sentAt;
    const f = span > 0 ? Math.min(1, Math.max(0, (sim.now - flight.sentAt) / span)) : 1;
    const reply = flight.message.type.endsWith('Response');
    const dot = svg('circle', { class: `sim-msg ${reply ? 'reply' : 'request'} m-${flight.message.type}`, cx: from.x + (to.x - from.x) * f, cy: from.y + (to.y - from.y) * f, r: reply ? 5 : 7, 'data-testid': `msg-${flight.id}` });
    const title = svg('title', {});
    title.textContent = `#${flight.id} ${summarize(flight.message)}, ${flight.message.from} → ${flight.message.to} (click to drop)`;
    dot.append(title);
    dot.addEventListener('click', () => act({ kind: 'drop', message: flight.id }));
    dots.push(dot);
  }
  return dots;
}

/** The ring: nodes on a circle, cut links dashed red, messages as dots. */
export function renderRing(container: HTMLElement, sim: BrowserSim, act: Act): void {
  const size = VIEW_LIMITS.ringSize;
  const root = svg('svg', { viewBox: `0 0 ${size} ${size}`, role: 'img', 'aria-label': ringSummary(sim) });
  for (const key of sim.cut) {
    const [a, b] = key.split('>') as [NodeId, NodeId];
    if (a > b) continue;
    const p = position(sim, a);
    const q = position(sim, b);
    root.append(svg('line', { class: 'sim-cut', x1: p.x, y1: p.y, x2: q.x, y2: q.y }));
  }
  const leader = sim.leader();
  sim.nodes.forEach((_, i) => root.append(ringNode(sim, i, leader)));
  root.append(...ringMessages(sim, act));
  container.replaceChildren(root);
}

function ringSummary(sim: BrowserSim): string {
  const parts = sim.nodes.map((n) => `${n.id} ${stateOf(n.core)}${n.core ? ` term ${n.core.term}` : ''}`);
  return `${parts.join(', ')}; ${sim.inFlight.size} messages in flight`;
}

// ---------------------------------------------------------------------------------------- nodes

function nodeCard(sim: BrowserSim, index: number, leader: NodeId | null, act: Act): HTMLElement {
  const node = sim.nodes[index]!;
  const core = node.core;
  const card = el('article', 'node-card sim-card');
  card.dataset.state = stateOf(core) === 'pre-candidate' ? 'precandidate' : stateOf(core);
  card.dataset.leader = String(node.id === leader);
  card.setAttribute('data-testid', `sim-node-${node.id}`);
  const head = el('div', 'node-head');
  head.append(el('h3', 'node-name', node.id), el('span', 'state-pill', stateOf(core)));
  const facts = el('p', 'node-follows', core ? `term ${core.term} · voted ${core.vote ?? '–'} · commit ${core.log.commitIndex} · last ${core.log.lastIndex()}` : 'crashed: its disk keeps term, vote and log');
  const actions = el('div', 'node-actions');
  if (core) {
    actions.append(button('Crash', `Crash ${node.id}`, `sim-crash-${node.id}`, () => act({ kind: 'crash', node: node.id })));
    actions.append(button('Timeout', `Timeout ${node.id}`, `sim-timeout-${node.id}`, () => act({ kind: 'timeout', node: node.id })));
  } else {
    actions.append(button('Restart', `Restart ${node.id}`, `sim-restart-${node.id}`, () => act({ kind: 'restart', node: node.id })));
  }
  card.append(head, facts, actions);
  return card;
}

export function renderNodes(container: HTMLElement, sim: BrowserSim, act: Act): void {
  const leader = sim.leader();
  container.replaceChildren(...sim.nodes.map((_, i) => nodeCard(sim, i, leader, act)));
}

// ---------------------------------------------------------------------------------------- logs

function logRow(sim: BrowserSim, index: number, from: number): HTMLElement {
  const node = sim.nodes[index]!;
  const core = node.core;
  const row = el('div', `log-row state-${stateOf(core)}`);
  row.setAttribute('data-testid', `sim-log-${node.id}`);
  row.append(el('span', 'log-label', node.id));
  // A crashed node's log is still on its disk; it is drawn from there.
  const log = core?.log ?? null;
  const restored = core ? null : node.disk.recover();
  for (let i = from; i < from + VIEW_LIMITS.logCells; i++) {
    const term = log ? (log.entryAt(i)?.term ?? null) : (restored?.entries.find((e) => e.index === i)?.term ?? null);
    const commit = log ? log.commitIndex : (restored?.hardState.commit ?? 0);
    const cell = el('span', term === null ? 'cell blank' : `cell t${term % 8}${i <= commit ? ' committed' : ''}`, term === null ? '' : String(term));
    if (term !== null) cell.title = `index ${i}, term ${term}${i <= commit ? ', committed' : ''}`;
    row.append(cell);
  }
  return row;
}

export function renderLogs(container: HTMLElement, sim: BrowserSim): void {
  const last = Math.max(0, ...sim.nodes.map((n) => n.core?.log.lastIndex() ?? 0));
  const from = Math.max(1, last - VIEW_LIMITS.logCells + 1);
  const header = el('div', 'log-row log-header');
  header.append(el('span', 'log-label', 'index'));
  for (let i = from; i < from + VIEW_LIMITS.logCells; i++) header.append(el('span', 'log-index', String(i)));
  container.replaceChildren(header, ...sim.nodes.map((_, i) => logRow(sim, i, from)));
}

// ---------------------------------------------------------------------------------------- progress, links, lists

export function renderProgress(table: HTMLElement, sim: BrowserSim): void {
  const leader = sim.leader();
  const core = leader ? sim.nodes[sim.ids.indexOf(leader)]?.core : null;
  const head = el('thead');
  const hr = el('tr');
  for (const label of ['peer', 'matchIndex', 'nextIndex', 'state']) hr.append(el('th', '', label));
  head.append(hr);
  const body = el('tbody');
  if (!core) {
    const row = el('tr');
    const cell = el('td', '', 'No leader: nobody tracks progress now.');
    cell.colSpan = 4;
    row.append(cell);
    body.append(row);
  } else {
    for (const [peer, pr] of core.progressView()) {
      const row = el('tr');
      row.setAttribute('data-testid', `sim-progress-${peer}`);
      row.append(el('th', '', peer), el('td', 'num', String(pr.matchIndex)), el('td', 'num', String(pr.nextIndex)), el('td', `progress-${pr.state}`, pr.state));
      body.append(row);
    }
  }
  table.replaceChildren(head, body);
}

export function renderLinks(container: HTMLElement, sim: BrowserSim, act: Act): void {
  const buttons: HTMLElement[] = [];
  for (let i = 0; i < sim.ids.length; i++) {
    for (let j = i + 1; j < sim.ids.length; j++) {
      const a = sim.ids[i]!;
      const b = sim.ids[j]!;
      const cut = sim.isCut(a, b);
      const b1 = button(`${a}–${b}`, `${cut ? 'Heal' : 'Cut'} the link between ${a} and ${b}`, `link-${a}-${b}`, () => act({ kind: cut ? 'heal' : 'cut', a, b }));
      b1.setAttribute('aria-pressed', String(cut));
      b1.classList.add(cut ? 'link-down' : 'link-up');
      buttons.push(b1);
    }
  }
  container.replaceChildren(...buttons);
}

export function renderFlight(list: HTMLElement, sim: BrowserSim, act: Act): void {
  const rows: HTMLElement[] = [];
  for (const flight of [...sim.inFlight.values()].slice(0, VIEW_LIMITS.flightRows)) {
    const item = el('li', 'sim-flight-row');
    item.append(el('span', '', `#${flight.id} ${flight.message.from} → ${flight.message.to} ${summarize(flight.message)}`));
    item.append(button('Drop', `Drop message ${flight.id}, ${flight.message.type} from ${flight.message.from} to ${flight.message.to}`, `drop-${flight.id}`, () => act({ kind: 'drop', message: flight.id })));
    rows.push(item);
  }
  if (rows.length === 0) rows.push(el('li', 'sim-empty', 'Nothing on the wire.'));
  list.replaceChildren(...rows);
}

export function renderEvents(list: HTMLElement, sim: BrowserSim): void {
  const lines = sim.events.slice(-VIEW_LIMITS.eventRows).reverse();
  list.replaceChildren(...lines.map((line) => el('li', '', `${line.at.toFixed(1).padStart(8)} ms  ${line.node ?? '·'}  ${line.text}`)));
}
