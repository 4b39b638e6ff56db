/**
 * Words for the lexical embedder and cluster labels: lower-cased letter/digit runs, English
 * stop words dropped, and adjacent-word bigrams ("card arrival") because short texts such as
 * support tickets say most of what they mean in two-word phrases.
 */

// A compact English stop list (function words only: content words must survive for labels).
const STOP_WORDS = new Set(
  `a about above after again against all also am an and any are aren't as at be because been before being below between both but by
can can't cannot could couldn't did didn't do does doesn't doing don't down during each few for from further get got had hadn't has
hasn't have haven't having he he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm i've if in into is
isn't it it's its itself just let's me might more most mustn't my myself no nor not now of off on once only or other ought our ours
ourselves out over own please same shan't she she'd she'll she's should shouldn't so some such than that that's the their theirs them
themselves then there there's these they they'd they'll they're they've this those through to too under until up us very was wasn't we
we'd we'll we're we've were weren't what what's when when's where where's which while who who's whom why why's will with won't would
wouldn't you you'd you'll you're you've your yours yourself yourselves im ive dont cant didnt doesnt isnt wont hi hello thanks thank`.split(/\s+/),
);

const WORD = /[\p{L}\p{N}][\p{L}\p{N}'’_-]*/gu;

/** Content words of a text, in order. */
export function words(text: string): string[] {
  const out: string[] = [];
  for (const m of text.toLowerCase().matchAll(WORD)) {
    const w = m[0].replace(/['’]s$/, '').replace(/[’]/g, "'").replace(/[-']+$/, '');
    if (w.length < 2 && !/\p{N}/u.test(w)) continue;
    if (STOP_WORDS.has(w)) continue;
    out.push(w);
  }
  return out;
}

/** Unigrams and bigrams of a text (bigrams of consecutive content words). */
export function terms(text: string): string[] {
  const ws = words(text);
  const out = ws.slice();
  for (let i = 0; i + 1 < ws.length; i++) out.push(`${ws[i]} ${ws[i + 1]}`);
  return out;
}
