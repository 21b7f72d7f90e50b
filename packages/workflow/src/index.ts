export * from './failover-definition.ts';
export * from './execution.ts';
export * from './initiator.ts';
