/**
 * `sluice redact`: JSON lines in, one JSON line out per input line, in order — the public form.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { redactStream } from '../../src/cli/redact.js';
import { DetectingGuard } from '../../src/privacy/detecting-guard.js';

const CLI = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
// Absolute, because the CLI runs in a temporary directory where 'tsx' would not resolve.
const TSX = import.meta.resolve('tsx');

describe('sluice redact', () => {
  test('the command reads stdin JSONL and writes {"text","redacted","entities"} per line, in order', () => {
    const lines = [
      { text: 'Hi Maria Garcia, your card 4111 1111 1111 1111 is blocked.' },
      { text: 'nothing to see here' },
      { text: 'Mail me: jan.kowalski@example.pl' },
    ];
    const cwd = mkdtempSync(join(tmpdir(), 'sluice-redact-'));
    const res = spawnSync(process.execPath, ['--import', TSX, CLI, 'redact'], { input: lines.map((l) => JSON.stringify(l)).join('\n') + '\n', cwd, encoding: 'utf8', timeout: 120_000 });
    assert.equal(res.status, 0, res.stderr);
    const out = res.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(out.length, 3);
    assert.deepEqual(Object.keys(out[0]), ['text', 'redacted', 'entities']);
    assert.equal(out[0].text, lines[0]!.text);
    assert.equal(out[0].redacted, 'Hi <PERSON_1>, your card <CREDIT_CARD_1> is blocked.');
    assert.deepEqual(out[0].entities.map((e: any) => Object.keys(e)), [
      ['type', 'start', 'end', 'score'],
      ['type', 'start', 'end', 'score'],
    ]);
    assert.deepEqual(out[0].entities.map((e: any) => lines[0]!.text.slice(e.start, e.end)), ['Maria Garcia', '4111 1111 1111 1111']);
    assert.deepEqual(out[1], { text: 'nothing to see here', redacted: 'nothing to see here', entities: [] });
    assert.equal(out[2].redacted, 'Mail me: <EMAIL_ADDRESS_1>');
  });

  test('--mode pseudonymise writes realistic fakes', async () => {
    const out: string[] = [];
    const code = await redactStream(new DetectingGuard(), 'pseudonymise', Readable.from(['{"text":"Call Maria Garcia at maria@example.org"}\n']), (l) => void out.push(l));
    assert.equal(code, 0);
    const line = JSON.parse(out[0]!);
    assert.ok(!line.redacted.includes('Maria') && !line.redacted.includes('<'), line.redacted);
    assert.match(line.redacted, /@example\.com/);
  });

  test('bad lines get an error line in their place and exit code 1; blank lines are skipped', async () => {
    const out: string[] = [];
    const input = Readable.from(['{"text":"a"}\n', 'not json\n', '\n', '{"nope":1}\n', '{"text":"b"}\n']);
    const code = await redactStream(new DetectingGuard(), 'mask', input, (l) => void out.push(l));
    assert.equal(code, 1);
    assert.equal(out.length, 4);
    assert.equal(JSON.parse(out[0]!).text, 'a');
    assert.match(JSON.parse(out[1]!).error.message, /line 2/);
    assert.match(JSON.parse(out[2]!).error.message, /line 4/);
    assert.equal(JSON.parse(out[3]!).text, 'b');
  });

  test('a failing detector fails the line closed: an error, never unredacted text', async () => {
    const guard = new DetectingGuard({ detectors: [{ name: 'boom', types: ['PERSON'], detect: () => { throw new Error('x'); } }] });
    const out: string[] = [];
    const code = await redactStream(guard, 'mask', Readable.from(['{"text":"Maria Garcia"}\n']), (l) => void out.push(l));
    assert.equal(code, 1);
    assert.ok(!out[0]!.includes('Maria'));
  });
});
