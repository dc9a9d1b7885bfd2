/**
 * Gives the heap back after a burst. Under load V8 grows the old generation to ~1.6x what
 * survives (cluster.ts NODE_V8_FLAGS) and fills it with requests that lived through two
 * scavenges; when the load stops nothing shrinks it again: its memory reducer does not run on a
 * node that only heartbeats, so a node that took 100,000 writes kept ~25 MB of dead heap for
 * good (issue 19). One full GC once the node is quiet returns it. It never runs under load
 * (nothing applied and a loop mostly idle, for seconds), and only after the heap grew, so an
 * idle node is not collected over and over.
 */
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** How often the trimmer looks at the heap and the event loop. */
export const HEAP_TRIM_CHECK_MS = 1_000;
/**
 * The event loop busier than this over a check means heavy load: never collect then. Not
 * lower: on a CPU-starved machine an idle leader's ticks alone keep it half busy.
 */
export const HEAP_TRIM_MAX_BUSY = 0.8;
/**
 * Quiet time before collecting: a minute. A full GC on a quiet node throws away much of the
 * code V8 optimized under the burst before it (--trace-deopt: deoptimized for "weak objects",
 * objects the code embeds that the GC found dead, likely the burst's connections), so the next
 * burst runs slowly until V8 has compiled it all again, which takes seconds of load and a
 * core's worth of compiler threads. Measured (64 writers over 5 nodes, bursts 15 s apart, after a warm-up reaching
 * ~3,000 writes/s): with the trim after 6 s quiet, the first 2.5 s of each burst ran at
 * 1,300-1,800 writes/s and the next 2.5 s at 1,900-2,400; without a trim in the gaps, at
 * 2,450-2,950 and 2,800-3,400. A plain (not compacting) full GC did the same harm. So bursts
 * less than a minute apart keep their compiled code, and a node quiet for a minute gives its
 * memory back. Also long enough for V8 to shrink the young generation (8 MB committed under
 * load) in that GC: it does so only once its measured allocation rate, averaged over ~5 s, is
 * below ~1 MB/s. An idle leader's heartbeats keep it above that, so a leader gives back its old
 * generation only.
 */
export const HEAP_TRIM_QUIET_MS = 60_000;
/**
 * Growth of the committed heap since the last trim that is worth a full GC. Small: a leader's
 * snapshot after a burst left ~4 MB of dead heap that a larger threshold never collected.
 */
export const HEAP_TRIM_MIN_GROWTH_BYTES = 2 * 1024 * 1024;

/** One look at the process: committed heap, and for how long the loop has been quiet. */
export interface HeapSample {
  heapTotal: number;
  quietMs: number;
}

/**
 * Whether to collect now: the loop has been quiet for HEAP_TRIM_QUIET_MS and the committed heap
 * grew by HEAP_TRIM_MIN_GROWTH_BYTES since the size after the last trim (0 before the first).
 */
export function shouldTrim(sample: HeapSample, afterLastTrim: number): boolean {
  return sample.quietMs >= HEAP_TRIM_QUIET_MS && sample.heapTotal - afterLastTrim >= HEAP_TRIM_MIN_GROWTH_BYTES;
}

/**
 * V8's gc(): the global one when node runs with --expose-gc, else the same function turned on
 * at run time (the flag must be set before the context that reads it is made).
 */
export function fullGc(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/**
 * A full GC that also compacts the old generation. A plain full GC frees dead objects but
 * leaves the pages they were on committed when a few live objects remain on each (what a
 * burst of requests leaves behind); V8 compacts only pages it judges fragmented enough, which
 * after a burst left ~5 MB more committed than live. Moving the survivors together lets the
 * emptied pages go back to the OS. The flag is on for this one collection only: compacting
 * every full GC under load would lengthen the pauses that delay heartbeats.
 */
export function compactingGc(gc: () => void = fullGc()): () => void {
  return () => {
    setFlagsFromString('--compact-on-every-full-gc');
    try {
      gc();
    } finally {
      setFlagsFromString('--no-compact-on-every-full-gc');
    }
  };
}

/**
 * Starts the trimmer (an unref'd timer); returns its stop function. `progress` is a count that
 * grows with the node's work for clients (entries applied, reads, HTTP requests answered):
 * quiet means it stood still and the loop was at most HEAP_TRIM_MAX_BUSY busy. With the applied
 * index alone, a node serving reads counted as quiet whenever its loop had slack, and a trim
 * in the middle of a read load cut it from ~11,000 to ~2,700 reads/s for seconds.
 */
export function startHeapTrim(progress: () => number, onTrim: (before: number, after: number) => void = () => {}): () => void {
  // Made at the first trim, not here: a new V8 context (~2 ms) on the path of every start.
  let gc: (() => void) | null = null;
  let afterLastTrim = 0;
  let lastLoop = performance.eventLoopUtilization();
  let quietMs = 0;
  let lastProgress = progress();
  const timer = setInterval(() => {
    const loop = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(loop, lastLoop).utilization;
    lastLoop = loop;
    const now = progress();
    quietMs = busy <= HEAP_TRIM_MAX_BUSY && now === lastProgress ? quietMs + HEAP_TRIM_CHECK_MS : 0;
    lastProgress = now;
    const heapTotal = process.memoryUsage().heapTotal;
    if (!shouldTrim({ heapTotal, quietMs }, afterLastTrim)) return;
    gc ??= compactingGc();
    gc();
    afterLastTrim = process.memoryUsage().heapTotal;
    onTrim(heapTotal, afterLastTrim);
  }, HEAP_TRIM_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}
