/** Capture end to end: a real gateway, a loopback cloud, the ledger's SQLite database. */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MockOpenAI } from '../support/mock-openai.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { KyselyCaptureStore } from '../../src/distill/captures.js';
import type { UsageStatus } from '../../src/ledger/usage.js';

const CLOUD_ANSWER = 'We have emailed jane.doe@example.com: your card arrives Monday.';
/** The answer as stored: the guard's mask replaces the address. */
const STORED_ANSWER = 'We have emailed <EMAIL_ADDRESS_1>: your card arrives Monday.';
const messages = [
  { role: 'system' as const, content: 'You are a bank assistant.' },
  { role: 'user' as const, content: 'I am jane.doe@example.com, where is my card?' },
];

function cloudBackend(cloud: MockOpenAI) {
  return [{ kind: 'openai-compatible' as const, name: 'cloud', baseUrl: cloud.url, models: { support: 'upstream-gpt', other: 'upstream-other' } }];
}

async function until(what: string, check: () => boolean): Promise<void> {
  // Bounded polling: the condition depends on I/O the test does not control the timing of.
  for (let i = 0; i < 2_000; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('cloud answers are captured into the ledger database, masked; other aliases are not', async () => {
  const cloud = await MockOpenAI.start();
  cloud.setDefault({ kind: 'ok', content: CLOUD_ANSWER });
  const gw = await startGateway({ backends: cloudBackend(cloud), distill: { capture: { enabled: true, models: ['support'] } } });
  try {
    const database = gw.gateway.ledger.database;
    assert.ok(database, 'the ledger is on by default');
    await database.migrate();
    const answer = await gw.client.chat.completions.create({ model: 'support', messages });
    assert.match(answer.choices[0]!.message.content ?? '', /your card arrives Monday/);
    await gw.client.chat.completions.create({ model: 'other', messages });
    // Not a captured alias, streamed or not.
    const stream = await gw.client.chat.completions.create({ model: 'other', messages, stream: true });
    for await (const _ of stream) void _;
    await gw.gateway.capture.drain();

    const stored = await new KyselyCaptureStore(database.db).list();
    assert.equal(stored.length, 1, 'one answer for the captured alias');
    const c = stored[0]!;
    assert.equal(c.task, 'chat');
    assert.equal(c.model, 'support');
    assert.equal(c.teacher, 'cloud');
    assert.equal(c.keyName, 'test-key');
    assert.equal(c.messages.length, 2);
    assert.match(c.messages[1]!.content, /where is my card\?/);
    assert.equal(c.answer, STORED_ANSWER);
    assert.doesNotMatch(JSON.stringify(c), /jane\.doe@example\.com/, 'nothing the guard masks is stored');
    assert.deepEqual(gw.gateway.capture.stats, { stored: 1, failed: 0 });
  } finally {
    await gw.close();
    await cloud.close();
  }
});

describe('streamed cloud answers', () => {
  let cloud: MockOpenAI;
  let gw: TestGateway;

  before(async () => {
    cloud = await MockOpenAI.start();
    gw = await startGateway({ backends: cloudBackend(cloud), distill: { capture: { enabled: true, models: ['support'] } } });
    await gw.gateway.ledger.database!.migrate();
  });
  after(async () => {
    await gw?.close();
    await cloud?.close();
  });
  beforeEach(async () => {
    cloud.reset();
    cloud.setDefault({ kind: 'ok', content: CLOUD_ANSWER });
    await gw.gateway.ledger.database!.db.deleteFrom('distill_captures').execute();
  });

  const captures = async () => {
    await gw.gateway.capture.drain();
    return new KyselyCaptureStore(gw.gateway.ledger.database!.db).list();
  };
  /** Waits for the gateway to have finished the request (its usage event), however it ended. */
  const finished = (status: UsageStatus) => {
    const seen = gw.events.length;
    return until(`a usage event '${status}'`, () => gw.events.slice(seen).some((e) => e.status === status));
  };

  test('a streamed chat answer is captured whole and masked, as the non-streamed one is', async () => {
    const stream = await gw.client.chat.completions.create({ model: 'support', messages, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    assert.equal(text, CLOUD_ANSWER, 'the client got every chunk');
    assert.ok(chunks > 3, 'it came in pieces');

    const stored = await captures();
    assert.equal(stored.length, 1);
    const c = stored[0]!;
    assert.equal(c.task, 'chat');
    assert.equal(c.model, 'support');
    assert.equal(c.teacher, 'cloud');
    assert.equal(c.keyName, 'test-key');
    assert.equal(c.answer, STORED_ANSWER);
    assert.deepEqual(c.messages, [
      { role: 'system', content: 'You are a bank assistant.' },
      { role: 'user', content: 'I am <EMAIL_ADDRESS_1>, where is my card?' },
    ]);
    assert.doesNotMatch(JSON.stringify(c), /jane\.doe@example\.com/, 'nothing the guard masks is stored');

    // The same exchange unstreamed is stored identically.
    await gw.client.chat.completions.create({ model: 'support', messages });
    const both = await captures();
    assert.equal(both.length, 2);
    assert.deepEqual(both.map((x) => [x.answer, x.messages]), [[c.answer, c.messages], [c.answer, c.messages]]);
  });

  test('a streamed completion is captured likewise', async () => {
    cloud.setDefault({ kind: 'ok', content: 'Dear customer, your new card arrives Monday.' });
    const stream = await gw.client.completions.create({ model: 'support', prompt: 'Write to jane.doe@example.com that the card ships.', stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    assert.equal(text, 'Dear customer, your new card arrives Monday.');
    const stored = await captures();
    assert.equal(stored.length, 1);
    assert.equal(stored[0]!.task, 'completion');
    assert.equal(stored[0]!.answer, 'Dear customer, your new card arrives Monday.');
    assert.deepEqual(stored[0]!.messages, [{ role: 'user', content: 'Write to <EMAIL_ADDRESS_1> that the card ships.' }]);
  });

  test('a stream the client abandons mid-way is not captured', async () => {
    // The cloud holds the stream after three events, so the client leaves while it is running.
    cloud.setDefault({ kind: 'ok', content: CLOUD_ANSWER, pauseAfter: 3 });
    const stored = gw.gateway.capture.stats.stored;
    const done = finished('aborted');
    const stream = await gw.client.chat.completions.create({ model: 'support', messages, stream: true });
    let text = '';
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (text !== '') break; // closes the connection
    }
    assert.equal(text, 'We');
    await done;
    await cloud.waitForAborts(1);
    assert.equal((await captures()).length, 0);
    assert.equal(gw.gateway.capture.stats.stored, stored);
  });

  test('a stream the upstream breaks mid-way is not captured', async () => {
    cloud.setDefault({ kind: 'cut', afterChunks: 3 });
    const done = finished('error');
    const stream = await gw.client.chat.completions.create({ model: 'support', messages, stream: true });
    let text = '';
    await assert.rejects(async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    });
    assert.ok(text.length > 0, 'part of the answer reached the client');
    await done;
    assert.equal((await captures()).length, 0);
  });
});
