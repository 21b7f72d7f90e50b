export { buildBalanceApp, type BalanceAppOptions } from './app.ts';
export { migrateBalance } from './migrate.ts';
export { createBalanceLedger, type BalanceLedger } from './ledger.ts';
export { withdrawalDebit, WITHDRAWAL_FEE } from './fee.ts';
