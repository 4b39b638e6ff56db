/**
 * The leak test: 1,000+ realistic messages (support tickets, e-mails, chat turns, log excerpts)
 * in nine locales, generated with faker with the position of every personal value known, sent
 * through a real gateway — as two-turn conversations, streamed and not, masked and pseudonymised —
 * to a recording mock cloud that echoes what it received.
 *
 * Asserted:
 * 1. transport: no value the guard detected in a message reaches the cloud, in any request;
 * 2. not one labelled value of any type — structured identifiers (e-mail, phone, cards, IBAN, SSN,
 *    IP, URL, domain, crypto, secrets, US licence/bank/medical numbers) and free-text ones (names,
 *    places, organisations, dates) alike — reaches the cloud, streamed or not; each leak is listed
 *    with its type, locale and message kind (never asserted on the value, which is test data);
 * 3. every answer comes back re-identified: the client reads its own words.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DetectingGuard } from '../../src/privacy/detecting-guard.js';
import type { EntityType } from '../../src/privacy/types.js';
import { MockOpenAI } from '../support/mock-openai.js';
import { startGateway, type TestGateway } from '../support/gateway.js';
import { generateCorpus, type Message } from './corpus.js';

const MESSAGES = 1_000;
const STRUCTURED = new Set<EntityType>(['EMAIL_ADDRESS', 'PHONE_NUMBER', 'CREDIT_CARD', 'IBAN_CODE', 'US_SSN', 'IP_ADDRESS', 'URL', 'DOMAIN_NAME', 'CRYPTO', 'SECRET', 'US_DRIVER_LICENSE', 'US_BANK_NUMBER', 'MEDICAL_LICENSE']);
const SEPARATOR = '\n~~~\n';

let cloud: MockOpenAI;
let gw: TestGateway;

before(async () => {
  cloud = await MockOpenAI.start();
  // The cloud answers with every user turn it received: placeholders and fakes come back to be re-identified.
  cloud.setDefault({
    kind: 'ok',
    content: (body) =>
      (body.messages ?? [])
        .filter((m: any) => m.role === 'user')
        .map((m: any) => m.content)
        .join(SEPARATOR),
  });
  gw = await startGateway({
    ledger: { enabled: false },
    backends: [{ kind: 'openai-compatible', name: 'cloud', baseUrl: cloud.url, models: ['gpt-mask', 'gpt-pseudo'], retry: { attempts: 0 } }],
    privacy: { aliases: { 'gpt-pseudo': { modes: { PERSON: 'pseudonymise', EMAIL_ADDRESS: 'pseudonymise', PHONE_NUMBER: 'pseudonymise', LOCATION: 'pseudonymise', ORGANIZATION: 'pseudonymise', CREDIT_CARD: 'pseudonymise', IBAN_CODE: 'pseudonymise' } } } },
  });
});

after(async () => {
  await gw?.close();
  await cloud?.close();
});

/** Every string inside a JSON value. */
function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) strings(x, out);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) strings(x, out);
  return out;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The value as a whole word/number (not inside a longer one), anywhere in the texts. */
function appears(value: string, texts: readonly string[]): boolean {
  const re = new RegExp(`(?<![\\p{L}\\p{N}])${escape(value)}(?![\\p{L}\\p{N}])`, 'u');
  return texts.some((t) => re.test(t));
}

async function send(model: string, turns: Message[], stream: boolean, id: number): Promise<string> {
  // `user` carries the conversation id (no personal data) so each cloud request can be matched to its messages
  const messages = [
    { role: 'user' as const, content: turns[0]!.text },
    { role: 'assistant' as const, content: 'Thanks, noted. Anything else?' },
    { role: 'user' as const, content: turns[1]!.text },
  ];
  const user = `conversation-${id}`;
  if (!stream) return (await gw.client.chat.completions.create({ model, messages, user })).choices[0]!.message.content ?? '';
  let text = '';
  for await (const chunk of await gw.client.chat.completions.create({ model, messages, user, stream: true })) text += chunk.choices[0]?.delta?.content ?? '';
  return text;
}

test(`no protected value of ${MESSAGES} messages reaches the cloud; answers are re-identified`, async () => {
  const corpus = generateCorpus(MESSAGES, 2024);
  assert.ok(new Set(corpus.map((m) => m.locale)).size >= 9);
  const conversations: Message[][] = [];
  for (let i = 0; i + 1 < corpus.length; i += 2) conversations.push([corpus[i]!, corpus[i + 1]!]);

  let next = 0;
  let wrongAnswers = 0;
  const worker = async () => {
    while (next < conversations.length) {
      const i = next++;
      const turns = conversations[i]!;
      const answer = await send(i % 4 === 3 ? 'gpt-pseudo' : 'gpt-mask', turns, i % 2 === 1, i);
      if (answer !== turns.map((t) => t.text).join(SEPARATOR)) wrongAnswers++;
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  assert.equal(cloud.requests.length, conversations.length);
  // What the cloud received for each conversation, as the strings of the request body.
  const received = new Map<number, string[]>();
  for (const r of cloud.requests) received.set(Number(/^conversation-(\d+)$/.exec(r.body.user)![1]), strings(r.body));
  assert.equal(received.size, conversations.length);
  const receivedFor = (messageIndex: number) => received.get(Math.floor(messageIndex / 2))!;

  // 1. transport: what the guard itself detects never leaves
  const guard = new DetectingGuard();
  let detected = 0;
  const transportLeaks: string[] = [];
  for (const [i, m] of corpus.entries()) {
    for (const f of guard.scan(m.text)) {
      detected++;
      const value = m.text.slice(f.start, f.end);
      if (appears(value, receivedFor(i))) transportLeaks.push(`${f.type} in ${m.locale}/${m.kind}`);
    }
  }
  assert.deepEqual(transportLeaks, [], 'detected values reached the cloud');

  // 2. labelled values, every type, streamed and not: not one may reach the cloud
  const leaks = new Map<EntityType, number>();
  const totals = new Map<EntityType, number>();
  const leaked: string[] = [];
  for (const [i, m] of corpus.entries()) {
    const streamed = Math.floor(i / 2) % 2 === 1;
    for (const e of m.entities) {
      totals.set(e.type, (totals.get(e.type) ?? 0) + 1);
      const value = m.text.slice(e.start, e.end);
      if (!appears(value, receivedFor(i))) continue;
      leaks.set(e.type, (leaks.get(e.type) ?? 0) + 1);
      const context = m.text.slice(Math.max(0, e.start - 30), e.start).replace(/\s+/g, ' ');
      leaked.push(`${e.type} in ${m.locale}/${m.kind}${streamed ? ' (streamed)' : ''}: …${context}[${value}]`);
    }
  }
  const labelled = [...totals.values()].reduce((a, b) => a + b, 0);
  const freeText = [...totals].filter(([t]) => !STRUCTURED.has(t)).reduce((a, [, n]) => a + n, 0);
  console.log(
    `leak test: ${corpus.length} messages, ${conversations.length} requests, ${labelled} labelled values ` +
      `(${freeText} names/places/orgs/dates), ${detected} detected; leaked ${leaked.length} ${JSON.stringify(Object.fromEntries(leaks))}`,
  );
  assert.deepEqual(leaked, [], 'labelled values reached the cloud');

  // 3. re-identification
  assert.equal(wrongAnswers, 0, 'answers that did not come back as the original text');
});
