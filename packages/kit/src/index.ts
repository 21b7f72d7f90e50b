export * from './config.ts';
export * from './errors.ts';
export * from './account.ts';
export * from './schemas.ts';
export * from './http.ts';
export * from './service-token.ts';
export * from './client.ts';
export * from './postgres.ts';
