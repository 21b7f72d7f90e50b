export * from './saga/machine.ts';
export * from './saga/period.ts';
export * from './store/tables.ts';
export * from './store/dynamo.ts';
export * from './store/saga-store.ts';
export * from './stop-flag.ts';
export * from './config.ts';
export * from './api.ts';
