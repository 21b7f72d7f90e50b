/**
 * The one config loader: every service reads its settings through these helpers, so a
 * missing or malformed variable fails at start-up, by name, instead of deep in a request.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

export function envString(name: string, fallback?: string, env: Env = process.env): string {
  const value = env[name];
  if (value !== undefined && value !== '') return value;
  if (fallback !== undefined) return fallback;
  throw new ConfigError(`missing required environment variable ${name}`);
}

export function envOptional(name: string, env: Env = process.env): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

export function envInt(name: string, fallback?: number, env: Env = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`missing required environment variable ${name}`);
  }
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) {
    throw new ConfigError(`environment variable ${name} must be an integer, got "${raw}"`);
  }
  return value;
}

export function envBool(name: string, fallback: boolean, env: Env = process.env): boolean {
  return envOneOf(name, ['true', 'false'], fallback ? 'true' : 'false', env) === 'true';
}

export function envOneOf<T extends string>(name: string, allowed: readonly T[], fallback: T, env: Env = process.env): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`environment variable ${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** How much a service logs: LOG_LEVEL (info unless told) and LOG_REQUESTS (a line per request). */
export function logSettings(env: Env = process.env): { level: (typeof LOG_LEVELS)[number]; requests: boolean } {
  return { level: envOneOf('LOG_LEVEL', LOG_LEVELS, 'info', env), requests: envBool('LOG_REQUESTS', false, env) };
}

/** Where a service listens: PORT (its own default) and HOST (loopback unless told). */
export interface ListenSettings {
  port: number;
  host: string;
}

export function listenSettings(defaultPort: number, env: Env = process.env): ListenSettings {
  return { port: envInt('PORT', defaultPort, env), host: envString('HOST', '127.0.0.1', env) };
}

/**
 * The PostgreSQL URL of one service's database: `<SERVICE>_DATABASE_URL` if set, else
 * `DATABASE_URL` (a server, as on Aurora) with the database name set to the service's.
 */
export function databaseUrlFor(service: 'balance' | 'count', env: Env = process.env): string {
  const own = envOptional(`${service.toUpperCase()}_DATABASE_URL`, env);
  if (own) return own;
  const server = envOptional('DATABASE_URL', env);
  if (!server) throw new ConfigError(`missing environment variable ${service.toUpperCase()}_DATABASE_URL or DATABASE_URL`);
  const url = new URL(server);
  url.pathname = `/${service}`;
  return url.toString();
}

/** PostgreSQL pool timeouts (ms): PG_CONNECTION_TIMEOUT_MS, PG_STATEMENT_TIMEOUT_MS, PG_QUERY_TIMEOUT_MS, PG_IDLE_TIMEOUT_MS. */
export function postgresPoolTimeouts(env: Env = process.env): {
  connectionTimeoutMs?: number;
  statementTimeoutMs?: number;
  queryTimeoutMs?: number;
  idleTimeoutMs?: number;
} {
  const read = (name: string) => {
    if (envOptional(name, env) === undefined) return undefined;
    const value = envInt(name, undefined, env);
    if (value <= 0) throw new ConfigError(`environment variable ${name} must be positive, got ${value}`);
    return value;
  };
  const settings = {
    connectionTimeoutMs: read('PG_CONNECTION_TIMEOUT_MS'),
    statementTimeoutMs: read('PG_STATEMENT_TIMEOUT_MS'),
    queryTimeoutMs: read('PG_QUERY_TIMEOUT_MS'),
    idleTimeoutMs: read('PG_IDLE_TIMEOUT_MS'),
  };
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined));
}

/**
 * The URL of a service's database on a server of the user's (DATABASE_URL or
 * `<SERVICE>_DATABASE_URL` set), or undefined when the local system's embedded one serves it.
 */
export function externalDatabaseUrl(service: 'balance' | 'count', env: Env = process.env): string | undefined {
  return envOptional(`${service.toUpperCase()}_DATABASE_URL`, env) || envOptional('DATABASE_URL', env) ? databaseUrlFor(service, env) : undefined;
}

/**
 * Runs an entry point. A configuration error is reported in one line, by name, with exit
 * code 2, instead of a stack trace; anything else is left to fail loudly.
 */
export async function runEntryPoint(name: string, start: () => Promise<void>): Promise<void> {
  try {
    await start();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`${name}: ${error.message}`);
    process.exit(2);
  }
}

const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/**
 * A duration as people write it for a setting or an option (`500ms`, `10s`, `5m`, `1h`; a bare
 * number is seconds) in milliseconds, or undefined when the text is not one.
 */
export function durationMs(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * DURATION_UNITS_MS[(match[2] ?? 's') as keyof typeof DURATION_UNITS_MS];
}
