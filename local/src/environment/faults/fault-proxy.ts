/**
 * A TCP fault proxy: listens on a loopback port, forwards every connection to a target port,
 * and injects faults at run time. There is no netem (tc) on these machines, so the faults
 * are made at the byte-stream level, in the only ways a real network could show them to a
 * TCP endpoint — later, never altered or lost:
 *
 * - latency `ms`: every chunk is forwarded `ms` later (each direction, so a request and its
 *   answer cost 2 × ms more per round trip, as one-way delay on a link would).
 * - packet loss `percent`: TCP never lets a lost segment through as a gap; it retransmits it
 *   after a retransmission timeout (RTO, 200 ms: Linux's minimum) and holds every later byte
 *   behind it. So each chunk is, with probability `percent`, held for one RTO — and the
 *   retransmission may be lost too, each time doubling the timeout (exponential backoff) —
 *   and chunks behind it wait (head-of-line blocking). A new connection's handshake is lost
 *   the same way with Linux's initial timeout of 1 s (a SYN lost twice costs 3 s, the seed's
 *   client timeout), which is why a client that opens a connection per request sees errors,
 *   not only slowness. Limits: no congestion-window collapse, and a "chunk" is whatever one
 *   read returned, not an MSS-sized segment, so the model is gentler than real loss at high
 *   rates. At 100 % nothing gets through, as on a real link: bytes are held as in a blackhole
 *   and delivered once the loss drops below 100 %.
 * - blackhole: connections are accepted and never answered; bytes already received are
 *   held, not dropped, and delivered once the blackhole ends (as retransmission would).
 *
 * Each fault may clear itself after a duration. Everything listens and connects on
 * 127.0.0.1 only.
 */
import { createServer, connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export type ProxyFault = { kind: 'latency'; ms: number } | { kind: 'packet-loss'; percent: number } | { kind: 'blackhole' };
export type ProxyFaultKind = ProxyFault['kind'];

export interface ActiveProxyFault {
  fault: ProxyFault;
  since: number;
  /** When it clears itself; undefined: until cleared. */
  until?: number;
}

export interface FaultProxyOptions {
  targetPort: number;
  /** 0 (the default) takes a free port. */
  port?: number;
  retransmissionTimeoutMs?: number;
  /** A number in [0, 1): the loss draw (tests pass their own). */
  random?: () => number;
  /** Bytes held per connection while blackholed before it is reset (the peer's window would fill). */
  maxHeldBytes?: number;
}

export const DEFAULT_RTO_MS = 200;
/** Linux's initial retransmission timeout, which a lost SYN waits (TCP_TIMEOUT_INIT). */
export const HANDSHAKE_RTO_MS = 1000;
/** Retransmissions drawn at most per segment: a loss rate below 100 % ends in a bounded delay. */
const MAX_RETRANSMISSIONS = 6;

/**
 * How long a segment is held by loss: each transmission is lost with probability `percent`,
 * and each loss waits the timeout, doubled after every loss (RFC 6298 §5.5).
 */
export function retransmissionDelay(percent: number, firstTimeoutMs: number, random: () => number): number {
  let delay = 0;
  let timeout = firstTimeoutMs;
  for (let lost = 0; lost < MAX_RETRANSMISSIONS && random() * 100 < percent; lost++) {
    delay += timeout;
    timeout *= 2;
  }
  return delay;
}
const HOST = '127.0.0.1';

interface Direction {
  to: () => Socket | undefined;
  /** When the last chunk scheduled in this direction goes out: later chunks never overtake it. */
  releaseAt: number;
  /**
   * The delivery of the last chunk scheduled: each waits for it, because timers of different
   * durations that fall due in the same millisecond may fire in either order.
   */
  delivered: Promise<void>;
  held: Array<Buffer | 'end'>;
  heldBytes: number;
}

interface Connection {
  client: Socket;
  upstream?: Socket;
  up: Direction;
  down: Direction;
}

export async function createFaultProxy(options: FaultProxyOptions) {
  const rto = options.retransmissionTimeoutMs ?? DEFAULT_RTO_MS;
  const random = options.random ?? Math.random;
  const maxHeldBytes = options.maxHeldBytes ?? 4 * 1024 * 1024;
  const faults = new Map<ProxyFaultKind, ActiveProxyFault & { timer?: NodeJS.Timeout }>();
  const connections = new Set<Connection>();
  const total = () => {
    const loss = faults.get('packet-loss')?.fault;
    return loss?.kind === 'packet-loss' && loss.percent >= 100;
  };
  const blackholed = () => faults.has('blackhole') || total();

  function delayOfNextChunk(): number {
    const latency = faults.get('latency')?.fault;
    const loss = faults.get('packet-loss')?.fault;
    let delay = latency?.kind === 'latency' ? latency.ms : 0;
    if (loss?.kind === 'packet-loss') delay += retransmissionDelay(loss.percent, rto, random);
    return delay;
  }

  /** A lossy link delays the handshake: nothing the client sends goes through before it completes. */
  function handshakeDelay(): number {
    const loss = faults.get('packet-loss')?.fault;
    return loss?.kind === 'packet-loss' ? retransmissionDelay(loss.percent, Math.max(HANDSHAKE_RTO_MS, rto), random) : 0;
  }

  function send(direction: Direction, item: Buffer | 'end') {
    const now = Date.now();
    direction.releaseAt = Math.max(direction.releaseAt, now + (item === 'end' ? 0 : delayOfNextChunk()));
    const deliver = () => {
      const to = direction.to();
      if (!to || to.destroyed) return;
      if (item === 'end') to.end();
      else to.write(item);
    };
    const releaseAt = direction.releaseAt;
    direction.delivered = direction.delivered.then(async () => {
      const wait = releaseAt - Date.now();
      if (wait > 0) await sleep(wait);
      deliver();
    });
  }

  function forward(connection: Connection, direction: Direction, item: Buffer | 'end') {
    if (blackholed() || !connection.upstream) {
      direction.held.push(item);
      if (item !== 'end') direction.heldBytes += item.length;
      if (direction.heldBytes > maxHeldBytes) destroy(connection);
      return;
    }
    send(direction, item);
  }

  function destroy(connection: Connection) {
    connection.client.destroy();
    connection.upstream?.destroy();
    connections.delete(connection);
  }

  function openUpstream(connection: Connection) {
    const upstream = connect({ host: HOST, port: options.targetPort });
    connection.upstream = upstream;
    upstream.on('data', (chunk: Buffer) => forward(connection, connection.down, chunk));
    upstream.on('end', () => forward(connection, connection.down, 'end'));
    upstream.on('error', () => destroy(connection));
    // A clean close comes after 'end', which reaches the client behind any delayed bytes.
    upstream.on('close', (hadError) => hadError && destroy(connection));
  }

  /** After a blackhole: connect what was never connected and deliver what was held, in order. */
  function release() {
    for (const connection of connections) {
      if (!connection.upstream) openUpstream(connection);
      for (const direction of [connection.up, connection.down]) {
        const held = direction.held.splice(0);
        direction.heldBytes = 0;
        for (const item of held) send(direction, item);
      }
    }
  }

  const server = createServer({ allowHalfOpen: true }, (client) => {
    const connection: Connection = {
      client,
      up: { to: () => connection.upstream, releaseAt: 0, delivered: Promise.resolve(), held: [], heldBytes: 0 },
      down: { to: () => connection.client, releaseAt: 0, delivered: Promise.resolve(), held: [], heldBytes: 0 },
    };
    connections.add(connection);
    // Under total loss the connection waits in the blackhole instead, released when the loss drops.
    if (!blackholed()) connection.up.releaseAt = Date.now() + handshakeDelay();
    client.on('data', (chunk: Buffer) => forward(connection, connection.up, chunk));
    client.on('end', () => forward(connection, connection.up, 'end'));
    client.on('error', () => destroy(connection));
    client.on('close', () => destroy(connection));
    if (!blackholed()) openUpstream(connection);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, HOST, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  function clear(kind?: ProxyFaultKind) {
    const kinds = kind ? [kind] : [...faults.keys()];
    const wasBlackholed = blackholed();
    for (const each of kinds) {
      clearTimeout(faults.get(each)?.timer);
      faults.delete(each);
    }
    if (wasBlackholed && !blackholed()) release();
  }

  return {
    port,
    targetPort: options.targetPort,
    url: `http://${HOST}:${port}`,
    /** Adds a fault (replacing one of the same kind); it clears itself after `durationMs`, if given. */
    inject(fault: ProxyFault, durationMs?: number): ActiveProxyFault {
      validateProxyFault(fault);
      const wasBlackholed = blackholed();
      clearTimeout(faults.get(fault.kind)?.timer);
      const since = Date.now();
      const entry: ActiveProxyFault & { timer?: NodeJS.Timeout } = { fault, since, ...(durationMs === undefined ? {} : { until: since + durationMs }) };
      if (durationMs !== undefined) {
        entry.timer = setTimeout(() => faults.get(fault.kind) === entry && clear(fault.kind), durationMs);
        entry.timer.unref();
      }
      faults.set(fault.kind, entry);
      // 100 % loss replaced by a lower rate lets the held bytes through.
      if (wasBlackholed && !blackholed()) release();
      return { fault, since, ...(entry.until === undefined ? {} : { until: entry.until }) };
    },
    /** Clears one kind of fault, or all of them. */
    clear,
    active: (): ActiveProxyFault[] => [...faults.values()].map(({ fault, since, until }) => ({ fault, since, ...(until === undefined ? {} : { until }) })),
    connectionCount: () => connections.size,
    async close() {
      for (const entry of faults.values()) clearTimeout(entry.timer);
      faults.clear();
      for (const connection of connections) destroy(connection);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type FaultProxy = Awaited<ReturnType<typeof createFaultProxy>>;

export function validateProxyFault(fault: ProxyFault): void {
  if (fault.kind === 'latency' && !(Number.isInteger(fault.ms) && fault.ms >= 0 && fault.ms <= 60_000)) throw new RangeError(`latency must be a whole number of ms from 0 to 60000, not ${fault.ms}`);
  if (fault.kind === 'packet-loss' && !(Number.isFinite(fault.percent) && fault.percent >= 0 && fault.percent <= 100)) throw new RangeError(`packet loss must be a percentage from 0 to 100, not ${fault.percent}`);
}
