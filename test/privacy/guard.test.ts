/**
 * The guard in-process: modes, policies per key and alias, blocking, failing closed, the audit
 * record, and re-identification of whole bodies and streams (placeholders split anywhere).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallContext } from '../../src/backends/types.js';
import { GatewayError } from '../../src/errors.js';
import { DetectingGuard, type PrivacyAudit } from '../../src/privacy/detecting-guard.js';
import type { PrivacyConfig } from '../../src/privacy/policy.js';
import { MapRestorer } from '../../src/privacy/restorer.js';
import type { Detector, EntityType } from '../../src/privacy/types.js';

const remote = { backend: 'cloud', locality: 'remote' as const };
const local = { backend: 'local', locality: 'local' as const };
const SECRET_KEY = Buffer.from('test-key');

function ctx(extra: Partial<CallContext> & { model?: string } = {}): CallContext {
  return { requestId: `req-${Math.random()}`, signal: new AbortController().signal, ...extra };
}

function guard(config: Partial<PrivacyConfig> = {}, audits: PrivacyAudit[] = [], detectors?: Detector[]) {
  return new DetectingGuard({ config, secret: SECRET_KEY, onAudit: (a) => audits.push(a), detectors });
}

const TEXT = 'Hi, I am Maria Garcia (maria.garcia@example.org). Charge card 4111 1111 1111 1111. Thanks, Maria Garcia';
const chat = (content: string, extra: object = {}) => ({ model: 'gpt', messages: [{ role: 'user', content }], ...extra });

describe('protect', () => {
  test('local targets get the original body and are not even scanned', () => {
    let calls = 0;
    const counting: Detector = { name: 'count', types: ['PERSON'], detect: () => void calls++ };
    const g = guard({}, [], [counting]);
    const body = chat(TEXT);
    const out = g.protect('chat.completions', body, local, ctx());
    assert.equal(out.body, body);
    assert.equal(calls, 0);
  });

  test('mask: consistent placeholders, types on the call context, answer restored', () => {
    const g = guard();
    const c = ctx();
    const { body, restorer } = g.protect('chat.completions', chat(TEXT), remote, c);
    const sent = body.messages[0]!.content;
    assert.equal(sent, 'Hi, I am <PERSON_1> (<EMAIL_ADDRESS_1>). Charge card <CREDIT_CARD_1>. Thanks, <PERSON_1>');
    assert.deepEqual(c.piiTypes, ['CREDIT_CARD', 'EMAIL_ADDRESS', 'PERSON']);
    const answer = { choices: [{ index: 0, message: { role: 'assistant', content: 'Dear <PERSON_1>, we refunded <CREDIT_CARD_1>.' }, finish_reason: 'stop' }] };
    assert.equal(restorer.restore(answer).choices[0]!.message.content, 'Dear Maria Garcia, we refunded 4111 1111 1111 1111.');
  });

  test('the original body object is never modified', () => {
    const body = chat(TEXT);
    const copy = structuredClone(body);
    guard().protect('chat.completions', body, remote, ctx());
    assert.deepEqual(body, copy);
  });

  test('pseudonymise: realistic fakes, the same fake for the same value across requests, restored', () => {
    const g = guard({ defaultMode: 'pseudonymise' });
    const a = g.protect('chat.completions', chat(TEXT), remote, ctx()).body.messages[0]!.content;
    const second = g.protect('chat.completions', chat('Update from Maria Garcia: all good.'), remote, ctx());
    const b = second.body.messages[0]!.content;
    assert.ok(!a.includes('Maria') && !a.includes('4111 1111 1111 1111') && !a.includes('maria.garcia'));
    assert.match(a, /@example\.com/);
    const fakeName = /^Hi, I am (\S+ \S+) \(/.exec(a)![1]!;
    assert.ok(b.includes(fakeName), 'same person, same fake, in the next request of the conversation');
    const card = /card ([\d ]+)\./.exec(a)![1]!;
    assert.match(card, /^\d{4} \d{4} \d{4} \d{4}$/);
    const answer = { choices: [{ index: 0, message: { content: `Hello ${fakeName.split(' ')[0]}! ${fakeName} is noted.` } }] };
    assert.equal(second.restorer.restore(answer).choices[0]!.message.content, 'Hello Maria! Maria Garcia is noted.');
  });

  test('hash and allow modes per type', () => {
    const g = guard({ modes: { PERSON: 'hash', EMAIL_ADDRESS: 'allow' } });
    const sent = g.protect('chat.completions', chat(TEXT), remote, ctx()).body.messages[0]!.content;
    assert.match(sent, /I am <PERSON_[0-9a-f]{10}> \(maria\.garcia@example\.org\)/);
  });

  test('every text field that leaves is protected: parts, tool-call arguments, user, prompts, embeddings', () => {
    const g = guard();
    const body = {
      model: 'gpt',
      user: 'maria.garcia@example.org',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Call +44 20 7946 0958' }, { type: 'image_url', image_url: { url: 'https://x' } }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 't1', type: 'function', function: { name: 'lookup', arguments: '{"email":"maria.garcia@example.org"}' } }] },
      ],
    };
    const out = g.protect('chat.completions', body, remote, ctx()).body as any;
    assert.equal(out.user, '<EMAIL_ADDRESS_1>');
    assert.equal(out.messages[0].content[0].text, 'Call <PHONE_NUMBER_1>');
    assert.equal(out.messages[1].tool_calls[0].function.arguments, '{"email":"<EMAIL_ADDRESS_1>"}');
    assert.equal(g.protect('completions', { model: 'm', prompt: ['IBAN GB82WEST12345698765432'] }, remote, ctx()).body.prompt[0], 'IBAN <IBAN_CODE_1>');
    assert.deepEqual(g.protect('embeddings', { model: 'm', input: ['a', 'SSN 123-45-6789'] }, remote, ctx()).body.input, ['a', 'SSN <US_SSN_1>']);
  });

  test('input it cannot read (token ids) is refused, not sent', () => {
    assert.throws(
      () => guard().protect('embeddings', { model: 'm', input: [[1, 2, 3]] }, remote, ctx()),
      (err: unknown) => err instanceof GatewayError && err.status === 503 && err.code === 'privacy_guard_failed',
    );
  });
});

describe('policies', () => {
  test('never_leave blocks with 403 pii_blocked naming the types, never the values', () => {
    const audits: PrivacyAudit[] = [];
    const g = guard({ never_leave: ['CREDIT_CARD', 'US_SSN'] }, audits);
    assert.throws(
      () => g.protect('chat.completions', chat(TEXT), remote, ctx()),
      (err: unknown) => err instanceof GatewayError && err.status === 403 && err.code === 'pii_blocked' && err.message.includes('CREDIT_CARD') && !err.message.includes('4111'),
    );
    assert.equal(audits[0]!.outcome, 'blocked');
    // the same request may still go to a local backend
    assert.doesNotThrow(() => g.protect('chat.completions', chat(TEXT), local, ctx()));
  });

  test('per key and per alias policies; a key cannot unblock what the global policy keeps', () => {
    const g = guard({
      never_leave: ['US_SSN'],
      keys: { billing: { never_leave: ['CREDIT_CARD'] }, relaxed: { modes: { US_SSN: 'allow', PERSON: 'allow' } } },
      aliases: { smart: { modes: { PERSON: 'pseudonymise' } } },
    });
    assert.throws(() => g.protect('chat.completions', chat(TEXT), remote, ctx({ keyName: 'billing' })), /CREDIT_CARD/);
    assert.doesNotThrow(() => g.protect('chat.completions', chat(TEXT), remote, ctx({ keyName: 'other' })));
    assert.throws(() => g.protect('chat.completions', chat('SSN 123-45-6789'), remote, ctx({ keyName: 'relaxed' })), /US_SSN/);
    const relaxed = g.protect('chat.completions', chat(TEXT), remote, ctx({ keyName: 'relaxed' })).body.messages[0]!.content;
    assert.ok(relaxed.includes('Maria Garcia'));
    const viaAlias = g.protect('chat.completions', chat(TEXT), remote, ctx({ model: 'smart' })).body.messages[0]!.content;
    assert.ok(!viaAlias.includes('Maria') && !viaAlias.includes('<PERSON_'), 'alias "smart" pseudonymises people');
  });
});

describe('fails closed', () => {
  const boom: Detector = {
    name: 'exploding',
    types: ['PERSON'] as EntityType[],
    detect: () => {
      throw new Error('failed on Maria Garcia');
    },
  };

  test('a throwing detector refuses the request with 503 privacy_guard_failed, no values in message or audit', () => {
    const audits: PrivacyAudit[] = [];
    const g = guard({}, audits, [boom]);
    assert.throws(
      () => g.protect('chat.completions', chat(TEXT), remote, ctx()),
      (err: unknown) => err instanceof GatewayError && err.status === 503 && err.code === 'privacy_guard_failed' && !err.message.includes('Maria') && err.message.includes('exploding'),
    );
    assert.equal(audits[0]!.outcome, 'failed');
    assert.ok(!JSON.stringify(audits).includes('Maria'));
  });

  test('a scan past its time budget refuses the request', () => {
    let t = 0;
    const slow: Detector = { name: 'slow', types: ['PERSON'], detect: () => void (t += 10_000) };
    const g = new DetectingGuard({ config: { timeBudgetMs: 100 }, detectors: [slow], now: () => t, secret: SECRET_KEY });
    assert.throws(() => g.protect('chat.completions', chat(TEXT), remote, ctx()), (err: unknown) => err instanceof GatewayError && err.code === 'privacy_guard_failed');
  });
});

describe('audit', () => {
  test('one record per request and target: types and actions, never values', () => {
    const audits: PrivacyAudit[] = [];
    const g = guard({ modes: { EMAIL_ADDRESS: 'pseudonymise' } }, audits);
    const c = ctx({ keyName: 'crm' });
    g.protect('chat.completions', chat(TEXT), remote, c);
    g.protect('chat.completions', chat(TEXT), remote, c); // a retry: no second record
    assert.equal(audits.length, 1);
    assert.deepEqual(audits[0]!.found, { PERSON: 2, EMAIL_ADDRESS: 1, CREDIT_CARD: 1 });
    assert.deepEqual(audits[0]!.actions, { PERSON: 'mask', EMAIL_ADDRESS: 'pseudonymise', CREDIT_CARD: 'mask' });
    assert.equal(audits[0]!.keyName, 'crm');
    const serialised = JSON.stringify(audits);
    for (const value of ['Maria', 'Garcia', 'maria.garcia', '4111']) assert.ok(!serialised.includes(value));
  });
});

describe('stream re-identification', () => {
  const map = new Map([
    ['<PERSON_1>', 'Maria Garcia'],
    ['<PERSON_12>', 'Jo Bloggs'],
    ['Alex Ashdown', 'Heidi Johnston'],
  ]);
  const chunk = (content: string | undefined, finish: string | null = null) => ({
    id: 'c',
    object: 'chat.completion.chunk',
    model: 'm',
    choices: [{ index: 0, delta: content === undefined ? {} : { content }, finish_reason: finish }],
  });
  const answer = 'Dear <PERSON_1>, <PERSON_12> and Alex Ashdown say hi. <PERSON_1>!';
  const expected = 'Dear Maria Garcia, Jo Bloggs and Heidi Johnston say hi. Maria Garcia!';

  function run(pieces: string[]): { text: string; maxHeld: number } {
    const r = new MapRestorer(map);
    let text = '';
    let received = 0;
    let maxHeld = 0;
    for (const p of pieces) {
      received += p.length;
      const out = r.restoreChunk(chunk(p));
      if (out) text += out.choices[0]!.delta.content ?? '';
      maxHeld = Math.max(maxHeld, received - text.length);
    }
    const fin = r.restoreChunk(chunk(undefined, 'stop'));
    text += fin!.choices[0]!.delta.content ?? '';
    assert.equal(r.flush(), null);
    return { text, maxHeld };
  }

  test('every two-way split of the answer, and one character at a time', () => {
    for (let i = 0; i <= answer.length; i++) assert.equal(run([answer.slice(0, i), answer.slice(i)]).text, expected, `split at ${i}`);
    const { text, maxHeld } = run([...answer]);
    assert.equal(text, expected);
    // only a possible placeholder prefix is ever held back (longest key is 12 chars)
    assert.ok(maxHeld <= 12, `held back ${maxHeld} characters`);
  });

  test('text that merely starts like a placeholder is released as soon as it cannot be one', () => {
    const r = new MapRestorer(map);
    assert.equal(r.restoreChunk(chunk('a <P'))!.choices[0]!.delta.content, 'a ');
    assert.equal(r.restoreChunk(chunk('X> b'))!.choices[0]!.delta.content, '<PX> b');
  });

  test('a stream that ends without finish_reason: flush returns the held text as a chunk', () => {
    const r = new MapRestorer(map);
    r.restoreChunk(chunk('hello <PERSON_'));
    const held = r.flush<ReturnType<typeof chunk>>();
    assert.equal(held!.choices[0]!.delta.content, '<PERSON_');
  });

  test('completions chunks (text) and tool-call argument chunks are restored too; usage chunks pass', () => {
    const r = new MapRestorer(map);
    const t1 = r.restoreChunk({ choices: [{ index: 0, text: 'Hi <PERS', finish_reason: null }] })!;
    const t2 = r.restoreChunk({ choices: [{ index: 0, text: 'ON_1>', finish_reason: 'stop' }] })!;
    assert.equal(t1.choices[0]!.text + t2.choices[0]!.text, 'Hi Maria Garcia');
    const r2 = new MapRestorer(map);
    const a = r2.restoreChunk({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"n":"<PER' } }] }, finish_reason: null }] })!;
    const b = r2.restoreChunk({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: 'SON_1>"}' } }] }, finish_reason: null }] })!;
    const args = a.choices[0]!.delta.tool_calls![0]!.function.arguments + b.choices[0]!.delta.tool_calls![0]!.function.arguments;
    assert.equal(args, '{"n":"Maria Garcia"}');
    const usage = { choices: [], usage: { prompt_tokens: 1, completion_tokens: 2 } };
    assert.equal(r2.restoreChunk(usage), usage);
  });
});

describe('pseudonyms never collide with real values of the request', () => {
  test('a fake whose word is another value of the request (met later) is not used', async () => {
    const { Redactor } = await import('../../src/privacy/redactor.js');
    const { pseudonym } = await import('../../src/privacy/pseudonyms.js');
    const key = Buffer.from('collision-test-key');
    const first = pseudonym(key, 'PERSON', 'Ann Lee', 0)!;
    const word = first.split(' ')[0]!;
    // the first text names Ann Lee; a later text names a person called like the word of her first-choice fake
    const texts = ['Ann Lee called.', `Thanks, ${word}.`];
    const findings = [
      [{ type: 'PERSON' as EntityType, start: 0, end: 7, score: 0.95 }],
      [{ type: 'PERSON' as EntityType, start: 8, end: 8 + word.length, score: 0.85 }],
    ];
    const redactor = new Redactor(key);
    texts.forEach((t, i) => redactor.reserve(t, findings[i]!));
    const out = texts.map((t, i) => redactor.apply(t, findings[i]!, () => 'pseudonymise'));
    const re = new RegExp(`(?<![\\p{L}])${word}(?![\\p{L}])`, 'u');
    assert.ok(!out.some((t) => re.test(t)), `"${word}" reached the output: ${JSON.stringify(out)}`);
    assert.notEqual(redactor.replacementFor('PERSON', 'Ann Lee', 'pseudonymise'), first);
  });
});
