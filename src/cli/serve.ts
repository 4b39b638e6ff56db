import { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import { Gateway } from '../gateway/gateway.js';
import type { Logger } from 'pino';
import { createLogger } from '../logger.js';

/**
 * Once every backend can serve (a model download can take minutes on first start), says so with a
 * request to paste. Polls status(): cheap, and only until the first time everything is ready.
 */
function announceWhenReady(gateway: Gateway, address: string, logger: Logger, auth: boolean): void {
  const check = () => {
    if (!gateway.backends.every((b) => b.status().ready)) return;
    clearInterval(timer);
    const model = gateway.router.models()[0]?.id ?? 'local';
    const key = gateway.firstRunKey ? `$(cat ${gateway.firstRunKey.path})` : '$SLUICE_KEY';
    const authHeader = auth ? ` -H "Authorization: Bearer ${key}"` : '';
    logger.info(
      `ready. Try: curl ${address}/v1/chat/completions${authHeader} -H 'Content-Type: application/json' -d '{"model": "${model}", "messages": [{"role": "user", "content": "Say hello"}]}'`,
    );
  };
  const timer = setInterval(check, 500);
  timer.unref();
  check();
}

interface ServeOptions {
  config?: string;
  host?: string;
  port?: string;
  model?: string;
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('start the gateway (OpenAI-compatible API on http://127.0.0.1:8787/v1 by default)')
    .option('-c, --config <file>', 'config file (default: SLUICE_CONFIG or ./sluice.config.{json,yaml,yml})')
    .option('--host <host>', 'interface to listen on (default 127.0.0.1)')
    .option('-p, --port <port>', 'port to listen on (default 8787)')
    .option('-m, --model <source>', 'local model: a GGUF path, an https:// URL or hf:<user>/<repo>/<file> (like SLUICE_MODEL)')
    .action(async (opts: ServeOptions) => {
      let loaded;
      try {
        const port = opts.port === undefined ? undefined : Number(opts.port);
        if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw new ConfigError('--port', [`--port: must be a port number (got "${opts.port}")`]);
        loaded = loadConfig({ file: opts.config, overrides: { host: opts.host, port, model: opts.model } });
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        console.error(err.message);
        process.exit(1);
      }
      const { config, file, envApplied, warnings } = loaded;
      const logger = createLogger(config.log.level, config.log.pretty);
      logger.info({ config: file ?? 'defaults', env: envApplied.length ? envApplied : undefined }, 'starting sluice');
      for (const warning of warnings) logger.warn({ config: file ?? 'defaults' }, `config: ${warning}`);
      if (!config.auth.enabled) logger.warn('AUTH IS DISABLED (auth.enabled=false / SLUICE_AUTH=off): anyone who can reach this port can use it. For local development only.');

      let gateway: Gateway;
      try {
        gateway = await Gateway.create({ config, logger });
      } catch (err) {
        // A config that validates but cannot work with these backends (e.g. routing names an unknown model).
        if (!(err instanceof ConfigError)) throw err;
        console.error(err.message);
        process.exit(1);
      }
      if (gateway.firstRunKey) {
        logger.warn(
          { keyFile: gateway.firstRunKey.path },
          `first run: created API key "default": ${gateway.firstRunKey.key} (also saved, mode 0600, in ${gateway.firstRunKey.path}; move it somewhere safe and delete that file)`,
        );
      }

      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) {
          logger.warn(`${signal} again: exiting now`);
          process.exit(1);
        }
        stopping = true;
        logger.info(`${signal}: draining in-flight requests, then shutting down`);
        gateway.close().then(
          () => {
            logger.info('stopped');
            logger.flush();
            process.exit(0);
          },
          (err) => {
            logger.error({ err }, 'error during shutdown');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));

      try {
        const address = await gateway.listen();
        const models = gateway.router.models().map((m) => m.id);
        logger.info({ address, models }, `sluice listening on ${address}/v1`);
        announceWhenReady(gateway, address, logger, config.auth.enabled);
      } catch (err) {
        logger.fatal(`could not listen on ${config.server.host}:${config.server.port}: ${(err as Error).message}`);
        logger.flush();
        process.exit(1);
      }
    });
}
