/**
 * Drawing the simulated cluster: the ring (nodes coloured by term, messages travelling), the
 * node cards, the logs, the leader's per-peer progress, the links, the messages in flight and
 * the events. Every piece of text goes through textContent (client writes are user text).
 */
import type { NodeId, RaftCore } from '@raftquotes/raft';
import { summarize, type BrowserSim, type InFlight, type SimAction } from './engine.js';

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

function setText(node: Element, text: string): void {
  if (node.textContent !== text) node.textContent = text;
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
//
// The ring and the controls are updated in place, never rebuilt: a button or a message dot
// replaced between mousedown and mouseup would lose the click.

interface RingParts {
  root: SVGElement;
  cuts: SVGElement;
  nodes: Map<NodeId, { group: SVGElement; timer: SVGElement; term: SVGElement }>;
  dots: Map<number, SVGElement>;
}

const ringParts = new WeakMap<HTMLElement, RingParts>();

function buildRing(container: HTMLElement, sim: BrowserSim): RingParts {
  const size = VIEW_LIMITS.ringSize;
  const root = svg('svg', { viewBox: `0 0 ${size} ${size}`, role: 'img' });
  const cuts = svg('g', {});
  root.append(cuts);
  const nodes: RingParts['nodes'] = new Map();
  for (const id of sim.ids) {
    const { x, y } = position(sim, id);
    const group = svg('g', { class: 'ring-node', 'data-testid': `ring-${id}` });
    const r = VIEW_LIMITS.nodeRadius + 5;
    const timer = svg('circle', { class: 'sim-timer', cx: x, cy: y, r, transform: `rotate(-90 ${x} ${y})` });
    const name = svg('text', { class: 'ring-name', x, y: y - 2, 'text-anchor': 'middle' });
    name.textContent = id;
    const term = svg('text', { class: 'ring-term', x, y: y + 11, 'text-anchor': 'middle' });
    group.append(svg('circle', { class: 'ring-circle', cx: x, cy: y, r: VIEW_LIMITS.nodeRadius }), timer, name, term);
    root.append(group);
    nodes.set(id, { group, timer, term });
  }
  const parts: RingParts = { root, cuts, nodes, dots: new Map() };
  container.replaceChildren(root);
  ringParts.set(container, parts);
  return parts;
}

function setAttr(node: Element, name: string, value: string): void {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}

function updateRingNode(sim: BrowserSim, parts: RingParts, index: number, leader: NodeId | null): void {
  const node = sim.nodes[index]!;
  const core = node.core;
  const view = parts.nodes.get(node.id)!;
  setAttr(view.group, 'class', `ring-node t${(core?.term ?? 0) % 8}`);
  setAttr(view.group, 'data-state', stateOf(core));
  setAttr(view.group, 'data-leader', String(node.id === leader));
  setAttr(view.group, 'data-term', String(core?.term ?? ''));
  // The election timer as an arc that fills up: when it is full, the node campaigns.
  const timer = core && core.state !== 'leader' ? core.electionTimerView() : null;
  const fraction = timer && timer.timeout > 0 ? Math.min(1, timer.elapsed / timer.timeout) : 0;
  const length = 2 * Math.PI * (VIEW_LIMITS.nodeRadius + 5);
  setAttr(view.timer, 'stroke-dasharray', `${(fraction * length).toFixed(1)} ${length.toFixed(1)}`);
  const label = core ? `term ${core.term}` : 'down';
  if (view.term.textContent !== label) view.term.textContent = label;
}

function messageDot(flight: InFlight, act: Act): SVGElement {
  const reply = flight.message.type.endsWith('Response');
  const dot = svg('circle', { class: `sim-msg ${reply ? 'reply' : 'request'} m-${flight.message.type}`, r: reply ? 5 : 7, 'data-testid': `msg-${flight.id}` });
  const title = svg('title', {});
  title.textContent = `#${flight.id} ${summarize(flight.message)}, ${flight.message.from} → ${flight.message.to} (click to drop)`;
  dot.append(title);
  dot.addEventListener('click', () => act({ kind: 'drop', message: flight.id }));
  return dot;
}

function updateMessages(sim: BrowserSim, parts: RingParts, act: Act): void {
  for (const [id, dot] of parts.dots) {
    if (!sim.inFlight.has(id)) {
      dot.remove();
      parts.dots.delete(id);
    }
  }
  for (const flight of sim.inFlight.values()) {
    let dot = parts.dots.get(flight.id);
    if (!dot) {
      dot = messageDot(flight, act);
      parts.dots.set(flight.id, dot);
      parts.root.append(dot);
    }
    const from = position(sim, flight.message.from);
    const to = position(sim, flight.message.to);
    const span = flight.deliverAt - flight.sentAt;
    const f = span > 0 ? Math.min(1, Math.max(0, (sim.now - flight.sentAt) / span)) : 1;
    setAttr(dot, 'cx', (from.x + (to.x - from.x) * f).toFixed(1));
    setAttr(dot, 'cy', (from.y + (to.y - from.y) * f).toFixed(1));
  }
}

function updateCuts(sim: BrowserSim, parts: RingParts): void {
  const lines: SVGElement[] = [];
  for (const key of sim.cut) {
    const [a, b] = key.split('>') as [NodeId, NodeId];
    if (a > b) continue;
    const p = position(sim, a);
    const q = position(sim, b);
    lines.push(svg('line', { class: 'sim-cut', x1: p.x, y1: p.y, x2: q.x, y2: q.y }));
  }
  if (parts.cuts.childNodes.length !== lines.length || lines.length > 0) parts.cuts.replaceChildren(...lines);
}

/** The ring: nodes on a circle, cut links dashed red, messages as dots travelling. */
export function renderRing(container: HTMLElement, sim: BrowserSim, act: Act): void {
  let parts = ringParts.get(container);
  if (!parts || !container.contains(parts.root)) parts = buildRing(container, sim);
  const leader = sim.leader();
  sim.nodes.forEach((_, i) => updateRingNode(sim, parts, i, leader));
  updateCuts(sim, parts);
  updateMessages(sim, parts, act);
  setAttr(parts.root, 'aria-label', ringSummary(sim));
}

function ringSummary(sim: BrowserSim): string {
  const parts = sim.nodes.map((n) => `${n.id} ${stateOf(n.core)}${n.core ? ` term ${n.core.term}` : ''}`);
  return `${parts.join(', ')}; ${sim.inFlight.size} messages in flight`;
}

// ---------------------------------------------------------------------------------------- nodes

interface CardParts {
  card: HTMLElement;
  pill: HTMLElement;
  facts: HTMLElement;
  crash: HTMLButtonElement;
  timeout: HTMLButtonElement;
  restart: HTMLButtonElement;
}

const cardParts = new WeakMap<HTMLElement, Map<NodeId, CardParts>>();

function buildCard(id: NodeId, act: Act): CardParts {
  const card = el('article', 'node-card sim-card');
  card.setAttribute('data-testid', `sim-node-${id}`);
  const head = el('div', 'node-head');
  const pill = el('span', 'state-pill');
  head.append(el('h3', 'node-name', id), pill);
  const facts = el('p', 'node-follows');
  const actions = el('div', 'node-actions');
  const crash = button('Crash', `Crash ${id}`, `sim-crash-${id}`, () => act({ kind: 'crash', node: id }));
  const timeout = button('Timeout', `Timeout ${id}`, `sim-timeout-${id}`, () => act({ kind: 'timeout', node: id }));
  const restart = button('Restart', `Restart ${id}`, `sim-restart-${id}`, () => act({ kind: 'restart', node: id }));
  actions.append(crash, timeout, restart);
  card.append(head, facts, actions);
  return { card, pill, facts, crash, timeout, restart };
}

function updateCard(parts: CardParts, core: RaftCore | null, leader: boolean): void {
  const state = stateOf(core);
  const cardState = state === 'pre-candidate' ? 'precandidate' : state;
  if (parts.card.dataset.state !== cardState) parts.card.dataset.state = cardState;
  if (parts.card.dataset.leader !== String(leader)) parts.card.dataset.leader = String(leader);
  setText(parts.pill, state);
  setText(parts.facts, core ? `term ${core.term} · voted ${core.vote ?? '–'} · commit ${core.log.commitIndex} · last ${core.log.lastIndex()}` : 'crashed: its disk keeps term, vote and log');
  parts.crash.hidden = core === null;
  parts.timeout.hidden = core === null;
  parts.restart.hidden = core !== null;
}

export function renderNodes(container: HTMLElement, sim: BrowserSim, act: Act): void {
  let cards = cardParts.get(container);
  if (!cards) {
    cards = new Map(sim.ids.map((id) => [id, buildCard(id, act)]));
    cardParts.set(container, cards);
    container.replaceChildren(...[...cards.values()].map((c) => c.card));
  }
  const leader = sim.leader();
  for (const node of sim.nodes) updateCard(cards.get(node.id)!, node.core, node.id === leader);
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

const linkButtons = new WeakMap<HTMLElement, Map<string, HTMLButtonElement>>();

export function renderLinks(container: HTMLElement, sim: BrowserSim, act: Act): void {
  let buttons = linkButtons.get(container);
  if (!buttons) {
    buttons = new Map();
    for (let i = 0; i < sim.ids.length; i++) {
      for (let j = i + 1; j < sim.ids.length; j++) {
        const a = sim.ids[i]!;
        const b = sim.ids[j]!;
        buttons.set(`${a}>${b}`, button(`${a}–${b}`, '', `link-${a}-${b}`, () => act({ kind: sim.isCut(a, b) ? 'heal' : 'cut', a, b })));
      }
    }
    linkButtons.set(container, buttons);
    container.replaceChildren(...buttons.values());
  }
  for (const [key, b] of buttons) {
    const [x, y] = key.split('>') as [NodeId, NodeId];
    const cut = sim.isCut(x, y);
    setAttr(b, 'aria-pressed', String(cut));
    setAttr(b, 'aria-label', `${cut ? 'Heal' : 'Cut'} the link between ${x} and ${y}`);
    setAttr(b, 'class', `button button-small ${cut ? 'link-down' : 'link-up'}`);
  }
}

const flightRows = new WeakMap<HTMLElement, Map<number, HTMLElement>>();

function flightRow(flight: InFlight, act: Act): HTMLElement {
  const { message } = flight;
  const item = el('li', 'sim-flight-row');
  item.append(el('span', '', `#${flight.id} ${message.from} → ${message.to} ${summarize(message)}`));
  item.append(button('Drop', `Drop message ${flight.id}, ${message.type} from ${message.from} to ${message.to}`, `drop-${flight.id}`, () => act({ kind: 'drop', message: flight.id })));
  return item;
}

/** The messages on the wire, oldest first, each with a Drop button (rows kept while in flight). */
export function renderFlight(list: HTMLElement, sim: BrowserSim, act: Act): void {
  let rows = flightRows.get(list);
  if (!rows) {
    rows = new Map();
    flightRows.set(list, rows);
    list.replaceChildren();
  }
  const shown = [...sim.inFlight.values()].slice(0, VIEW_LIMITS.flightRows);
  const keep = new Set(shown.map((f) => f.id));
  for (const [id, row] of rows) {
    if (!keep.has(id)) {
      row.remove();
      rows.delete(id);
    }
  }
  for (const flight of shown) {
    if (rows.has(flight.id)) continue;
    const row = flightRow(flight, act);
    rows.set(flight.id, row);
    list.append(row);
  }
  list.dataset.empty = String(shown.length === 0);
}

export function renderEvents(list: HTMLElement, sim: BrowserSim): void {
  const lines = sim.events.slice(-VIEW_LIMITS.eventRows).reverse();
  list.replaceChildren(...lines.map((line) => el('li', '', `${line.at.toFixed(1).padStart(8)} ms  ${line.node ?? '·'}  ${line.text}`)));
}
