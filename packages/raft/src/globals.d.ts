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
