import type { DynamoSettings } from '../config.ts';
import { createStopFlagCache } from '../stop-flag.ts';
import { createDynamoClients, type DynamoClients } from './dynamo.ts';
import { createSagaStore, type SagaStoreOptions } from './saga-store.ts';
import { getStopFlag } from './tables.ts';

export interface RegionStoresOptions extends DynamoSettings {
  stopFlagTtlMs: number;
  /** Share clients with the caller (they are then not destroyed on close). */
  dynamo?: DynamoClients;
  onCorruptItem?: SagaStoreOptions['onCorruptItem'];
}

/**
 * What the API and the worker both keep in DynamoDB: the saga store, and the region's
 * stopFlag behind its cache. `close()` destroys the clients unless the caller shared them.
 */
export function openRegionStores(options: RegionStoresOptions) {
  const dynamo = options.dynamo ?? createDynamoClients({ region: options.region, ...(options.endpoint ? { endpoint: options.endpoint } : {}) });
  return {
    store: createSagaStore({ doc: dynamo.doc, mainTable: options.mainTable, ...(options.onCorruptItem ? { onCorruptItem: options.onCorruptItem } : {}) }),
    stopFlag: createStopFlagCache({
      read: () => getStopFlag(dynamo.doc, options.paramTable),
      ttlMs: options.stopFlagTtlMs,
    }),
    close: () => {
      if (!options.dynamo) dynamo.destroy();
    },
  };
}
