import pino, { type Logger } from 'pino';

/**
 * JSON logs to stdout, written asynchronously so logging never blocks a request; pretty-printed
 * when stdout is a terminal (or `log.pretty` says so). Secrets are redacted by path as a second
 * line of defence: no code path should log them in the first place.
 */
export function createLogger(level: string, pretty?: boolean): Logger {
  const usePretty = pretty ?? Boolean(process.stdout.isTTY);
  const options: pino.LoggerOptions = {
    level,
    base: undefined,
    redact: ['req.headers.authorization', 'headers.authorization', 'apiKey', '*.apiKey'],
  };
  if (usePretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(options, pino.destination({ sync: false }));
}
