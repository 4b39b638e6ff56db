/** Capture end to end: a real gateway, a loopback cloud, the ledger's SQLite database. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MockOpenAI } from '../support/mock-openai.js';
import { startGateway } from '../support/gateway.js';
import { KyselyCaptureStore } from '../../src/distill/captures.js';

test('cloud answers are captured into the ledger database, masked; streams and other aliases are not', async () => {
  const cloud = await MockOpenAI.start();
  cloud.setDefault({ kind: 'ok', content: 'We have emailed jane.doe@example.com: your card arrives Monday.' });
  const gw = await startGateway({
    backends: [{ kind: 'openai-compatible', name: 'cloud', baseUrl: cloud.url, models: { support: 'upstream-gpt', other: 'upstream-other' } }],
    distill: { capture: { enabled: true, models: ['support'] } },
  });
  try {
    const database = gw.gateway.ledger.database;
    assert.ok(database, 'the ledger is on by default');
    await database.migrate();
    const messages = [
      { role: 'system' as const, content: 'You are a bank assistant.' },
      { role: 'user' as const, content: 'I am jane.doe@example.com, where is my card?' },
    ];
    const answer = await gw.client.chat.completions.create({ model: 'support', messages });
    assert.match(answer.choices[0]!.message.content ?? '', /your card arrives Monday/);
    await gw.client.chat.completions.create({ model: 'other', messages });
    const stream = await gw.client.chat.completions.create({ model: 'support', messages, stream: true });
    for await (const _ of stream) void _;
    await gw.gateway.capture.drain();

    const stored = await new KyselyCaptureStore(database.db).list();
    assert.equal(stored.length, 1, 'one non-streamed answer for the captured alias');
    const c = stored[0]!;
    assert.equal(c.task, 'chat');
    assert.equal(c.model, 'support');
    assert.equal(c.teacher, 'cloud');
    assert.equal(c.keyName, 'test-key');
    assert.equal(c.messages.length, 2);
    assert.match(c.messages[1]!.content, /where is my card\?/);
    assert.match(c.answer, /your card arrives Monday/);
    assert.doesNotMatch(JSON.stringify(c), /jane\.doe@example\.com/, 'nothing the guard masks is stored');
    assert.deepEqual(gw.gateway.capture.stats, { stored: 1, failed: 0 });
  } finally {
    await gw.close();
    await cloud.close();
  }
});
