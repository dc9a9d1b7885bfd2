import { canonicalJson } from './values.js';
import { itemAt, jsonValue } from './checked.js';

/** Longest quote text shown in a divergence message. */
const MAX_SHOWN_QUOTE_CHARS = 120;

/** A committed quote as the API returns it (SPEC §3); compared as a whole. */
export interface QuoteLike {
  index: number;
  [field: string]: unknown;
}

/** Result of checkQuoteStreams. */
export interface QuoteStreamsResult {
  ok: boolean;
  /** The node with the longest list: the reference the others must be prefixes of. */
  longest?: string;
  lengths: Record<string, number>;
  problems: string[];
}

/**
 * State machine safety, as the quote board shows it: every node's committed quotes
 * (from GET /api/quotes or the /api/live stream) are a prefix of the longest list, in
 * the same order, with log indexes strictly increasing (no duplicate, no reordering).
 */
export function checkQuoteStreams(perNodeQuotes: Readonly<Record<string, readonly QuoteLike[]>>): QuoteStreamsResult {
  const nodes = Object.keys(perNodeQuotes).sort();
  const lengths = Object.fromEntries(nodes.map((node) => [node, perNodeQuotes[node]?.length ?? 0]));
  const problems = nodes.flatMap((node) => orderProblems(node, perNodeQuotes[node] ?? []));
  const longest = nodes.reduce<string | undefined>((best, node) => (best === undefined || (lengths[node] ?? 0) > (lengths[best] ?? 0) ? node : best), undefined);
  if (longest !== undefined) {
    const reference = perNodeQuotes[longest] ?? [];
    for (const node of nodes) if (node !== longest) problems.push(...prefixProblems(node, perNodeQuotes[node] ?? [], longest, reference));
  }
  return { ok: problems.length === 0, longest, lengths, problems };
}

function orderProblems(node: string, quotes: readonly QuoteLike[]): string[] {
  for (let i = 1; i < quotes.length; i++) {
    const previous = itemAt(quotes, i - 1, 'quotes');
    const current = itemAt(quotes, i, 'quotes');
    if (current.index <= previous.index) {
      return [`${node}: quote at position ${i} has index ${current.index}, not after the previous one (${previous.index}): a duplicate or reordering`];
    }
  }
  return [];
}

function prefixProblems(node: string, quotes: readonly QuoteLike[], referenceNode: string, reference: readonly QuoteLike[]): string[] {
  for (let i = 0; i < quotes.length; i++) {
    const mine = canonicalQuote(itemAt(quotes, i, 'quotes'));
    // The reference is the longest stream: it has an element wherever another stream does.
    const theirs = canonicalQuote(itemAt(reference, i, 'reference quotes'));
    if (mine !== theirs) return [`${node} diverges from ${referenceNode} at position ${i}: ${node} has ${cut(mine)}, ${referenceNode} has ${cut(theirs)}`];
  }
  return [];
}

/** Canonical JSON of a quote; JSON round trip first so undefined fields vanish as on the wire. */
function canonicalQuote(quote: QuoteLike): string {
  return canonicalJson(jsonValue(JSON.parse(JSON.stringify(quote))));
}

function cut(text: string): string {
  return text.length <= MAX_SHOWN_QUOTE_CHARS ? text : `${text.slice(0, MAX_SHOWN_QUOTE_CHARS - 1)}…`;
}
