import { SpanKind, SpanStatusCode, trace, context, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

/**
 * Sends spans to a monitor through the real OTLP http/protobuf exporter, as a service's SDK
 * would: one tracer provider per service and region.
 */
export class OtlpFeed {
  private readonly providers = new Map<string, BasicTracerProvider>();

  constructor(private readonly monitorUrl: string) {}

  tracer(service: string, region: string) {
    const key = `${service}/${region}`;
    let provider = this.providers.get(key);
    if (!provider) {
      provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ 'service.name': service, 'cloud.region': region, 'deployment.environment.name': 'test' }),
        spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${this.monitorUrl}/v1/traces` }))],
      });
      this.providers.set(key, provider);
    }
    return provider.getTracer('otlp-feed');
  }

  /**
   * One deposit's trace, ending now: transaction's POST (answered in 5 ms, before the saga
   * runs), the worker's step, its call to balance, balance's PUT and its SQL; `balanceMs` is
   * how long balance takes, `balanceStatus` what it answers.
   */
  deposit(region: string, balanceMs = 20, balanceStatus = 200): string {
    const end = Date.now();
    const start = end - balanceMs - 10;
    const at = (ms: number) => new Date(start + ms);
    const api = this.tracer('transaction', region).startSpan('POST /transactions', { kind: SpanKind.SERVER, startTime: at(0), attributes: { 'http.request.method': 'POST', 'http.route': '/transactions' } });
    api.setAttribute('http.response.status_code', 200);
    const apiContext = trace.setSpan(context.active(), api);
    const step = this.tracer('transaction-worker', region).startSpan('saga step debit', { kind: SpanKind.INTERNAL, startTime: at(5), attributes: { 'saga.step': 'debit' } }, apiContext);
    const stepContext = trace.setSpan(context.active(), step);
    const call = this.tracer('transaction-worker', region).startSpan('PUT', { kind: SpanKind.CLIENT, startTime: at(6), attributes: { 'server.address': '127.0.0.1', 'server.port': 3101 } }, stepContext);
    const callContext = trace.setSpan(context.active(), call);
    const served = this.tracer('balance', region).startSpan('PUT /accounts/:id/balance', { kind: SpanKind.SERVER, startTime: at(7), attributes: { 'http.route': '/accounts/:id/balance' } }, callContext);
    served.setAttribute('http.response.status_code', balanceStatus);
    if (balanceStatus >= 500) served.setStatus({ code: SpanStatusCode.ERROR });
    const sql = this.tracer('balance', region).startSpan('SELECT', { kind: SpanKind.CLIENT, startTime: at(8), attributes: { 'db.system.name': 'postgresql' } }, trace.setSpan(context.active(), served));
    const ends: Array<[Span, number]> = [[sql, 8 + Math.max(1, balanceMs - 2)], [served, 7 + balanceMs], [call, 8 + balanceMs], [step, 9 + balanceMs], [api, 5]];
    for (const [span, ms] of ends) span.end(at(ms));
    return api.spanContext().traceId;
  }

  async flush(): Promise<void> {
    await Promise.all([...this.providers.values()].map((provider) => provider.forceFlush()));
  }

  async close(): Promise<void> {
    await Promise.all([...this.providers.values()].map((provider) => provider.shutdown()));
  }
}
