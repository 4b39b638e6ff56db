import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildExport, chatTurns, dedupe, EXPORT_FORMATS, split, toFormat, validateLine, type TeacherExample } from '../../src/distill/dataset.js';

let seq = 0;
function ex(messages: TeacherExample['messages'], answer: string, createdAt = ++seq): TeacherExample {
  return { id: `c${String(createdAt).padStart(4, '0')}`, createdAt, task: 'chat', messages, answer };
}

const sys = { role: 'system', content: 'You are a bank assistant.' } as const;
const simple = ex([sys, { role: 'user', content: 'Where is my card?' }], 'Cards arrive in 3-5 working days.');
const multi = ex(
  [sys, { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello! How can I help?' }, { role: 'user', content: 'Freeze my card' }],
  'Your card is frozen.',
);
const bare = ex([{ role: 'user', content: 'Exchange rate for EUR?' }], '1 EUR = 0.86 GBP today.');

test('each format: lines validate against the format, and keep every turn in order', () => {
  for (const format of EXPORT_FORMATS) {
    for (const e of [simple, multi, bare]) {
      const line = JSON.stringify(toFormat(e, format));
      assert.deepEqual(validateLine(line, format), [], `${format}: ${line}`);
    }
  }
  assert.deepEqual(toFormat(multi, 'openai'), {
    messages: [...multi.messages, { role: 'assistant', content: 'Your card is frozen.' }],
  });
  assert.deepEqual(toFormat(multi, 'sharegpt'), {
    conversations: [
      { from: 'system', value: 'You are a bank assistant.' },
      { from: 'human', value: 'Hi' },
      { from: 'gpt', value: 'Hello! How can I help?' },
      { from: 'human', value: 'Freeze my card' },
      { from: 'gpt', value: 'Your card is frozen.' },
    ],
  });
  assert.deepEqual(toFormat(multi, 'alpaca'), {
    instruction: 'Freeze my card',
    input: '',
    output: 'Your card is frozen.',
    system: 'You are a bank assistant.',
    history: [['Hi', 'Hello! How can I help?']],
  });
  assert.deepEqual(toFormat(bare, 'alpaca'), { instruction: 'Exchange rate for EUR?', input: '', output: '1 EUR = 0.86 GBP today.' });
});

test('validators reject lines a trainer would reject', () => {
  assert.notDeepEqual(validateLine('{"messages":[{"role":"user","content":"hi"}]}', 'openai'), []);
  assert.notDeepEqual(validateLine('{"messages":[{"role":"user","content":"hi"},{"role":"user","content":"x"}]}', 'openai'), [], 'must end with the assistant');
  assert.notDeepEqual(validateLine('{"conversations":[{"from":"user","value":"hi"},{"from":"gpt","value":"x"}]}', 'sharegpt'), [], '"user" is not a ShareGPT role');
  assert.notDeepEqual(validateLine('{"instruction":"","input":"","output":"x"}', 'alpaca'), []);
  assert.deepEqual(validateLine('not json', 'alpaca'), ['not JSON']);
});

test('dedupe keeps one example per conversation (whitespace aside), the newest answer, and drops empty answers', () => {
  const a1 = ex([{ role: 'user', content: 'Where is  my card?' }], 'old answer', 10);
  const a2 = ex([{ role: 'user', content: 'Where is my card? ' }], 'new answer', 20);
  const other = ex([{ role: 'user', content: 'Where is my PIN?' }], 'pin answer', 15);
  const empty = ex([{ role: 'user', content: 'Anything' }], '   ', 16);
  const noUser = ex([sys], 'answer without a question', 17);
  const out = dedupe([a2, other, a1, empty, noUser]);
  assert.deepEqual(out.map((e) => e.answer), ['pin answer', 'new answer']);
});

test('split: deterministic, stable as data grows, and close to the share asked', () => {
  const many = Array.from({ length: 2000 }, (_, i) => ex([{ role: 'user', content: `question number ${i}` }], `answer ${i}`, 1000 + i));
  const a = split(many, 0.1, 7);
  const b = split([...many].reverse(), 0.1, 7);
  assert.deepEqual(new Set(a.validation.map((e) => e.id)), new Set(b.validation.map((e) => e.id)));
  assert.ok(Math.abs(a.validation.length / many.length - 0.1) < 0.03, `validation share ${a.validation.length / many.length}`);
  const grown = split([...many, ...Array.from({ length: 500 }, (_, i) => ex([{ role: 'user', content: `later ${i}` }], 'x', 5000 + i))], 0.1, 7);
  const grownVal = new Set(grown.validation.map((e) => e.id));
  for (const e of a.validation) assert.ok(grownVal.has(e.id), 'an example stays on its side when the data grows');
  assert.equal(split(many, 0, 7).validation.length, 0);
  assert.throws(() => split(many, 1), /validation share/);
});

test('buildExport sanitises every string before dedupe and formatting', () => {
  const leaky = ex([{ role: 'user', content: 'My email is jane@example.com, where is my card?' }], 'We wrote to jane@example.com.');
  const mask = (s: string) => s.replace(/[\w.]+@[\w.]+/g, '<EMAIL_ADDRESS>');
  const r = buildExport([leaky, simple, simple], { format: 'openai', validationShare: 0, sanitize: mask });
  assert.equal(r.read, 3);
  assert.equal(r.dropped, 1);
  assert.equal(r.train.length, 2);
  assert.ok(r.train.every((l) => !l.includes('jane@example.com')));
  assert.ok(r.train.some((l) => l.includes('<EMAIL_ADDRESS>')));
});

test('chatTurns reads OpenAI request messages: content parts, developer as system, tools left out', () => {
  assert.deepEqual(
    chatTurns([
      { role: 'developer', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'Look at' }, { type: 'image_url', image_url: { url: 'x' } }, { type: 'text', text: 'this' }] },
      { role: 'assistant', content: null, tool_calls: [{}] },
      { role: 'tool', content: 'result' },
    ]),
    [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Look at\nthis' },
    ],
  );
  assert.deepEqual(chatTurns('nope'), []);
});
