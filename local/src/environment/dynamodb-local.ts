import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { waitFor } from '@corebank/kit';

export interface DynamoDbLocalHandle {
  endpoint: string;
  /** The JVM's process id (tests check that it is gone after a stop). */
  pid: number | undefined;
  stop(): Promise<void>;
}

/** The DynamoDB Local jar shipped inside the amplify-dynamodb-simulator package. */
export function dynamoDbLocalDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('amplify-dynamodb-simulator/package.json')), 'emulator');
}

class StartFailed extends Error {}

export class JavaMissingError extends Error {
  override name = 'JavaMissingError';
  constructor() {
    super('java was not found on PATH: DynamoDB Local needs Java 17 (Debian: apt-get install -y openjdk-17-jre-headless), or set DYNAMODB_ENDPOINT to a running DynamoDB');
  }
}

/**
 * Runs AWS's DynamoDB Local with the machine's Java. `-sharedDb` makes every region name
 * see the same tables, which is how the global main table is modelled locally; each
 * region's param table has its own name.
 */
export async function startDynamoDbLocal(options: { port: number; dataDir?: string; log?: (line: string) => void; signal?: AbortSignal }): Promise<DynamoDbLocalHandle> {
  if (spawnSync('java', ['-version']).error) throw new JavaMissingError();
  const dir = dynamoDbLocalDir();
  const storage = options.dataDir ? (mkdirSync(options.dataDir, { recursive: true }), ['-dbPath', options.dataDir]) : ['-inMemory'];
  const child: ChildProcess = spawn(
    'java',
    // C1-only JIT and the serial collector: full speed within seconds instead of after a
    // minute of C2 compiling, and no GC threads fighting the services for a laptop's cores.
    ['-Xmx1g', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`, '-jar', join(dir, 'DynamoDBLocal.jar'), '-port', String(options.port), '-sharedDb', '-disableTelemetry', ...storage],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const log = options.log ?? (() => {});
  // A JVM whose port is taken logs the BindException and lives on: that is a failed start.
  let portTaken = false;
  const onOutput = (chunk: Buffer) => {
    const text = chunk.toString();
    log(text);
    if (text.includes('Address already in use')) portTaken = true;
  };
  child.stdout?.on('data', onOutput);
  child.stderr?.on('data', onOutput);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = `http://127.0.0.1:${options.port}`;
  let exitCode: number | null = null;
  child.once('exit', (code) => (exitCode = code ?? -1));
  const stop = async () => {
    if (exitCode !== null) return;
    child.kill('SIGTERM');
    const late = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(late);
  };
  try {
    await waitFor(`DynamoDB Local on ${endpoint}`, async () => {
      if (exitCode !== null) throw new StartFailed(`DynamoDB Local exited with ${exitCode}`);
      if (portTaken) throw new StartFailed(`DynamoDB Local could not listen on port ${options.port}: it is in use`);
      const response = await fetch(endpoint, {
        signal: AbortSignal.timeout(2000),
        method: 'POST',
        headers: {
          'x-amz-target': 'DynamoDB_20120810.ListTables',
          'content-type': 'application/x-amz-json-1.0',
          authorization: 'AWS4-HMAC-SHA256 Credential=local/20200101/ap-northeast-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
        },
        body: '{}',
      });
      if (!response.ok) throw new Error(`status ${response.status}`);
    }, 30_000, 100, options.signal, (error) => error instanceof StartFailed);
  } catch (error) {
    // A JVM that never answered (or was given up on) must not outlive the attempt.
    await stop();
    throw error;
  }
  return { endpoint, pid: child.pid, stop };
}
