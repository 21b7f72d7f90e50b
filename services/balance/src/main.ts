import { databaseUrlFor, envInt, envString, runService } from '@corebank/kit';
import { buildBalanceApp } from './app.ts';
import { migrateBalance } from './migrate.ts';

// `tsx src/main.ts migrate` is the seed's balance migration task; without it, the service.
const databaseUrl = databaseUrlFor('balance');

if (process.argv[2] === 'migrate') {
  const applied = await migrateBalance(databaseUrl);
  console.log(applied.length ? `balance: applied ${applied.join(', ')}` : 'balance: schema is up to date');
} else {
  const app = buildBalanceApp({ databaseUrl, serviceToken: envString('SERVICE_TOKEN') });
  await runService(app, { port: envInt('PORT', 3001), host: envString('HOST', '127.0.0.1') });
}
