// html-to-text ships no types (it is mailparser's own HTML converter); the one function used here.
declare module 'html-to-text' {
  export function htmlToText(html: string, options?: { wordwrap?: number | false; limits?: { maxDepth?: number } }): string;
}
