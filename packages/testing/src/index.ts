export * from './databases.ts';
export * from './transaction-backends.ts';
export * from './fake-corebank.ts';
export * from './browser.ts';
