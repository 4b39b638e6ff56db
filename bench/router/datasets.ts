/**
 * The shared outcome tables the router is trained and measured on (../shared/data, read in place),
 * each with the weak/strong pair its figures are reported for.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { mergeTables, type OutcomeTable, readOutcomes } from '../../src/router/data.js';

export const DATA_DIR = process.env.SLUICE_SHARED_DATA ?? fileURLToPath(new URL('../../../shared/data', import.meta.url));

export interface Dataset {
  name: string;
  table: OutcomeTable;
  weak?: string;
  strong?: string;
}

export function sharedDatasets(): Dataset[] {
  if (!existsSync(DATA_DIR)) throw new Error(`shared data not found at ${DATA_DIR} (set SLUICE_SHARED_DATA)`);
  const wino = winogrande();
  return [
    { name: 'gsm8k', table: readOutcomes(`${DATA_DIR}/routellm-gsm8k/gsm8k_responses.csv`), weak: 'mistralai/Mixtral-8x7B-Instruct-v0.1', strong: 'gpt-4-1106-preview' },
    { name: 'mt-bench', table: readOutcomes(`${DATA_DIR}/routellm-mtbench`), weak: 'mistralai/Mixtral-8x7B-Instruct-v0.1', strong: 'gpt-4-1106-preview' },
    { name: 'winogrande', table: mergeTables([wino.train, wino.test]), weak: 'mistralai/mixtral-8x7b-chat', strong: 'gpt-4-1106-preview' },
    // No GPT-4-class model here: the pair is the weakest and the strongest of its seven 7B models.
    { name: 'routerdc', table: readOutcomes(`${DATA_DIR}/routerdc/split2_model7`) },
  ];
}

export function winogrande(): { train: OutcomeTable; test: OutcomeTable } {
  return { train: readOutcomes(`${DATA_DIR}/routerbench-winogrande/train.csv`), test: readOutcomes(`${DATA_DIR}/routerbench-winogrande/test.csv`) };
}
