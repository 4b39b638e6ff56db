/** Every outcome-table format, from small files written here (and the shared copies when present). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataError, detectFormat, mergeTables, parsePythonStringList, readOutcomes, readPrompts, resolvePair } from '../../src/router/data.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-router-data-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

test('RouteLLM CSV: True/False columns are the models; --weak/--strong pick the pair', () => {
  const p = file(
    'gsm.csv',
    'prompt,weak-model,strong-model,weak-model_response\n' + '"What is 2+2?",True,True,"4"\n' + '"A ""hard"" one, with a comma",False,True,"no"\n' + 'Third,False,False,x\n',
  );
  assert.equal(detectFormat(p), 'routellm');
  const t = readOutcomes(p);
  assert.deepEqual(t.models, ['weak-model', 'strong-model']);
  assert.equal(t.items.length, 3);
  assert.equal(t.items[1]!.prompt, 'A "hard" one, with a comma');
  assert.deepEqual([...t.items[1]!.scores], [0, 1]);
  assert.deepEqual(resolvePair(t), { weak: 0, strong: 1 }); // by mean score
  assert.deepEqual(resolvePair(t, 'strong-model', 'weak-model'), { weak: 1, strong: 0 }); // as named
  assert.throws(() => resolvePair(t, 'nope'), DataError);
});

test('RouterDC JSON: {question, scores}; multiple-choice probabilities count as correct when > 0', () => {
  const maths = file('maths.json', JSON.stringify([{ question: 'q1', scores: { a: 0.3, b: 1 } }, { question: 'q2', scores: { a: 0, b: 0.7 } }]));
  const mc = file('mc.json', JSON.stringify([{ question: 'q3', scores: { a: 0.5576, b: 0 } }]));
  assert.equal(detectFormat(maths), 'routerdc');
  const t = readOutcomes(maths);
  assert.deepEqual(t.models, ['a', 'b']);
  assert.deepEqual([...t.items[0]!.scores], [0.3, 1]); // fraction of 10 samples: kept
  assert.deepEqual([...readOutcomes(mc).items[0]!.scores], [1, 0]); // off the 0.1 grid: multiple choice
  // A directory of them: one group per file.
  const sub = join(dir, 'dc');
  mkdirSync(sub);
  writeFileSync(join(sub, 'x.json'), JSON.stringify([{ question: 'q', scores: { a: 1, b: 0 } }]));
  writeFileSync(join(sub, 'y.json'), JSON.stringify([{ question: 'r', scores: { b: 1, c: 0.5 } }]));
  const both = readOutcomes(sub);
  assert.deepEqual(both.models, ['a', 'b', 'c']);
  assert.deepEqual(both.items.map((i) => i.group), ['x', 'y']);
  assert.ok(Number.isNaN(both.items[1]!.scores[0]!)); // model a did not answer r
  assert.throws(() => readOutcomes(file('bad.json', '{"question": "q"}')), /JSON list/);
});

test('MT-Bench: question.jsonl + judgements.jsonl; quality is the mean judge score over turns', () => {
  const sub = join(dir, 'mt');
  mkdirSync(sub);
  writeFileSync(join(sub, 'question.jsonl'), [{ question_id: 1, category: 'writing', turns: ['Write a poem.', 'Shorter.'] }, { question_id: 2, category: 'math', turns: ['2+2?', 'Why?'] }].map((q) => JSON.stringify(q)).join('\n') + '\n');
  const j = (question_id: number, model: string, turn: number, score: number) => JSON.stringify({ question_id, model, turn, score, judge: ['gpt-4', 'single-v1'] });
  writeFileSync(join(sub, 'judgements.jsonl'), [j(1, 'weak', 1, 8), j(1, 'weak', 2, 6), j(1, 'strong', 1, 10), j(1, 'strong', 2, 9), j(2, 'weak', 1, 2), j(2, 'weak', 2, -1), j(2, 'strong', 1, 10), j(2, 'strong', 2, 10)].join('\n'));
  for (const p of [sub, join(sub, 'question.jsonl'), join(sub, 'judgements.jsonl')]) assert.equal(detectFormat(p), 'mtbench');
  const t = readOutcomes(sub);
  assert.deepEqual(t.models, ['weak', 'strong']);
  assert.deepEqual(t.scale, [1, 10]);
  assert.equal(t.items[0]!.prompt, 'Write a poem.'); // routed on the first turn, as RouteLLM does
  assert.deepEqual([...t.items[0]!.scores], [7, 9.5]);
  assert.deepEqual([...t.items[1]!.scores], [2, 10]); // a failed judgement (-1) is left out
  assert.equal(t.items[1]!.group, 'math');
});

test('RouterBench CSV: Python-list prompts, per-model score and total_cost columns', () => {
  const header = ',sample_id,prompt,eval_name,m1,m2,m1|model_response,m2|model_response,m1|total_cost,m2|total_cost,oracle_model_to_route_to';
  const prompt = `"['Question one\\nA) x\\nB) y', ""it's two""]"`;
  const p = file('rb.csv', `${header}\n0,s.1,${prompt},winogrande,1.0,0.0,A,B,0.0001,0.002,m1\n1,s.2,"['second']",winogrande,,1.0,,A,0.0001,0.002,m2\n`);
  assert.equal(detectFormat(p), 'routerbench');
  const t = readOutcomes(p);
  assert.deepEqual(t.models, ['m1', 'm2']);
  assert.equal(t.items[0]!.prompt, "Question one\nA) x\nB) y\nit's two");
  assert.deepEqual([...t.items[0]!.costs!], [0.0001, 0.002]);
  assert.ok(Number.isNaN(t.items[1]!.scores[0]!)); // blank: missing, not wrong
  assert.equal(t.items[0]!.group, 'winogrande');
});

test('Python list literals as repr() writes them', () => {
  assert.deepEqual(parsePythonStringList(`['a\\'b', "c\\"d", 'e\\\\f', 'tab\\there', '\\x41\\u00e9']`), ["a'b", 'c"d', 'e\\f', 'tab\there', 'Aé']);
  assert.deepEqual(parsePythonStringList('[]'), []);
  assert.deepEqual(parsePythonStringList('plain text'), ['plain text']);
  assert.throws(() => parsePythonStringList("['open"), /unterminated/);
});

test('plain JSONL: {prompt, scores, costs?}, chat prompts, any score scale', () => {
  const p = file(
    'o.jsonl',
    [
      { prompt: 'hello', scores: { local: 3, cloud: 9 }, costs: { local: 0, cloud: 0.01 } },
      { prompt: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }, { role: 'user', content: 'more' }], scores: { local: 7, cloud: 8 } },
    ].map((r) => JSON.stringify(r)).join('\n'),
  );
  assert.equal(detectFormat(p), 'jsonl');
  const t = readOutcomes(p);
  assert.deepEqual(t.scale, [3, 9]);
  assert.equal(t.items[1]!.prompt, 'hi\nmore');
  assert.equal(t.items[1]!.turns, 2);
  assert.deepEqual([...t.items[0]!.costs!], [0, 0.01]);
  assert.ok(Number.isNaN(t.items[1]!.costs![1]!));
  assert.throws(() => readOutcomes(file('bad.jsonl', '{"prompt": "x"}\n')), /scores/);
  assert.throws(() => readOutcomes(file('worse.jsonl', 'not json\n')), /worse.jsonl:1: not JSON/);
});

test('prompts without outcomes for calibration: text lines, {prompt} JSONL, or any table', () => {
  assert.deepEqual(readPrompts(file('p.txt', 'one\n\ntwo\n')).map((p) => p.prompt), ['one', 'two']);
  assert.deepEqual(readPrompts(file('p.jsonl', '{"prompt":"a"}\n{"messages":[{"role":"user","content":"b"}]}\n')).map((p) => p.prompt), ['a', 'b']);
  assert.equal(readPrompts(join(dir, 'gsm.csv')).length, 3);
});

test('tables of the same models merge; different models refuse', () => {
  const a = readOutcomes(join(dir, 'gsm.csv'));
  assert.equal(mergeTables([a, a]).items.length, 6);
  assert.throws(() => mergeTables([a, readOutcomes(join(dir, 'maths.json'))]), /different models/);
});

const SHARED = new URL('../../../shared/data/', import.meta.url).pathname;
test('the shared copies read as documented', { skip: !existsSync(SHARED) && 'no ../shared/data' }, () => {
  const gsm = readOutcomes(join(SHARED, 'routellm-gsm8k/gsm8k_responses.csv'));
  assert.equal(gsm.items.length, 1319);
  assert.deepEqual(gsm.models, ['mistralai/Mixtral-8x7B-Instruct-v0.1', 'gpt-4-1106-preview']);
  const mt = readOutcomes(join(SHARED, 'routellm-mtbench'));
  assert.equal(mt.items.length, 80);
  const wino = readOutcomes(join(SHARED, 'routerbench-winogrande/train.csv'));
  assert.equal(wino.items.length, 887);
  assert.equal(wino.models.length, 11);
  assert.ok(wino.items[0]!.prompt.startsWith('Please answer with the letter'));
  assert.ok(wino.items.every((it) => it.costs!.every((c) => c > 0)));
});
