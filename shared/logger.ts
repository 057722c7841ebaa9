import type { LoggerOptions } from 'pino';

/** pino options shared by both apps: JSON lines, secrets redacted. */
export function loggerOptions(service: string, level: string): LoggerOptions {
  return {
    level,
    base: { service },
    redact: { paths: ['req.headers.authorization', '*.password', '*.DATABASE_URL'], censor: '[redacted]' },
  };
}

/** The logging surface shared code needs; satisfied by pino and by Fastify's logger. */
export interface Log {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
