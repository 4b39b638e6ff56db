/** Synthetic outcome tables with a learnable rule, for router tests. */
import type { OutcomeTable } from '../../src/router/data.js';
import { seededRng as seededRandom } from '../../src/util/random.js';

export const HARD_PROMPT = 'Solve: a train leaves at 3:00 going 60 km/h; another at 4:30 going 80 km/h. Calculate when they meet and prove it step by step.';
export const EASY_PROMPT = 'Write a short friendly message about my cat.';

/**
 * A synthetic outcome table with a learnable rule: maths word problems with many numbers beat the
 * weak model; chit-chat does not. Noise keeps it from being trivial.
 */
export function syntheticTable(n: number, seed: number): OutcomeTable {
  const random = seededRandom(seed);
  const topics = ['weather', 'holidays', 'a birthday card', 'the team lunch', 'a thank-you note', 'my cat'];
  const items = [];
  for (let i = 0; i < n; i++) {
    const hard = random() < 0.4;
    const prompt = hard
      ? `Solve: a train leaves at ${Math.floor(random() * 12)}:00 going ${Math.floor(random() * 90)} km/h; another at ${Math.floor(random() * 12)}:30 going ${Math.floor(random() * 90)} km/h. Calculate when they meet and prove it step by step.`
      : `Write a short friendly message about ${topics[Math.floor(random() * topics.length)]}.`;
    const weak = hard ? (random() < 0.25 ? 1 : 0) : random() < 0.9 ? 1 : 0;
    const strong = random() < 0.92 ? 1 : 0;
    items.push({ prompt, turns: 1, group: 'synthetic', scores: Float64Array.from([weak, strong]), costs: Float64Array.from([0.0001, 0.003]) });
  }
  return { format: 'jsonl', source: 'synthetic', models: ['small', 'big'], items, scale: [0, 1] };
}


/** Three models by price: `slm` handles chit-chat, `gpt-mid` also half the maths, `gpt-big` everything. */
export function threeModelTable(n: number, seed: number): OutcomeTable {
  const base = syntheticTable(n, seed);
  const random = seededRandom(seed + 1000);
  return {
    ...base,
    models: ['slm', 'gpt-mid', 'gpt-big'],
    items: base.items.map((it) => {
      const hard = it.prompt.startsWith('Solve');
      const p = (x: number) => (random() < x ? 1 : 0);
      return { ...it, scores: Float64Array.from([p(hard ? 0.1 : 0.9), p(hard ? 0.6 : 0.95), p(0.95)]), costs: Float64Array.from([0, 0.0005, 0.005]) };
    }),
  };
}
