/**
 * Gateway overhead benchmark (`npm run bench:gateway`): the same mock upstream and the same
 * load (autocannon, 16 connections, a small non-streaming chat completion) sent
 *   - direct to the mock,
 *   - through sluice (built dist, auth on, one openai-compatible backend, no retries, ledger off),
 *   - sluice-ledger: the same with the ledger on (SQLite, defaults): what the ledger costs,
 *   - sluice-auto: the plain target with requests routed by `auto` (the learned router scores each
 *     one, threshold 0 so it goes to the remote side): what routing costs,
 *   - sluice-full: every feature on the request path: ledger (SQLite), the router on `auto`
 *     (learned policy, threshold 0 so every request is scored and goes to the remote side) and the
 *     privacy guard scanning what goes to that remote backend,
 *   - through Portkey's open-source gateway (npm, its defaults, custom-host header),
 * in rounds whose order rotates, because a 2-core machine is noisy. Prints per-round numbers,
 * the median table, the comparisons, `sluice-full/portkey throughput: <ratio>`, and last:
 * `sluice/portkey throughput: <ratio>`.
 *
 * Flags: --duration s (10, env BENCH_DURATION)  --warmup s (2, before every measurement)
 *        --prime s (10, once per target before round 1)  --rounds n (3, env BENCH_ROUNDS)
 *        --connections n (16)  --targets direct,sluice,sluice-ledger,sluice-auto,sluice-full,portkey  --stream  --skip-build
 *        --profile (V8 CPU profiles of both gateways, summarised at the end)
 *        --json file (bench/results/gateway.json; "" to skip)  --ready-timeout s (30)
 * --stream measures SSE instead; Portkey cannot stream in this install (see runOne), so pair it
 * with --targets direct,sluice.
 */
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measure, verifyTarget, type LoadOptions, type Target } from './load.js';
import { cpuTimeMs, freePort, killAllNow, spawnNode, stop, stopAll, waitReady, type Child } from './procs.js';
import { ledgerPathCost } from './ledger-cost.js';
import { formatSummary, summarizeProfile } from './profile.js';
import { comparisons, formatMedians, formatRound, medianOf, ratioLine, type Round, type TargetResult } from './report.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ALL_TARGETS = ['direct', 'sluice', 'sluice-ledger', 'sluice-auto', 'sluice-full', 'portkey'] as const;
type SluiceVariant = 'sluice' | 'sluice-ledger' | 'sluice-auto' | 'sluice-full';
const SLUICE_VARIANTS: readonly SluiceVariant[] = ['sluice', 'sluice-ledger', 'sluice-auto', 'sluice-full'];
type TargetName = (typeof ALL_TARGETS)[number];

interface Options extends LoadOptions {
  warmupSec: number;
  primeSec: number;
  rounds: number;
  targets: TargetName[];
  build: boolean;
  profile: boolean;
  json: string;
  readyTimeoutMs: number;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string', default: '2' },
      prime: { type: 'string', default: '10' },
      rounds: { type: 'string' },
      connections: { type: 'string', default: '16' },
      targets: { type: 'string', default: ALL_TARGETS.join(',') },
      stream: { type: 'boolean', default: false },
      'skip-build': { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      json: { type: 'string', default: 'bench/results/gateway.json' },
      'ready-timeout': { type: 'string', default: '30' },
    },
  });
  const num = (name: string, raw: string | undefined, min: number) => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name}: expected a number >= ${min}, got "${raw}"`);
    return n;
  };
  const targets = values.targets.split(',').map((t) => t.trim());
  for (const t of targets) if (!(ALL_TARGETS as readonly string[]).includes(t)) throw new Error(`--targets: unknown target "${t}" (known: ${ALL_TARGETS.join(', ')})`);
  return {
    durationSec: num('duration', values.duration ?? process.env.BENCH_DURATION ?? '10', 1),
    warmupSec: num('warmup', values.warmup, 0),
    primeSec: num('prime', values.prime, 0),
    rounds: Math.floor(num('rounds', values.rounds ?? process.env.BENCH_ROUNDS ?? '3', 1)),
    connections: Math.floor(num('connections', values.connections, 1)),
    targets: targets as TargetName[],
    stream: values.stream,
    build: !values['skip-build'],
    profile: values.profile,
    json: values.json,
    readyTimeoutMs: num('ready-timeout', values['ready-timeout'], 1) * 1000,
  };
}

/** Builds dist/ so sluice runs as it ships. A failing type-check still emits; dist decides. */
function buildSluice(): void {
  const started = Date.now();
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (tsc.status !== 0) {
    const lines = `${tsc.stdout}${tsc.stderr}`.trim().split('\n');
    console.warn(`warning: tsc -p tsconfig.build.json exited ${tsc.status}; benchmarking whatever it emitted. First errors:\n  ${lines.slice(0, 8).join('\n  ')}`);
  } else {
    console.log(`built dist/ in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

interface Env {
  workDir: string;
  profileDir: string;
  mockUrl: string;
  children: Map<TargetName | 'mock', Child>;
  targets: Map<TargetName, Target>;
  /** SQLite ledger file of each sluice target that has one. */
  ledgers: Map<TargetName, string>;
}

async function startMock(env: Env, opts: Options): Promise<void> {
  const port = await freePort();
  const mock = spawnNode({ name: 'mock', cwd: ROOT, logDir: env.workDir, args: ['--import', 'tsx', 'test/support/mock-openai.ts', '--port', String(port), '--host', '127.0.0.1'] });
  env.children.set('mock', mock);
  env.mockUrl = `http://127.0.0.1:${port}/v1`;
  await waitReady(mock, `${env.mockUrl}/models`, opts.readyTimeoutMs);
  env.targets.set('direct', { name: 'direct', url: `${env.mockUrl}/chat/completions`, headers: { authorization: 'Bearer sk-bench-upstream' }, pid: mock.pid });
}

/** What each sluice target turns on; the mock is the upstream of every backend. */
function sluiceConfig(variant: SluiceVariant, mockUrl: string): { config: object; headers: Record<string, string> } {
  const cloud = { kind: 'openai-compatible', name: 'mock', baseUrl: mockUrl, models: ['gpt-4o-mini'], retry: { attempts: 0 } };
  if (variant === 'sluice') return { config: { backends: [cloud], ledger: { enabled: false }, privacy: { enabled: false } }, headers: {} };
  if (variant === 'sluice-ledger') return { config: { backends: [cloud], ledger: { enabled: true }, privacy: { enabled: false } }, headers: {} };
  // A local side for the router to choose against (the same mock, declared on-premises).
  const onprem = { kind: 'openai-compatible', name: 'onprem', baseUrl: mockUrl, locality: 'local', models: ['local-model'], retry: { attempts: 0 } };
  // sluice-auto: the plain target plus routing on `auto` (learned score on every request), nothing else.
  if (variant === 'sluice-auto') return { config: { backends: [cloud, onprem], ledger: { enabled: false }, privacy: { enabled: false }, routing: { default: 'learned' } }, headers: { 'x-sluice-route': 'auto:0' } };
  return {
    config: { backends: [cloud, onprem], ledger: { enabled: true }, privacy: { enabled: true }, routing: { default: 'learned' } },
    // `auto:0`: the learned router scores every request, and every request goes to the remote side through the privacy guard.
    headers: { 'x-sluice-route': 'auto:0' },
  };
}

async function startSluice(env: Env, opts: Options, variant: SluiceVariant): Promise<void> {
  const entry = join(ROOT, 'dist/cli/index.js');
  if (!existsSync(entry)) throw new Error(`sluice: ${relative(ROOT, entry)} does not exist (build failed or was skipped)`);
  const port = await freePort();
  const key = `sk-sluice-bench-${randomBytes(16).toString('hex')}`;
  const { config: features, headers } = sluiceConfig(variant, env.mockUrl);
  const dataDir = join(env.workDir, `${variant}-data`);
  const config = {
    server: { port, host: '127.0.0.1' },
    log: { level: 'warn' },
    auth: { enabled: true, keys: [{ name: 'bench', hash: `sha256:${createHash('sha256').update(key).digest('hex')}` }] },
    dataDir,
    ...features,
  };
  const configFile = join(env.workDir, `${variant}.config.json`);
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const sluice = spawnNode({ name: variant, cwd: env.workDir, logDir: env.workDir, args: [...profileArgs(env, opts, variant), entry, 'serve', '--config', configFile] });
  env.children.set(variant, sluice);
  await waitReady(sluice, `http://127.0.0.1:${port}/readyz`, opts.readyTimeoutMs);
  env.targets.set(variant, { name: variant, url: `http://127.0.0.1:${port}/v1/chat/completions`, headers: { authorization: `Bearer ${key}`, ...headers }, pid: sluice.pid });
  if (variant === 'sluice-ledger' || variant === 'sluice-full') env.ledgers.set(variant, join(dataDir, 'ledger.sqlite'));
}

/** The ledger really recorded the load: rows in each SQLite ledger against 2xx responses sent. */
async function ledgerCheck(env: Env, rounds: Round[]): Promise<string[]> {
  const lines: string[] = [];
  const Database = (await import('better-sqlite3')).default;
  for (const [variant, file] of env.ledgers) {
    if (!existsSync(file)) {
      lines.push(`${variant}: no ledger file at ${file}`);
      continue;
    }
    const db = new Database(file, { readonly: true });
    try {
      const rows = (db.prepare('SELECT count(*) AS n FROM ledger_requests').get() as { n: number }).n;
      const measured = rounds.reduce((n, r) => n + (r[variant]?.requests ?? 0), 0);
      lines.push(`${variant}: ${rows} ledger records (${measured} measured requests, plus warm-up and priming)`);
    } finally {
      db.close();
    }
  }
  return lines;
}

/**
 * Portkey as its npm package starts it (`start-server.js --port=N`, no other flag). The only
 * preload keeps it on 127.0.0.1 (it has no host option); with --profile a second one lets
 * SIGTERM exit cleanly so V8 writes the profile.
 */
async function startPortkey(env: Env, opts: Options): Promise<void> {
  const port = await freePort();
  const preload = ['--import', join(ROOT, 'bench/gateway/loopback-only.mjs')];
  if (opts.profile) preload.push('--import', join(ROOT, 'bench/gateway/exit-on-sigterm.mjs'));
  const script = join(ROOT, 'node_modules/@portkey-ai/gateway/build/start-server.js');
  const portkey = spawnNode({ name: 'portkey', cwd: env.workDir, logDir: env.workDir, args: [...preload, ...profileArgs(env, opts, 'portkey'), script, `--port=${port}`] });
  env.children.set('portkey', portkey);
  await waitReady(portkey, `http://127.0.0.1:${port}/`, opts.readyTimeoutMs);
  env.targets.set('portkey', {
    name: 'portkey',
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    // Its OpenAI provider pointed at the mock: x-portkey-custom-host is checked in start-server.js
    // (loopback is in its default TRUSTED_CUSTOM_HOSTS) and replaces the provider's base URL.
    headers: { authorization: 'Bearer sk-bench-upstream', 'x-portkey-provider': 'openai', 'x-portkey-custom-host': env.mockUrl },
    pid: portkey.pid,
  });
}

function profileArgs(env: Env, opts: Options, name: string): string[] {
  return opts.profile ? ['--cpu-prof', '--cpu-prof-dir', join(env.profileDir, name)] : [];
}

function checkTarget(target: Target, opts: Options): Promise<void> {
  return verifyTarget(target, opts.stream).catch((err: Error) => {
    // Portkey 1.15.2 with the @hono/node-server npm resolves today cannot stream on Node
    // ("TypeError: immutable" in updateHeaders, Portkey-AI/gateway#1389 and #1550).
    if (opts.stream && target.name === 'portkey') err.message += '\n  (known Portkey bug on Node, gateway#1389/#1550: use --stream --targets direct,sluice)';
    throw err;
  });
}

/** Sanity request, warm-up, then the measured run with the target process's CPU time around it. */
async function runOne(target: Target, opts: Options): Promise<TargetResult> {
  await checkTarget(target, opts);
  if (opts.warmupSec > 0) await measure(target, { ...opts, durationSec: opts.warmupSec });
  const cpuBefore = target.pid === undefined ? undefined : cpuTimeMs(target.pid);
  const m = await measure(target, opts);
  const cpuAfter = target.pid === undefined ? undefined : cpuTimeMs(target.pid);
  const cpuUsPerReq = cpuBefore === undefined || cpuAfter === undefined || m.requests === 0 ? undefined : ((cpuAfter - cpuBefore) * 1000) / m.requests;
  if (m.non2xx > 0 || m.errors > 0 || m.timeouts > 0 || m.requests === 0) {
    throw new Error(`${target.name}: ${m.requests} ok, ${m.non2xx} non-2xx, ${m.errors} errors, ${m.timeouts} timeouts under load: not reporting numbers from a failing target`);
  }
  return { ...m, cpuUsPerReq };
}

/**
 * Loads every target once before the rounds. Portkey's large bundle takes ~15 s of load to
 * reach steady state (its CPU per request halves), and comparing a cold gateway would flatter sluice.
 */
async function prime(env: Env, opts: Options): Promise<void> {
  if (opts.primeSec <= 0) return;
  for (const name of opts.targets) {
    const target = env.targets.get(name)!;
    await checkTarget(target, opts);
    await measure(target, { ...opts, durationSec: opts.primeSec });
  }
}

/** Round r runs the targets rotated by r, so no target always goes first (or always follows another). */
function orderFor(round: number, targets: TargetName[]): TargetName[] {
  const k = round % targets.length;
  return [...targets.slice(k), ...targets.slice(0, k)];
}

async function startTargets(env: Env, opts: Options): Promise<void> {
  await startMock(env, opts);
  if (opts.targets.includes('portkey')) await startPortkey(env, opts);
  const variants = SLUICE_VARIANTS.filter((v) => opts.targets.includes(v));
  if (variants.length > 0 && opts.build) buildSluice();
  for (const variant of variants) await startSluice(env, opts, variant);
}

function printProfiles(env: Env): void {
  for (const name of [...SLUICE_VARIANTS, 'portkey']) {
    const dir = join(env.profileDir, name);
    if (!existsSync(dir)) continue;
    const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
    if (files.length === 0) {
      console.log(`\n${name}: no CPU profile was written (did it exit on SIGTERM?)`);
      continue;
    }
    const file = join(dir, files[0]!);
    console.log(`\n${formatSummary(`${name} CPU profile ${relative(ROOT, file)}`, summarizeProfile(file, 20), 20)}`);
  }
}

function writeJson(opts: Options, rounds: Round[], medians: Record<string, TargetResult>): void {
  if (!opts.json) return;
  const file = join(ROOT, opts.json);
  mkdirSync(dirname(file), { recursive: true });
  const pkg = (p: string) => (JSON.parse(readFileSync(join(ROOT, p), 'utf8')) as { version: string }).version;
  const record = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${availableParallelism()} x ${cpus()[0]?.model ?? '?'}`,
    loadAverageAtEnd: loadavg(),
    versions: { sluice: pkg('package.json'), portkey: pkg('node_modules/@portkey-ai/gateway/package.json'), autocannon: pkg('node_modules/autocannon/package.json') },
    options: { ...opts },
    rounds,
    medians,
    sluiceOverPortkey: medians.sluice && medians.portkey ? medians.sluice.rps / medians.portkey.rps : null,
    sluiceFullOverPortkey: medians['sluice-full'] && medians.portkey ? medians['sluice-full'].rps / medians.portkey.rps : null,
    ledgerOverPlain: medians['sluice-ledger'] && medians.sluice ? medians['sluice-ledger'].rps / medians.sluice.rps : null,
  };
  writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
  console.log(`\nresults written to ${relative(ROOT, file)}`);
}

async function runRounds(env: Env, opts: Options): Promise<Round[]> {
  const rounds: Round[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    const order = orderFor(r, opts.targets);
    const round: Round = {};
    for (const name of order) round[name] = await runOne(env.targets.get(name)!, opts);
    rounds.push(round);
    console.log(`\n${formatRound(r, order, round)}`);
  }
  return rounds;
}

/** Medians, comparisons, and the ratio line, which must stay the very last line printed. */
async function report(env: Env, opts: Options, rounds: Round[]): Promise<void> {
  const medians = Object.fromEntries(opts.targets.map((t) => [t, medianOf(rounds, t)]));
  writeJson(opts, rounds, medians);
  console.log(`\nlatency: autocannon per-response timings (sub-ms); cpu: the target's own process (the mock for direct); load average now ${loadavg()[0]!.toFixed(2)}`);
  console.log(formatMedians(opts.targets, medians, opts.rounds));
  console.log('');
  for (const line of await ledgerCheck(env, rounds)) console.log(line);
  const plain = medians.sluice;
  if (opts.targets.includes('sluice-ledger') && plain?.cpuUsPerReq !== undefined) {
    // req/s between two targets moves by more than the ledger costs on a shared machine: the
    // ledger's own CPU, measured in-process, against what a request costs the plain gateway.
    const cost = await ledgerPathCost();
    console.log(
      `ledger path in-process: +${cost.added.toFixed(1)} µs CPU per request (on ${cost.on.toFixed(1)}, off ${cost.off.toFixed(1)}), ` +
        `${((cost.added / plain.cpuUsPerReq) * 100).toFixed(1)}% of plain sluice's ${plain.cpuUsPerReq.toFixed(0)} µs per request; target < 10%: ${cost.added / plain.cpuUsPerReq < 0.1 ? 'met' : 'NOT met'}`,
    );
  }
  for (const line of comparisons(medians)) console.log(line);
  const last = ratioLine(medians);
  if (last) console.log(last);
}

async function main(env: Env, opts: Options): Promise<void> {
  console.log(
    `gateway bench: ${opts.targets.join(', ')}; ${opts.connections} connections, ${opts.warmupSec} s warm-up + ${opts.durationSec} s measured, ` +
      `${opts.rounds} round(s), ${opts.stream ? 'streaming' : 'non-streaming'} chat completion; node ${process.version}, ${availableParallelism()} CPUs`,
  );
  // Other work on the machine moves req/s a lot; the load average says how much to trust a run.
  console.log(`load average (1 min) at start: ${loadavg()[0]!.toFixed(2)}`);
  await startTargets(env, opts);
  await prime(env, opts);
  const rounds = await runRounds(env, opts);
  // Stop the gateways before summarising: V8 writes a CPU profile only when the process exits.
  if (opts.profile) {
    for (const name of [...SLUICE_VARIANTS, 'portkey'] as const) {
      const child = env.children.get(name);
      if (child) await stop(child);
    }
    printProfiles(env);
  }
  await report(env, opts, rounds);
}

let opts: Options;
try {
  opts = parseOptions();
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
const env: Env = {
  workDir: mkdtempSync(join(tmpdir(), 'sluice-bench-')),
  profileDir: join(ROOT, 'bench/results/profiles', new Date().toISOString().replace(/[:.]/g, '-')),
  mockUrl: '',
  children: new Map(),
  targets: new Map(),
  ledgers: new Map(),
};
const removeWorkDir = () => rmSync(env.workDir, { recursive: true, force: true });

process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping child processes`);
    void stopAll().finally(() => {
      removeWorkDir();
      process.exit(130);
    });
  });
}

try {
  await main(env, opts);
  await stopAll();
  removeWorkDir();
} catch (err) {
  await stopAll();
  console.error(`\nbench failed: ${err instanceof Error ? err.message : String(err)}\nchild logs kept in ${env.workDir}`);
  process.exitCode = 1;
}
