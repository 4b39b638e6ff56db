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
    const where = frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '(native)';
    const fn = `${frame.functionName || '(anonymous)'} ${where}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
    const group = groupOf(frame.url, frame.functionName);
    groups.set(group, (groups.get(group) ?? 0) + us);
  }
  const rows = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([label, us]) => ({ label, ms: us / 1000, share: busyUs > 0 ? us / busyUs : 0 }));
  return { busyMs: busyUs / 1000, functions: rows(functions), groups: rows(groups) };
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
  return [
    `${title}: ${s.busyMs.toFixed(0)} ms busy (idle excluded)`,
    ' self time by package / file:',
    ...s.groups.slice(0, 15).map(line),
    ` top ${top} functions by self time:`,
    ...s.functions.slice(0, top).map(line),
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
