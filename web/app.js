/* global AbortSignal */
// The quote board: a post form with safe retries, and a live list of quotes (newest first).
//
// Live updates come from the WebSocket /api/live?after=<cursor>. The cursor is the highest
// log index received from a gapless source (the stream or GET /api/quotes), so a reconnect
// resumes exactly where it stopped: no gap, no duplicate. Quotes returned by our own POST are
// shown at once but never move the cursor (the stream may not have reached them yet).
//
// User text is only ever written with textContent (SPEC §7).

import { POST_LIMITS, describeError, formatTime, isRetryable, newIdempotencyKey, retryDelayMs, sleep } from '/static/common.js';

/** Named limits of the page. */
const LIMITS = {
  /** Most quotes kept in the DOM; older ones are dropped from the bottom. */
  maxRendered: 500,
  /** POST attempts for one quote (same Idempotency-Key every time). */
  postAttempts: 8,
  /** One POST attempt is abandoned (outcome unknown, so retried) after this long. */
  postAttemptTimeoutMs: 12_000,
  /** WebSocket reconnect backoff. */
  reconnectBaseMs: 250,
  reconnectMaxMs: 4_000,
  /** Consecutive WebSocket failures before falling back to polling. */
  failuresBeforePolling: 3,
  /** While polling, how often to poll and how often to try the WebSocket again. */
  pollIntervalMs: 1_500,
  wsRetryWhilePollingMs: 3_000,
  /** No message (status arrives ~5×/s) for this long means the socket is dead. */
  silenceMs: 5_000,
  pageSize: 1_000,
};

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const ui = {
  form: /** @type {HTMLFormElement} */ ($('post-form')),
  text: /** @type {HTMLTextAreaElement} */ ($('quote-input')),
  author: /** @type {HTMLInputElement} */ ($('author-input')),
  submit: /** @type {HTMLButtonElement} */ ($('quote-submit')),
  status: $('post-status'),
  textCounter: $('text-counter'),
  authorCounter: $('author-counter'),
  list: $('quotes'),
  empty: $('feed-empty'),
  count: $('feed-count'),
  connection: $('connection'),
  connectionState: $('connection-state'),
  connectionNode: $('connection-node'),
  connectionLeader: $('connection-leader'),
  connectionTerm: $('connection-term'),
};

// ---------------------------------------------------------------------------------------
// The list of quotes

/** Highest index received from a gapless source; the resume point of the stream. */
let cursor = 0;
/** Indexes of the quotes in the list (from any source). */
const shown = new Set();

/** Builds the element for one quote. Every piece of user text goes through textContent. */
function quoteElement(quote) {
  const item = document.createElement('li');
  item.className = 'quote';
  item.setAttribute('data-testid', 'quote');
  item.setAttribute('data-index', String(quote.index));

  const text = document.createElement('blockquote');
  text.className = 'quote-text';
  text.setAttribute('data-testid', 'quote-text');
  text.textContent = quote.text;

  const footer = document.createElement('div');
  footer.className = 'quote-foot';
  const author = document.createElement('cite');
  author.className = 'quote-author';
  author.setAttribute('data-testid', 'quote-author');
  author.textContent = quote.author ? quote.author : 'Anonymous';
  if (!quote.author) author.classList.add('anonymous');
  const meta = document.createElement('span');
  meta.className = 'quote-meta';
  const time = document.createElement('time');
  time.dateTime = String(quote.postedAt ?? '');
  time.textContent = formatTime(quote.postedAt);
  const where = document.createElement('span');
  where.className = 'quote-index';
  where.textContent = `#${quote.index} · term ${quote.term}`;
  where.title = 'Raft log index and term of the entry that committed this quote';
  meta.append(time, where);
  footer.append(author, meta);

  item.append(text, footer);
  return item;
}

/** Inserts a quote in newest-first order; ignores one already shown. */
function showQuote(quote, { fresh = true } = {}) {
  if (!quote || typeof quote.index !== 'number' || shown.has(quote.index)) return;
  shown.add(quote.index);
  const item = quoteElement(quote);
  if (fresh) item.classList.add('fresh');
  let before = null;
  for (const child of ui.list.children) {
    if (Number(child.getAttribute('data-index')) < quote.index) {
      before = child;
      break;
    }
  }
  ui.list.insertBefore(item, before);
  while (ui.list.children.length > LIMITS.maxRendered) ui.list.lastElementChild?.remove();
  updateCount();
}

function updateCount() {
  const n = shown.size;
  ui.empty.hidden = n > 0;
  ui.count.textContent = n === 0 ? '' : `${n} ${n === 1 ? 'quote' : 'quotes'}`;
}

/** A quote from the stream or a poll: in order and gapless, so it advances the cursor. */
function receiveQuote(quote, fresh) {
  if (!quote || typeof quote.index !== 'number') return;
  showQuote(quote, { fresh });
  if (quote.index > cursor) cursor = quote.index;
}

// ---------------------------------------------------------------------------------------
// Connection indicator

/** @param {'live'|'reconnecting'|'polling'} state */
function setConnectionState(state) {
  ui.connection.dataset.state = state;
  ui.connectionState.textContent = state;
}

function showNodeStatus(status) {
  if (!status || typeof status !== 'object') return;
  if (status.id) ui.connectionNode.textContent = String(status.id);
  ui.connectionLeader.textContent = status.leader ? String(status.leader) : 'none';
  ui.connectionTerm.textContent = typeof status.term === 'number' ? String(status.term) : '…';
  ui.connection.dataset.nodeState = String(status.state ?? '');
}

async function fetchStatus() {
  try {
    const res = await fetch('/api/status', { signal: AbortSignal.timeout(3_000), cache: 'no-store' });
    if (res.ok) showNodeStatus(await res.json());
  } catch {
    // the indicator keeps its last values; the connection state tells the story
  }
}

// ---------------------------------------------------------------------------------------
// Live stream with reconnect, and polling as the fallback

const live = {
  /** Incremented for every socket, so handlers of an old socket do nothing. */
  generation: 0,
  socket: /** @type {WebSocket|null} */ (null),
  failures: 0,
  silenceTimer: 0,
  reconnectTimer: 0,
  polling: false,
  pollTimer: 0,
};

function liveUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/api/live?after=${cursor}`;
}

function connect() {
  clearTimeout(live.reconnectTimer);
  const generation = ++live.generation;
  let opened = false;
  let socket;
  try {
    socket = new WebSocket(liveUrl());
  } catch {
    onSocketLost(generation, false);
    return;
  }
  live.socket = socket;
  const current = () => generation === live.generation;
  socket.addEventListener('open', () => {
    if (!current()) return;
    opened = true;
    live.failures = 0;
    stopPolling();
    setConnectionState('live');
    armSilenceTimer(generation);
  });
  socket.addEventListener('message', (event) => {
    if (!current()) return;
    armSilenceTimer(generation);
    onLiveMessage(event.data);
  });
  socket.addEventListener('close', () => current() && onSocketLost(generation, opened));
  socket.addEventListener('error', () => current() && onSocketLost(generation, opened));
}

function onLiveMessage(data) {
  let message;
  try {
    message = JSON.parse(String(data));
  } catch {
    return;
  }
  if (message?.type === 'quote') receiveQuote(message.quote, true);
  else if (message?.type === 'status') showNodeStatus(message.status);
}

function armSilenceTimer(generation) {
  clearTimeout(live.silenceTimer);
  live.silenceTimer = setTimeout(() => {
    if (generation === live.generation) live.socket?.close();
    onSocketLost(generation, true);
  }, LIMITS.silenceMs);
}

/** Called once per lost socket (close and error both land here; the generation check dedups). */
function onSocketLost(generation, wasOpen) {
  if (generation !== live.generation) return;
  live.generation++; // retire this socket's handlers
  clearTimeout(live.silenceTimer);
  try {
    live.socket?.close();
  } catch {
    // already closed
  }
  live.socket = null;
  live.failures = wasOpen ? 1 : live.failures + 1;
  if (live.failures >= LIMITS.failuresBeforePolling) {
    startPolling();
    live.reconnectTimer = setTimeout(connect, LIMITS.wsRetryWhilePollingMs);
    return;
  }
  if (!live.polling) setConnectionState('reconnecting');
  const delay = Math.min(LIMITS.reconnectMaxMs, LIMITS.reconnectBaseMs * 2 ** (live.failures - 1));
  live.reconnectTimer = setTimeout(connect, delay * (0.75 + Math.random() * 0.5));
}

function startPolling() {
  setConnectionState('polling');
  if (live.polling) return;
  live.polling = true;
  void pollOnce();
}

function stopPolling() {
  live.polling = false;
  clearTimeout(live.pollTimer);
}

/** One round of polling: every page of quotes after the cursor, then this node's status. */
async function pollOnce() {
  try {
    for (let page = 0; page < 20 && live.polling; page++) {
      const res = await fetch(`/api/quotes?after=${cursor}&limit=${LIMITS.pageSize}`, { signal: AbortSignal.timeout(5_000), cache: 'no-store' });
      if (!res.ok) break;
      const body = await res.json();
      const quotes = Array.isArray(body?.quotes) ? body.quotes : [];
      if (!live.polling) return; // the socket came back meanwhile; it owns the cursor now
      for (const quote of quotes) receiveQuote(quote, true);
      if (quotes.length < LIMITS.pageSize) break;
    }
    await fetchStatus();
  } catch {
    // this node is unreachable for now; try again on the next round
  }
  if (live.polling) live.pollTimer = setTimeout(pollOnce, LIMITS.pollIntervalMs);
}

// ---------------------------------------------------------------------------------------
// The post form

let posting = false;

function validation() {
  const text = ui.text.value.trim();
  const author = ui.author.value.trim();
  if (text.length === 0) return { ok: false, why: 'Write a quote first.' };
  if (text.length > POST_LIMITS.textMax) return { ok: false, why: `A quote is at most ${POST_LIMITS.textMax} characters.` };
  if (author.length > POST_LIMITS.authorMax) return { ok: false, why: `An author is at most ${POST_LIMITS.authorMax} characters.` };
  return { ok: true, text, author };
}

function refreshForm() {
  const textLength = ui.text.value.length;
  const authorLength = ui.author.value.length;
  ui.textCounter.textContent = `${textLength} / ${POST_LIMITS.textMax}`;
  ui.authorCounter.textContent = `${authorLength} / ${POST_LIMITS.authorMax}`;
  ui.textCounter.classList.toggle('near-limit', textLength > POST_LIMITS.textMax * 0.9);
  ui.authorCounter.classList.toggle('near-limit', authorLength > POST_LIMITS.authorMax * 0.9);
  ui.submit.disabled = posting || !validation().ok;
}

/** @param {'info'|'ok'|'warn'|'error'} tone */
function setPostStatus(message, tone = 'info') {
  ui.status.textContent = message;
  ui.status.dataset.tone = tone;
}

/** One POST attempt. Resolves with {kind:'ok', quote} | {kind:'retry', ...} | {kind:'fail', ...}. */
async function postAttempt(body, key) {
  let res;
  try {
    res = await fetch('/api/quotes', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(LIMITS.postAttemptTimeoutMs),
    });
  } catch {
    return { kind: 'retry', why: 'The server did not answer.' };
  }
  let payload = null;
  try {
    payload = await res.json();
  } catch {
    // not JSON
  }
  if (res.ok && payload?.quote) return { kind: 'ok', quote: payload.quote };
  const retryAfter = Number(res.headers.get('retry-after'));
  const why = describeError(res.status, payload);
  if (isRetryable(res.status, payload)) return { kind: 'retry', why, retryAfterMs: Number.isFinite(retryAfter) ? retryAfter * 1000 : 0 };
  return { kind: 'fail', why };
}

/** Posts with bounded retries, all under one Idempotency-Key, so a retry never duplicates. */
async function postQuote(body) {
  const key = newIdempotencyKey();
  for (let attempt = 1; attempt <= LIMITS.postAttempts; attempt++) {
    const result = await postAttempt(body, key);
    if (result.kind !== 'retry') return result;
    if (attempt === LIMITS.postAttempts) {
      return { kind: 'fail', why: `${result.why} Gave up after ${attempt} tries; your quote may still appear. Posting again is safe only if it does not.` };
    }
    const delay = retryDelayMs(attempt, result.retryAfterMs);
    setPostStatus(`${result.why} Retrying safely (${attempt + 1}/${LIMITS.postAttempts})…`, 'warn');
    await sleep(delay);
  }
  return { kind: 'fail', why: 'Unreachable.' };
}

async function submit() {
  const check = validation();
  if (posting) return;
  if (!check.ok) {
    setPostStatus(check.why, 'error');
    return;
  }
  posting = true;
  refreshForm();
  ui.form.setAttribute('aria-busy', 'true');
  setPostStatus('Posting…', 'info');
  const body = check.author ? { text: check.text, author: check.author } : { text: check.text };
  try {
    const result = await postQuote(body);
    if (result.kind === 'ok') {
      showQuote(result.quote, { fresh: true });
      ui.text.value = '';
      setPostStatus(`Posted — committed at log index ${result.quote.index}, term ${result.quote.term}.`, 'ok');
    } else {
      setPostStatus(result.why, 'error');
    }
  } catch (err) {
    setPostStatus(`Could not post: ${err instanceof Error ? err.message : String(err)}`, 'error');
  } finally {
    posting = false;
    ui.form.removeAttribute('aria-busy');
    refreshForm();
  }
}

function wireForm() {
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submit();
  });
  const submitOnModEnter = (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      void submit();
    }
  };
  ui.text.addEventListener('keydown', submitOnModEnter);
  ui.author.addEventListener('keydown', submitOnModEnter);
  ui.text.addEventListener('input', refreshForm);
  ui.author.addEventListener('input', refreshForm);
  refreshForm();
}

// ---------------------------------------------------------------------------------------

wireForm();
updateCount();
setConnectionState('reconnecting');
void fetchStatus();
connect();
window.addEventListener('online', () => {
  if (!live.socket) connect();
});
