import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { instrumentAwsClient } from '@corebank/kit';

export const DEFAULT_DYNAMODB_REQUEST_TIMEOUT_MS = 5000;

export interface DynamoOptions {
  region: string;
  /** DynamoDB Local (or any other endpoint); unset on AWS. */
  endpoint?: string;
  /** Sockets per client; the worker runs many sagas at once. */
  maxSockets?: number;
  /** An attempt with no complete answer by then fails (and is retried): a silent DynamoDB must not hang a saga. */
  requestTimeoutMs?: number;
  env?: Record<string, string | undefined>;
}

export interface DynamoClients {
  client: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  destroy(): void;
}

/**
 * The low-level client (table admin) and the document client (items as plain objects).
 * With a configured endpoint and no credentials in the environment, DynamoDB Local's dummy
 * credentials are used, since the SDK refuses to sign without any.
 */
export function createDynamoClients(options: DynamoOptions): DynamoClients {
  const env = options.env ?? process.env;
  const maxSockets = options.maxSockets ?? 256;
  const localCredentials =
    options.endpoint && !env.AWS_ACCESS_KEY_ID && !env.AWS_PROFILE && !env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
      ? { accessKeyId: 'local', secretAccessKey: 'local' }
      : undefined;
  // The SDK is pinned at 3.1162.0, its last line for Node 20, on purpose; its upgrade
  // notice, printed when a client is built, would only be noise in every process.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new DynamoDBClient({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(localCredentials ? { credentials: localCredentials } : {}),
    maxAttempts: 3,
    requestHandler: {
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
      connectionTimeout: 2000,
      requestTimeout: options.requestTimeoutMs ?? DEFAULT_DYNAMODB_REQUEST_TIMEOUT_MS,
      // Without it the SDK only logs a warning when requestTimeout passes and keeps waiting.
      throwOnRequestTimeout: true,
    },
  });
  const doc = DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });
  // Every command timed into db_client_operation_duration_seconds, and traced when tracing is on.
  instrumentAwsClient(client);
  return { client, doc, destroy: () => client.destroy() };
}
