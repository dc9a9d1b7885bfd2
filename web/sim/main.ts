/**
 * GET /sim: the Raft simulator page. Five RaftCore instances (the nodes' own core, bundled by
 * esbuild) run in the page over simulated time; this file maps wall-clock time to simulated
 * time (speed, pause, step), turns the controls into recorded actions, and draws.
 *
 * URL parameters: `seed` (the run's seed; random when absent, shown in the field) and
 * `paused=1` (start paused). `window.raftSim` exposes the engine for the console and tests:
 * `raftSim.sim.hash()`, `raftSim.runUntil(ms)`.
 */
import { BrowserSim, parseRecording, SimActionError, type RecordedAction, type SimAction } from './engine.js';
import { renderEvents, renderFlight, renderLinks, renderLogs, renderNodes, renderProgress, renderRing } from './view.js';

/** Named limits of the page. */
const PAGE_LIMITS = {
  /** Longest wall-clock gap a frame may turn into simulated time (a hidden tab does not jump). */
  maxFrameMs: 100,
  /** Panels other than the ring are redrawn at most this often. */
  panelEveryMs: 120,
  /** Largest recording file opened. */
  maxRecordingBytes: 2 * 1024 * 1024,
  maxSeed: 0xffff_ffff,
  /** Fastest and slowest simulated/wall-clock ratio accepted from the speed control. */
  minSpeed: 0.001,
  maxSpeed: 50,
} as const;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

const ui = {
  play: $<HTMLButtonElement>('sim-play'),
  stepMessage: $<HTMLButtonElement>('sim-step-message'),
  stepTick: $<HTMLButtonElement>('sim-step-tick'),
  speed: $<HTMLSelectElement>('sim-speed'),
  dropRate: $<HTMLSelectElement>('sim-drop-rate'),
  writeForm: $<HTMLFormElement>('sim-write-form'),
  writeText: $<HTMLInputElement>('sim-write-text'),
  healAll: $<HTMLButtonElement>('sim-heal-all'),
  seedForm: $<HTMLFormElement>('sim-seed-form'),
  seed: $<HTMLInputElement>('sim-seed'),
  seedShown: $('sim-seed-shown'),
  replay: $<HTMLButtonElement>('sim-replay'),
  exportButton: $<HTMLButtonElement>('sim-export'),
  importInput: $<HTMLInputElement>('sim-import'),
  status: $('sim-status'),
  time: $('sim-time'),
  steps: $('sim-steps'),
  leader: $('sim-leader'),
  actions: $('sim-actions'),
  hash: $('sim-hash'),
  message: $('sim-message'),
  ring: $('sim-ring'),
  nodes: $('sim-nodes'),
  logs: $('sim-logs'),
  progress: $('sim-progress'),
  links: $('sim-links'),
  flight: $('sim-flight'),
  events: $('sim-events'),
};

const params = new URLSearchParams(location.search);

const page = {
  sim: new BrowserSim(initialSeed()),
  playing: params.get('paused') !== '1',
  speed: Number(ui.speed.value),
  lastFrame: 0,
  lastPanels: -Infinity,
  panelsVersion: '',
};

function initialSeed(): number {
  const fromUrl = Number(params.get('seed'));
  if (params.has('seed') && Number.isSafeInteger(fromUrl) && fromUrl >= 0 && fromUrl <= PAGE_LIMITS.maxSeed) return fromUrl;
  return crypto.getRandomValues(new Uint32Array(1))[0] as number;
}

function say(text: string, tone: 'info' | 'error' = 'info'): void {
  ui.message.hidden = text === '';
  ui.message.textContent = text;
  ui.message.dataset.tone = tone;
}

/** Applies a user action to the engine (it records it); redraws at once. */
function act(action: SimAction): void {
  try {
    page.sim.apply(action);
    say('');
  } catch (err) {
    if (!(err instanceof SimActionError)) throw err;
    say(err.message, 'error');
  }
  draw(true);
}

// ---------------------------------------------------------------------------------------- drawing

function setText(element: HTMLElement, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}

function drawStatus(): void {
  const sim = page.sim;
  setText(ui.time, sim.now.toFixed(1));
  setText(ui.steps, String(sim.steps));
  setText(ui.leader, sim.leader() ?? 'none');
  setText(ui.actions, String(sim.recording.length));
  setText(ui.hash, sim.hash());
  setText(ui.seedShown, String(sim.seed));
  ui.status.dataset.hash = sim.hash();
  ui.status.dataset.steps = String(sim.steps);
  ui.status.dataset.leader = sim.leader() ?? '';
  setText(ui.play, page.playing ? 'Pause' : 'Play');
  ui.play.setAttribute('aria-pressed', String(!page.playing));
}

/** Redraws the ring every frame; the other panels at most every PAGE_LIMITS.panelEveryMs. */
function draw(all = false): void {
  const sim = page.sim;
  renderRing(ui.ring, sim, act);
  drawStatus();
  const now = performance.now();
  // Nothing to redraw while paused: the panels change only with events, actions or time.
  const version = `${sim.steps}|${sim.recording.length}|${sim.now}|${sim.inFlight.size}`;
  if (!all && (now - page.lastPanels < PAGE_LIMITS.panelEveryMs || version === page.panelsVersion)) return;
  page.lastPanels = now;
  page.panelsVersion = version;
  renderNodes(ui.nodes, sim, act);
  renderLogs(ui.logs, sim);
  renderProgress(ui.progress, sim);
  renderLinks(ui.links, sim, act);
  renderFlight(ui.flight, sim, act);
  renderEvents(ui.events, sim);
}

function frame(time: number): void {
  const elapsed = page.lastFrame === 0 ? 0 : Math.min(PAGE_LIMITS.maxFrameMs, time - page.lastFrame);
  page.lastFrame = time;
  if (page.playing && elapsed > 0) page.sim.runUntil(page.sim.now + elapsed * page.speed);
  draw();
  requestAnimationFrame(frame);
}

// ---------------------------------------------------------------------------------------- runs

/** Starts a new run: this seed, and optionally a recording replayed up to `toStep` events. */
function startRun(seed: number, replay: RecordedAction[] = [], toStep = 0): void {
  page.sim = new BrowserSim(seed, replay);
  page.sim.runToStep(toStep);
  ui.seed.value = String(seed);
  ui.dropRate.value = String(page.sim.dropRate);
  const url = new URL(location.href);
  url.searchParams.set('seed', String(seed));
  history.replaceState(null, '', url);
  draw(true);
}

function readSeed(): number | null {
  const seed = Number(ui.seed.value);
  return ui.seed.value.trim() !== '' && Number.isSafeInteger(seed) && seed >= 0 && seed <= PAGE_LIMITS.maxSeed ? seed : null;
}

function exportRecording(): void {
  const blob = new Blob([JSON.stringify(page.sim.exportRecording(), null, 1)], { type: 'application/json' });
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = `raft-sim-seed-${page.sim.seed}.json`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1_000);
}

async function importRecording(file: File): Promise<void> {
  if (file.size > PAGE_LIMITS.maxRecordingBytes) return say(`That file is over ${PAGE_LIMITS.maxRecordingBytes} bytes; a recording is much smaller.`, 'error');
  try {
    const recording = parseRecording(await file.text());
    const last = recording.actions.reduce((max, a) => Math.max(max, a.step), 0);
    page.playing = false;
    startRun(recording.seed, recording.actions, last);
    say(`Opened a recording of seed ${recording.seed} with ${recording.actions.length} actions; paused after the last one. Press Play.`);
  } catch (err) {
    say(err instanceof Error ? err.message : String(err), 'error');
  }
}

// ---------------------------------------------------------------------------------------- wiring

function wireTime(): void {
  ui.play.addEventListener('click', () => {
    page.playing = !page.playing;
    draw(true);
  });
  ui.stepMessage.addEventListener('click', () => {
    page.playing = false;
    page.sim.stepMessage();
    draw(true);
  });
  ui.stepTick.addEventListener('click', () => {
    page.playing = false;
    page.sim.stepTick();
    draw(true);
  });
  ui.speed.addEventListener('change', () => {
    const speed = Number(ui.speed.value);
    if (speed >= PAGE_LIMITS.minSpeed && speed <= PAGE_LIMITS.maxSpeed) page.speed = speed;
  });
}

function wireActions(): void {
  ui.dropRate.addEventListener('change', () => act({ kind: 'drop-rate', rate: Number(ui.dropRate.value) }));
  ui.writeForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = ui.writeText.value.trim();
    if (text) act({ kind: 'write', text });
  });
  ui.healAll.addEventListener('click', () => act({ kind: 'heal-all' }));
}

function wireRuns(): void {
  ui.seedForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const seed = readSeed();
    if (seed === null) return say(`A seed is a whole number from 0 to ${PAGE_LIMITS.maxSeed}.`, 'error');
    ui.dropRate.value = '0';
    startRun(seed);
    say(`Started over with seed ${seed}.`);
  });
  ui.replay.addEventListener('click', () => {
    const { seed, actions } = page.sim.exportRecording();
    const steps = page.sim.steps;
    const before = page.sim.hash();
    page.playing = false;
    startRun(seed, actions, steps);
    const same = page.sim.hash() === before;
    say(same ? `Replayed seed ${seed} with ${actions.length} actions to event ${steps}: the same run (hash ${before}).` : `Replay differs: hash ${page.sim.hash()}, was ${before}.`, same ? 'info' : 'error');
  });
  ui.exportButton.addEventListener('click', exportRecording);
  ui.importInput.addEventListener('change', () => {
    const file = ui.importInput.files?.[0];
    if (file) void importRecording(file);
    ui.importInput.value = '';
  });
}

/** For the console and the browser tests. */
(window as unknown as { raftSim: unknown }).raftSim = {
  get sim() {
    return page.sim;
  },
  runUntil(ms: number): string {
    page.sim.runUntil(ms);
    draw(true);
    return page.sim.hash();
  },
};

wireTime();
wireActions();
wireRuns();
startRun(page.sim.seed);
requestAnimationFrame(frame);
