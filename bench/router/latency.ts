/** Time per routing decision, p50/p99, for prompts of a given size. */

export interface LatencyResult {
  label: string;
  bytes: number;
  p50us: number;
  p99us: number;
  iterations: number;
}

/** Real-looking text of about `bytes` characters, built from the given prompts. */
export function promptOfSize(source: string[], bytes: number): string {
  let text = '';
  for (let i = 0; text.length < bytes; i++) text += source[i % source.length]! + '\n';
  // Flat, like a string from JSON.parse of a request body (a sliced or concatenated string reads slower).
  return JSON.parse(JSON.stringify(text.slice(0, bytes))) as string;
}

export function measure(label: string, bytes: number, decide: () => unknown, iterations = 20_000): LatencyResult {
  for (let i = 0; i < Math.min(2_000, iterations); i++) decide(); // warm up the JIT
  const times = new Float64Array(iterations);
  let sink = 0;
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    const r = decide();
    times[i] = Number(process.hrtime.bigint() - t0) / 1000;
    if (r !== undefined) sink++;
  }
  if (sink < 0) console.log(sink); // keeps the calls observable
  times.sort();
  return { label, bytes, p50us: times[Math.floor(iterations * 0.5)]!, p99us: times[Math.floor(iterations * 0.99)]!, iterations };
}
