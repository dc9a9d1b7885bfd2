/**
 * The two web-platform globals the transcript runner (src/interaction) uses. Both Node and
 * every browser have them; declaring them here lets the package build with `lib: ["ES2022"]`
 * and no `@types/node` or DOM typings, so a Node-only or DOM-only API in the core fails to
 * compile. Not emitted: no declaration in dist/ refers to them.
 */
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}

declare class TextDecoder {
  decode(input?: Uint8Array): string;
}

/** `import.meta.url`, which every ES module host sets (Node: a file: URL). */
interface ImportMeta {
  readonly url: string;
}

/** The WHATWG URL, in Node and every browser (used only to locate testdata/). */
declare class URL {
  constructor(url: string, base?: string);
  readonly href: string;
}
