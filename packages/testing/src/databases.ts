import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { ensureDatabase } from '@corebank/kit';

/** A fresh database on the run's PostgreSQL, for one test file. */
export async function freshDatabase(prefix: string): Promise<string> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const adminUrl = inject('postgresAdminUrl');
  await ensureDatabase(adminUrl, name);
  return adminUrl.replace(/\/postgres$/, `/${name}`);
}

/** A unique table-name prefix on the run's DynamoDB Local, for one test file. */
export function freshTablePrefix(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export const dynamodbEndpoint = () => inject('dynamodbEndpoint');
