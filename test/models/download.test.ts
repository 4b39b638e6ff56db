import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachePaths, listCachedModels, readMeta } from '../../src/models/cache.js';
import { downloadFile, DownloadError, ensureModel, ModelUnavailableError } from '../../src/models/download.js';
import { parseModelSource } from '../../src/models/source.js';
import { STORIES_260K } from '../support/models.js';

const original = readFileSync(STORIES_260K);
const originalSha = createHash('sha256').update(original).digest('hex');

interface Seen {
  path: string;
  headers: IncomingHttpHeaders;
  status: number;
}

type Mode = 'normal' | 'ignore-range' | 'cut-first' | 'not-found';

/** Loopback file server for the stories260K bytes, with switchable misbehaviour. */
class FileServer {
  mode: Mode = 'normal';
  etag = '"v1"';
  cutAfter = 300_000;
  seen: Seen[] = [];
  /** path -> Location, to act like huggingface.co's redirect to its CDN. */
  redirects = new Map<string, string>();
  private server: Server;
  private sockets = new Set<Socket>();
  url = '';

  constructor() {
    this.server = createServer((req, res) => {
      const path = req.url ?? '/';
      const record = (status: number) => this.seen.push({ path, headers: req.headers, status });
      const location = this.redirects.get(path);
      if (location) {
        record(302);
        res.writeHead(302, { location }).end();
        return;
      }
      if (this.mode === 'not-found') {
        record(404);
        res.writeHead(404).end('no such file');
        return;
      }
      const size = original.length;
      const m = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
      const ifRange = req.headers['if-range'];
      if (m && this.mode !== 'ignore-range' && (ifRange === undefined || ifRange === this.etag)) {
        const start = Number(m[1]);
        if (start >= size) {
          record(416);
          res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
          return;
        }
        record(206);
        res.writeHead(206, { etag: this.etag, 'content-range': `bytes ${start}-${size - 1}/${size}`, 'content-length': String(size - start) });
        res.end(original.subarray(start));
        return;
      }
      record(200);
      res.writeHead(200, { 'content-length': String(size), etag: this.etag, 'accept-ranges': this.mode === 'ignore-range' ? 'none' : 'bytes' });
      if (this.mode === 'cut-first' && this.seen.filter((s) => s.status === 200 || s.status === 206).length === 1) {
        // Send part of the body, then close the connection as a flaky network would.
        res.write(original.subarray(0, this.cutAfter), () => req.socket.end());
        return;
      }
      res.end(original);
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

const server = new FileServer();
const root = mkdtempSync(join(tmpdir(), 'sluice-download-'));
let dir: string;

before(() => server.listen());
after(() => server.close());
beforeEach(() => {
  server.mode = 'normal';
  server.etag = '"v1"';
  server.seen = [];
  server.redirects.clear();
  dir = mkdtempSync(join(root, 't-'));
});

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

test('full download: verified sha256, atomic rename, progress up to the total', async () => {
  const dest = join(dir, 'model.gguf');
  const progress: Array<[number, number | undefined]> = [];
  const res = await downloadFile({ url: `${server.url}/m.gguf`, dest, sha256: originalSha.toUpperCase(), onProgress: (r, t) => progress.push([r, t]) });
  assert.equal(res.path, dest);
  assert.equal(res.sha256, originalSha);
  assert.equal(res.size, original.length);
  assert.equal(res.resumedFrom, 0);
  assert.equal(sha(dest), originalSha);
  assert.equal(existsSync(dest + '.part'), false);
  assert.deepEqual(progress.at(-1), [original.length, original.length]);
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i]![0] >= progress[i - 1]![0]);
  assert.equal(server.seen[0]!.headers.range, undefined);
});

test('a full disk fails the download with the disk error, and never crashes the process', { skip: !existsSync('/dev/full') && 'needs /dev/full' }, async () => {
  const dest = join(dir, 'model.gguf');
  // Every write to /dev/full fails with ENOSPC, as a full disk would.
  symlinkSync('/dev/full', dest + '.part');
  await assert.rejects(downloadFile({ url: `${server.url}/m.gguf`, dest }), (err: unknown) => err instanceof DownloadError && /ENOSPC|no space/i.test(err.message));
  assert.equal(existsSync(dest), false);
});

test('wrong sha256: error names expected and actual, nothing left under the final name', async () => {
  const dest = join(dir, 'model.gguf');
  const wrong = 'ab'.repeat(32);
  await assert.rejects(downloadFile({ url: `${server.url}/m.gguf`, dest, sha256: wrong, retries: 3 }), (err: unknown) => {
    assert.ok(err instanceof DownloadError);
    assert.ok(err.message.includes(`expected ${wrong}`), err.message);
    assert.ok(err.message.includes(`got ${originalSha}`), err.message);
    return true;
  });
  assert.deepEqual(readdirSync(dir), [], 'neither the file nor its .part is left');
  // A checksum mismatch is final: no retry downloaded the file again.
  assert.equal(server.seen.length, 1);
});

test('an interrupted transfer leaves a .part that the next attempt resumes with Range', async () => {
  server.mode = 'cut-first';
  const dest = join(dir, 'model.gguf');
  await assert.rejects(downloadFile({ url: `${server.url}/m.gguf`, dest, sha256: originalSha, retries: 0 }), DownloadError);
  assert.equal(existsSync(dest), false, 'no half-written file under the final name');
  const partSize = statSync(dest + '.part').size;
  // What was read before the cut is kept. Not necessarily all that was sent: undici drops body
  // bytes it had buffered but not yet handed over when it reports the connection's premature end.
  assert.ok(partSize > 0 && partSize <= server.cutAfter, `part holds ${partSize} bytes`);

  const res = await downloadFile({ url: `${server.url}/m.gguf`, dest, sha256: originalSha, retries: 0 });
  assert.equal(res.resumedFrom, partSize);
  const resumed = server.seen.at(-1)!;
  assert.equal(resumed.headers.range, `bytes=${partSize}-`);
  assert.equal(resumed.headers['if-range'], '"v1"');
  assert.equal(resumed.status, 206);
  assert.equal(sha(dest), originalSha);
  assert.equal(existsSync(dest + '.part'), false);
});

test('a file that changed upstream since the .part was started is downloaded whole (If-Range)', async () => {
  server.mode = 'cut-first';
  const dest = join(dir, 'model.gguf');
  await assert.rejects(downloadFile({ url: `${server.url}/m.gguf`, dest, retries: 0 }), DownloadError);
  server.etag = '"v2"';
  const res = await downloadFile({ url: `${server.url}/m.gguf`, dest, sha256: originalSha, retries: 0 });
  const second = server.seen.at(-1)!;
  assert.equal(second.headers['if-range'], '"v1"');
  assert.match(String(second.headers.range), /^bytes=\d+-$/);
  assert.equal(second.status, 200);
  assert.equal(res.resumedFrom, 0);
  assert.equal(sha(dest), originalSha);
  assert.deepEqual(readdirSync(dir), ['model.gguf']);
});

test('retries inside one call resume from the .part file', async () => {
  server.mode = 'cut-first';
  const dest = join(dir, 'model.gguf');
  const res = await downloadFile({ url: `${server.url}/m.gguf`, dest, sha256: originalSha, retries: 2, retryDelayMs: 1 });
  assert.deepEqual(
    server.seen.map((s) => s.status),
    [200, 206],
  );
  assert.match(String(server.seen[1]!.headers.range), /^bytes=\d+-$/);
  assert.ok(res.resumedFrom > 0);
  assert.equal(sha(dest), originalSha);
});

test('a server that ignores Range: the download restarts from zero', async () => {
  server.mode = 'ignore-range';
  const dest = join(dir, 'model.gguf');
  // A stale .part whose bytes do not match: appending to it would corrupt the file.
  writeFileSync(dest + '.part', Buffer.alloc(4096, 7));
  const res = await downloadFile({ url: `${server.url}/m.gguf`, dest, sha256: originalSha, retries: 0 });
  assert.equal(server.seen[0]!.headers.range, 'bytes=4096-');
  assert.equal(server.seen[0]!.status, 200);
  assert.equal(res.resumedFrom, 0);
  assert.equal(sha(dest), originalSha);
});

test('a .part that is already complete (416 on resume) is finished without downloading again', async () => {
  const dest = join(dir, 'model.gguf');
  writeFileSync(dest + '.part', original);
  const res = await downloadFile({ url: `${server.url}/m.gguf`, dest, sha256: originalSha, retries: 0 });
  assert.equal(server.seen[0]!.status, 416);
  assert.equal(res.sha256, originalSha);
  assert.equal(sha(dest), originalSha);
});

test('HTTP 404 fails at once (no retries) with the status in the message', async () => {
  server.mode = 'not-found';
  await assert.rejects(downloadFile({ url: `${server.url}/missing.gguf`, dest: join(dir, 'x.gguf'), retries: 3 }), /HTTP 404/);
  assert.equal(server.seen.length, 1);
});

test('unreachable host, nothing cached: one clear error naming the source and how to supply a file', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const source = `http://127.0.0.1:${port}/models/tiny.gguf`;
  await assert.rejects(ensureModel(source, { modelsDir: dir, retries: 0 }), (err: unknown) => {
    assert.ok(err instanceof ModelUnavailableError);
    assert.ok(err.message.includes(`"${source}"`), err.message);
    assert.ok(err.message.includes('ECONNREFUSED'), err.message);
    assert.ok(err.message.includes('SLUICE_MODEL=/path/to/model.gguf'), err.message);
    assert.ok(err.message.includes(`sluice models pull ${source}`), err.message);
    return true;
  });
  const leftovers = await listCachedModels(dir);
  assert.ok(leftovers.every((e) => e.partial), 'no complete file appeared');
});

test('hf: references resolve against the configured endpoint, follow redirects and are cached', async () => {
  server.redirects.set('/someone/tiny-GGUF/resolve/main/stories260K.gguf', '/cdn/blob/stories260K');
  const ref = 'hf:someone/tiny-GGUF/stories260K.gguf';
  const first = await ensureModel(ref, { modelsDir: dir, hfEndpoint: server.url + '/', sha256: originalSha });
  assert.equal(first.downloaded, true);
  assert.equal(first.path, join(dir, 'hf_someone_tiny-GGUF_stories260K.gguf'));
  assert.deepEqual(
    server.seen.map((s) => [s.path, s.status]),
    [
      ['/someone/tiny-GGUF/resolve/main/stories260K.gguf', 302],
      ['/cdn/blob/stories260K', 200],
    ],
  );
  assert.equal(sha(first.path), originalSha);
  const meta = await readMeta(cachePaths(dir, 'hf_someone_tiny-GGUF_stories260K.gguf').meta);
  assert.equal(meta?.sha256, originalSha);
  assert.equal(meta?.source, ref);

  // Cached: no request, even with the endpoint unreachable or offline.
  const again = await ensureModel(ref, { modelsDir: dir, hfEndpoint: 'http://127.0.0.1:9', sha256: originalSha, offline: true });
  assert.equal(again.downloaded, false);
  assert.equal(again.path, first.path);
  assert.equal(server.seen.length, 2);

  const listed = await listCachedModels(dir);
  assert.deepEqual(
    listed.map((e) => [e.name, e.size, e.partial, e.source]),
    [['hf_someone_tiny-GGUF_stories260K.gguf', original.length, false, ref]],
  );
});

test('SLUICE_HF_ENDPOINT points hf: at another host when no endpoint is passed', async () => {
  const saved = process.env.SLUICE_HF_ENDPOINT;
  process.env.SLUICE_HF_ENDPOINT = server.url;
  try {
    const res = await ensureModel('hf:a/b/c.gguf', { modelsDir: dir });
    assert.equal(res.downloaded, true);
    assert.equal(server.seen[0]!.path, '/a/b/resolve/main/c.gguf');
  } finally {
    if (saved === undefined) delete process.env.SLUICE_HF_ENDPOINT;
    else process.env.SLUICE_HF_ENDPOINT = saved;
  }
});

test('offline with nothing cached: clear error, no request', async () => {
  const ref = `${server.url}/offline.gguf`;
  await assert.rejects(ensureModel(ref, { modelsDir: dir, offline: true }), (err: unknown) => {
    assert.ok(err instanceof ModelUnavailableError);
    assert.match(err.message, /offline/);
    assert.ok(err.message.includes(`sluice models pull ${ref}`));
    return true;
  });
  assert.equal(server.seen.length, 0);
});

test('a cached copy that does not match the configured sha256 is downloaded again', async () => {
  const ref = `${server.url}/swap.gguf`;
  const source = parseModelSource(ref);
  assert.equal(source.kind, 'url');
  const file = join(dir, source.kind === 'url' ? source.cacheName : '');
  writeFileSync(file, 'not the model');
  const res = await ensureModel(ref, { modelsDir: dir, sha256: originalSha });
  assert.equal(res.downloaded, true);
  assert.equal(sha(file), originalSha);
  // The hash is remembered: the next lookup does not re-hash or re-download.
  const again = await ensureModel(ref, { modelsDir: dir, sha256: originalSha });
  assert.equal(again.downloaded, false);
  assert.equal(server.seen.length, 1);
});

test('a missing local file is reported with its path', async () => {
  const missing = join(dir, 'nope.gguf');
  await assert.rejects(ensureModel(missing, { modelsDir: dir }), (err: unknown) => err instanceof ModelUnavailableError && err.message.includes(missing));
});

test('models pull / list (CLI)', async () => {
  const { modelsCommand } = await import('../../src/cli/models.js');
  const out: string[] = [];
  const err: string[] = [];
  // The test runner sets exitCode when any earlier test failed; only this command's outcome counts here.
  const savedExitCode = process.exitCode;
  process.exitCode = undefined;
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    await modelsCommand().parseAsync(['pull', `${server.url}/cli/stories260K.gguf`, '--sha256', originalSha, '--models-dir', dir], { from: 'user' });
    assert.equal(process.exitCode ?? 0, 0, err.join('\n'));
    const path = out.at(-1)!;
    assert.ok(path.startsWith(dir) && path.endsWith('.gguf'), path);
    assert.equal(sha(path), originalSha);
    assert.ok(err.some((l) => l.includes('100%')), err.join('\n'));

    out.length = 0;
    await modelsCommand().parseAsync(['list', '--models-dir', dir, '--json'], { from: 'user' });
    const listed = JSON.parse(out.join('\n'));
    assert.equal(listed.models.length, 1);
    assert.equal(listed.models[0].source, `${server.url}/cli/stories260K.gguf`);
    assert.equal(listed.models[0].sha256, originalSha);
  } finally {
    console.log = log;
    console.error = error;
    process.exitCode = process.exitCode || savedExitCode;
  }
});

after(() => {
  rmSync(root, { recursive: true, force: true });
});
