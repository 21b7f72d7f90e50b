import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';

/** One span as the monitor keeps it: flat, with its service and region from the resource. */
export interface MonitorSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: 'internal' | 'server' | 'client' | 'producer' | 'consumer' | 'unspecified';
  service: string;
  region: string;
  /** Epoch milliseconds (fractional). */
  startMs: number;
  durationMs: number;
  /** The span's status is ERROR, or it answered (server) or got (client) a 5xx. */
  error: boolean;
  httpStatus?: number;
  attributes: Record<string, string | number | boolean>;
}

const KINDS: MonitorSpan['kind'][] = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS_ERROR = 2;

const root = protobuf.parse(readFileSync(new URL('trace.proto', import.meta.url), 'utf8'), { keepCase: false }).root;
const ExportTraceServiceRequest = root.lookupType('opentelemetry.proto.ExportTraceServiceRequest');

interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
}
interface KeyValue {
  key: string;
  value?: AnyValue;
}
interface OtlpSpan {
  traceId?: string | Uint8Array;
  spanId?: string | Uint8Array;
  parentSpanId?: string | Uint8Array;
  name?: string;
  kind?: number | string;
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  attributes?: KeyValue[];
  status?: { code?: number | string };
}
interface OtlpTraces {
  resourceSpans?: Array<{ resource?: { attributes?: KeyValue[] }; scopeSpans?: Array<{ spans?: OtlpSpan[] }> }>;
}

export class OtlpDecodeError extends Error {}

/** Decodes an OTLP/HTTP trace export, `application/x-protobuf` or `application/json`. */
export function decodeTraces(body: Buffer | unknown, contentType: string): MonitorSpan[] {
  let request: OtlpTraces;
  if (contentType.startsWith('application/x-protobuf')) {
    if (!Buffer.isBuffer(body)) throw new OtlpDecodeError('expected a protobuf body');
    try {
      const message = ExportTraceServiceRequest.decode(body);
      request = ExportTraceServiceRequest.toObject(message, { longs: String, enums: Number, bytes: String }) as OtlpTraces;
    } catch (error) {
      throw new OtlpDecodeError(`malformed OTLP protobuf: ${(error as Error).message}`);
    }
    return spansOf(request, 'base64');
  }
  if (typeof body !== 'object' || body === null) throw new OtlpDecodeError('expected an OTLP JSON object');
  return spansOf(body as OtlpTraces, 'hex');
}

function idOf(value: string | Uint8Array | undefined, encoding: 'base64' | 'hex'): string {
  if (value === undefined || value === '') return '';
  if (typeof value !== 'string') return Buffer.from(value).toString('hex');
  return encoding === 'hex' ? value.toLowerCase() : Buffer.from(value, 'base64').toString('hex');
}

function valueOf(value: AnyValue | undefined): string | number | boolean | undefined {
  if (!value) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  return undefined;
}

function attributesOf(list: KeyValue[] | undefined): Record<string, string | number | boolean> {
  const attributes: Record<string, string | number | boolean> = {};
  for (const { key, value } of list ?? []) {
    const plain = valueOf(value);
    if (plain !== undefined) attributes[key] = plain;
  }
  return attributes;
}

const nanosToMs = (nanos: string | number | undefined) => (nanos === undefined ? 0 : Number(BigInt(nanos) / 1000n) / 1000);

function spansOf(request: OtlpTraces, idEncoding: 'base64' | 'hex'): MonitorSpan[] {
  const spans: MonitorSpan[] = [];
  for (const resourceSpans of request.resourceSpans ?? []) {
    const resource = attributesOf(resourceSpans.resource?.attributes);
    const service = String(resource['service.name'] ?? 'unknown_service');
    const region = String(resource['cloud.region'] ?? 'unknown');
    for (const scope of resourceSpans.scopeSpans ?? []) {
      for (const span of scope.spans ?? []) {
        const attributes = attributesOf(span.attributes);
        const kind = KINDS[typeof span.kind === 'number' ? span.kind : 0] ?? 'unspecified';
        const status = attributes['http.response.status_code'] ?? attributes['http.status_code'];
        const httpStatus = typeof status === 'number' ? status : undefined;
        const startMs = nanosToMs(span.startTimeUnixNano);
        const parentSpanId = idOf(span.parentSpanId, idEncoding);
        spans.push({
          traceId: idOf(span.traceId, idEncoding),
          spanId: idOf(span.spanId, idEncoding),
          ...(parentSpanId ? { parentSpanId } : {}),
          name: span.name ?? '',
          kind,
          service,
          region,
          startMs,
          durationMs: Math.max(0, nanosToMs(span.endTimeUnixNano) - startMs),
          error: Number(span.status?.code ?? 0) === STATUS_ERROR || (httpStatus !== undefined && httpStatus >= 500),
          ...(httpStatus !== undefined ? { httpStatus } : {}),
          attributes,
        });
      }
    }
  }
  return spans;
}
