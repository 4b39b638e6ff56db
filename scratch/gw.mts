import pino from 'pino';
import { configSchema } from '../src/config/schema.ts';
import { Gateway } from '../src/gateway/gateway.ts';
import { hashKey } from '../src/keys/store.ts';
const config = configSchema.parse({ dataDir: '/tmp/qb/data', server: { port: 9102 }, log: { level: 'warn' }, auth: { keys: [{ name: 'b', hash: hashKey('k') }] }, backends: [{ kind: 'openai-compatible', name: 'mock', baseUrl: 'http://127.0.0.1:9101/v1', models: ['gpt-4o-mini'], retry: { attempts: 0 } }] });
const gw = await Gateway.create({ config, logger: pino({ level: 'warn' }) });
console.log(await gw.listen());
process.on('SIGINT', () => process.exit(0));
