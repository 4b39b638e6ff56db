/**
 * Summary of a V8 `.cpuprofile` (from `node --cpu-prof`): top functions by self time and self
 * time per package/file group, idle excluded, so "where does the gateway spend its CPU" is
 * answered without opening DevTools.
 *
 * Standalone: `node --import tsx bench/gateway/profile.ts <file.cpuprofile> [--top 25]`
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface Row {
  label: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  /** Non-idle sampled time, ms. */
  busyMs: number;
  functions: Row[];
  groups: Row[];
  /** The project's own functions (dist/ or src/) by inclusive time: what each step costs with its callees. */
  ownInclusive: Row[];
}

const IDLE = new Set(['(idle)', '(program)']);

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the gap before sample i; crediting it to sample i is how DevTools does it.
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

  const functions = new Map<string, number>();
  const groups = new Map<string, number>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    if (IDLE.has(frame.functionName)) continue;
    busyUs += us;
    const fn = frameLabel(frame);
    functions.set(fn, (functions.get(fn) ?? 0) + us);
    const group = groupOf(frame.url, frame.functionName);
    groups.set(group, (groups.get(group) ?? 0) + us);
  }
  const rows = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([label, us]) => ({ label, ms: us / 1000, share: busyUs > 0 ? us / busyUs : 0 }));
  const ownInclusive = new Map<string, number>();
  for (const [label, us] of inclusiveByFunction(profile, selfUs, isOwnCode)) ownInclusive.set(label, us);
  return { busyMs: busyUs / 1000, functions: rows(functions), groups: rows(groups), ownInclusive: rows(ownInclusive) };
}

const isOwnCode = (url: string) => /\/(dist|src)\//.test(url) && !url.includes('/node_modules/');

function frameLabel(frame: ProfileNode['callFrame']): string {
  const where = frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '(native)';
  return `${frame.functionName || '(anonymous)'} ${where}`;
}

/**
 * Inclusive (self + callees) time per function whose url passes `keep`. A function already on
 * the stack is not counted again, so recursion does not double its time.
 */
function inclusiveByFunction(profile: CpuProfile, selfUs: Map<number, number>, keep: (url: string) => boolean): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const total = new Map<number, number>();
  // Post-order without recursion: profiles can be deeper than the JS stack is comfortable with.
  const order: number[] = [];
  const stack = [profile.nodes[0]!.id];
  while (stack.length > 0) {
    const id = stack.pop()!;
    order.push(id);
    for (const c of byId.get(id)!.children ?? []) stack.push(c);
  }
  for (let i = order.length - 1; i >= 0; i--) {
    const n = byId.get(order[i]!)!;
    let t = selfUs.get(n.id) ?? 0;
    for (const c of n.children ?? []) t += total.get(c) ?? 0;
    total.set(n.id, t);
  }
  const out = new Map<string, number>();
  const onStack = new Map<string, number>();
  const walk: Array<{ id: number; label?: string; exit?: boolean }> = [{ id: profile.nodes[0]!.id }];
  while (walk.length > 0) {
    const item = walk.pop()!;
    if (item.exit) {
      const left = onStack.get(item.label!)! - 1;
      if (left === 0) onStack.delete(item.label!);
      else onStack.set(item.label!, left);
      continue;
    }
    const n = byId.get(item.id)!;
    let label: string | undefined;
    if (keep(n.callFrame.url)) {
      label = frameLabel(n.callFrame);
      if (!onStack.has(label)) out.set(label, (out.get(label) ?? 0) + total.get(n.id)!);
      onStack.set(label, (onStack.get(label) ?? 0) + 1);
      walk.push({ id: n.id, label, exit: true });
    }
    for (const c of n.children ?? []) walk.push({ id: c });
  }
  return out;
}

/** Path from the package or source root on, so lines stay readable. */
function shortUrl(url: string): string {
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) return url.slice(nm + '/node_modules/'.length);
  const src = url.search(/\/(dist|src)\//);
  if (src !== -1) return url.slice(src + 1);
  return url.replace(/^file:\/\//, '');
}

/** npm package, node: internals, sluice's own file, or V8 itself (GC, natives). */
function groupOf(url: string, functionName: string): string {
  if (!url) return functionName === '(garbage collector)' ? '(garbage collector)' : '(V8/native)';
  if (url.startsWith('node:')) {
    const parts = url.slice(5).split('/');
    return `node:${parts[0] === 'internal' ? parts.slice(0, 2).join('/') : parts[0]}`;
  }
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  return shortUrl(url);
}

export function formatSummary(title: string, s: ProfileSummary, top = 25): string {
  const line = (r: Row) => `  ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.label}`;
  const writev = s.functions.find((r) => r.label.startsWith('writev '));
  return [
    `${title}: ${s.busyMs.toFixed(0)} ms busy (idle excluded)`,
    // V8 samples on a wall clock: a loopback write wakes the peer, and a busy 2-core box often
    // switches to it inside the syscall, so this share overstates sluice's own kernel CPU.
    ...(writev ? [` note: ${(writev.share * 100).toFixed(1)}% in native writev is socket writes incl. time preempted in the syscall; compare with /proc sys time`] : []),
    ' self time by package / file:',
    ...s.groups.slice(0, 15).map(line),
    ` top ${top} functions by self time:`,
    ...s.functions.slice(0, top).map(line),
    ...(s.ownInclusive.length > 0 ? [` own code (dist/src) by inclusive time, top ${top}:`, ...s.ownInclusive.slice(0, top).map(line)] : []),
  ].join('\n');
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node --import tsx bench/gateway/profile.ts <file.cpuprofile> [--top N]');
    process.exit(2);
  }
  const i = process.argv.indexOf('--top');
  const top = i === -1 ? 25 : Number(process.argv[i + 1]);
  console.log(formatSummary(file, summarizeProfile(file, top), top));
}
