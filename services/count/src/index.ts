export { buildCountApp, type CountAppOptions } from './app.ts';
export { migrateCount } from './migrate.ts';
export { createWithdrawalCounter, type WithdrawalCounter } from './counter.ts';
