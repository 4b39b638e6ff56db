/**
 * Child processes of the benchmark: spawn, wait for readiness, read CPU time, and kill them all
 * on the way out (normal end, error, Ctrl-C). Output goes to log files rather than pipes, so
 * a chatty child never costs the bench process (which also runs the load generator) any CPU.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  logFile: string;
  /** Set once the process has exited (code or signal). */
  exited: string | undefined;
}

const children = new Set<Child>();

export interface SpawnOptions {
  name: string;
  args: string[];
  cwd: string;
  logDir: string;
  env?: NodeJS.ProcessEnv;
}

/** Starts `node <args>` with stdout+stderr going to `<logDir>/<name>.log`. */
export function spawnNode(opts: SpawnOptions): Child {
  const logFile = join(opts.logDir, `${opts.name}.log`);
  const fd = openSync(logFile, 'a');
  const proc = spawn(process.execPath, opts.args, { cwd: opts.cwd, env: opts.env ?? childEnv(), stdio: ['ignore', fd, fd] });
  closeSync(fd); // the child holds its own copy
  if (proc.pid === undefined) throw new Error(`${opts.name}: could not spawn node ${opts.args.join(' ')}`);
  const child: Child = { name: opts.name, proc, pid: proc.pid, logFile, exited: undefined };
  children.add(child);
  proc.on('exit', (code, signal) => {
    child.exited = signal ?? `exit code ${code}`;
  });
  return child;
}

/**
 * The parent's environment without anything that would change what a child does: SLUICE_*
 * would override the benchmark's sluice config, and a proxy would take loopback traffic away.
 */
export function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('SLUICE_') || /^(https?|all)_proxy$/i.test(k) || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return { ...env, NO_PROXY: '127.0.0.1,localhost', ...extra };
}

export function logTail(child: Child, lines = 30): string {
  try {
    return readFileSync(child.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** A port free on 127.0.0.1 right now (the OS picks it; there is a small race until the child binds). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `url` until it answers `okStatus`; fails early if the child exits, and after
 * `timeoutMs` with the last answer and the child's log tail, so a broken target is obvious.
 */
export async function waitReady(child: Child, url: string, timeoutMs: number, okStatus = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (child.exited) throw new Error(`${child.name} exited (${child.exited}) before it was ready. Log tail:\n${logTail(child)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      const body = await res.text();
      if (res.status === okStatus) return;
      last = `HTTP ${res.status} ${body.slice(0, 300)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${child.name} not ready after ${timeoutMs} ms at ${url} (last: ${last}). Log tail:\n${logTail(child)}`);
}

/** Ask nicely (SIGTERM: lets --cpu-prof write its profile), then SIGKILL after `graceMs`. */
export async function stop(child: Child, graceMs = 5_000): Promise<void> {
  children.delete(child);
  if (child.exited) return;
  const exited = new Promise<void>((r) => child.proc.once('exit', () => r()));
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.exited || child.proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => stop(c)));
}

/** Last resort from a synchronous 'exit' handler: nothing may outlive the benchmark. */
export function killAllNow(): void {
  for (const c of children) if (!c.exited) c.proc.kill('SIGKILL');
  children.clear();
}

const clockTicks = (() => {
  if (process.platform !== 'linux') return 0;
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  return Number(out.stdout) || 100;
})();

/** User+system CPU time of a process in ms (Linux /proc), or undefined where unavailable. */
export function cpuTimeMs(pid: number): number | undefined {
  if (clockTicks === 0) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the ")" that closes the command name: state is [0], utime [11], stime [12].
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return undefined;
  }
}
