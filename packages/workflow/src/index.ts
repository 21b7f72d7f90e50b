export * from './failover-definition.ts';
