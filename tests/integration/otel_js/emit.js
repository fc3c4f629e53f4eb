'use strict';
// emit.js BASE_URL OUT_JSON - the OpenTelemetry JS SDK as a real client of
// a telltale server (tests/integration/otel_js.sh).
//
// Three services (frontend, checkout, inventory), each its own
// NodeTracerProvider with its own resource, make one trace per OTLP encoding:
// first exported with @opentelemetry/exporter-trace-otlp-http (JSON), then
// with @opentelemetry/exporter-trace-otlp-proto (protobuf). The trace context
// crosses service boundaries as a W3C traceparent header, injected and
// extracted by the SDK's propagator. Spans have every kind, attributes of
// every type (strings, ints up to 2^53 - 1, doubles, bools, arrays of each),
// events with attributes, a link, an error status with its message, and
// nanosecond start and end times.
//
// Also: log records through @opentelemetry/exporter-logs-otlp-http (one
// inside a span, so it carries trace and span ids) and metrics (a counter,
// a histogram, a gauge) through @opentelemetry/exporter-metrics-otlp-http.
//
// What the SDK handed to its exporters (every span as a ReadableSpan, every
// log record, the metric values) is written to OUT_JSON for the checker; the
// program exits non-zero when an export failed.

const fs = require('fs');
const api = require('@opentelemetry/api');
const { W3CTraceContextPropagator, ExportResultCode } = require('@opentelemetry/core');
const { resourceFromAttributes, defaultResource } = require('@opentelemetry/resources');
const { NodeTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-node');
const { OTLPTraceExporter: JsonTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { OTLPTraceExporter: ProtoTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { LoggerProvider, SimpleLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-http');
const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http');

const [base, outPath] = process.argv.slice(2);
if (!base || !outPath) {
    console.error('usage: node emit.js BASE_URL OUT_JSON');
    process.exit(2);
}

const propagator = new W3CTraceContextPropagator();
const failures = [];

// hr: an HrTime [seconds, nanoseconds] sec0 seconds plus ns nanoseconds.
function hr(sec0, ns) {
    return [sec0 + Math.floor(ns / 1e9), ns % 1e9];
}

function hrToNs(t) {
    return (BigInt(t[0]) * 1000000000n + BigInt(t[1])).toString();
}

// An exporter wrapper that records failed exports (the SDK only logs them).
function checked(exporter, what) {
    return {
        export(items, done) {
            exporter.export(items, (res) => {
                if (res.code !== ExportResultCode.SUCCESS)
                    failures.push(what + ': ' + (res.error ? res.error.message : 'failed'));
                done(res);
            });
        },
        shutdown: () => exporter.shutdown(),
        forceFlush: () => (exporter.forceFlush ? exporter.forceFlush() : Promise.resolve()),
    };
}

// Records every ended span as the SDK exports it.
class Recorder {
    constructor(spans, encoding) {
        this.spans = spans;
        this.encoding = encoding;
    }
    onStart() {}
    onEnd(s) {
        const ctx = s.spanContext();
        this.spans.push({
            encoding: this.encoding,
            trace_id: ctx.traceId,
            span_id: ctx.spanId,
            parent_id: s.parentSpanContext ? s.parentSpanContext.spanId : null,
            name: s.name,
            kind: s.kind,
            start_ns: hrToNs(s.startTime),
            end_ns: hrToNs(s.endTime),
            attributes: s.attributes,
            resource: s.resource.attributes,
            scope: { name: s.instrumentationScope.name, version: s.instrumentationScope.version },
            events: s.events.map((e) => ({ name: e.name, time_ns: hrToNs(e.time), attributes: e.attributes || {} })),
            links: s.links.map((l) => ({ trace_id: l.context.traceId, span_id: l.context.spanId })),
            status: { code: s.status.code, message: s.status.message || '' },
        });
    }
    forceFlush() {
        return Promise.resolve();
    }
    shutdown() {
        return Promise.resolve();
    }
}

function provider(service, host, encoding, spans) {
    const Exporter = encoding === 'json' ? JsonTraceExporter : ProtoTraceExporter;
    const exporter = new Exporter({ url: base + '/v1/traces', timeoutMillis: 10000 });
    const resource = defaultResource().merge(
        resourceFromAttributes({
            'service.name': service,
            'service.version': '1.4.2',
            'host.name': host,
            'deployment.environment': 'it-' + encoding,
        })
    );
    return new NodeTracerProvider({
        resource,
        spanProcessors: [new SimpleSpanProcessor(checked(exporter, encoding + ' traces')), new Recorder(spans, encoding)],
    });
}

// inject/extract: the traceparent header between two services.
function inject(span) {
    const headers = {};
    propagator.inject(api.trace.setSpan(api.ROOT_CONTEXT, span), headers, api.defaultTextMapSetter);
    return headers;
}

function extract(headers) {
    return propagator.extract(api.ROOT_CONTEXT, headers, api.defaultTextMapGetter);
}

// One trace across three services; times are explicit nanoseconds after t0.
async function oneTrace(encoding, t0, spans) {
    const fe = provider('frontend', 'web-1', encoding, spans);
    const co = provider('checkout', 'app-1', encoding, spans);
    const inv = provider('inventory', 'db-1', encoding, spans);
    const feT = fe.getTracer('frontend-http', '2.0.1');
    const coT = co.getTracer('checkout-core', '0.9.0');
    const invT = inv.getTracer('inventory-db');
    const K = api.SpanKind;
    const ctxOf = (span) => api.trace.setSpan(api.ROOT_CONTEXT, span);

    // frontend: SERVER root, then a CLIENT call to checkout
    const root = feT.startSpan(
        'GET /checkout',
        {
            kind: K.SERVER,
            startTime: hr(t0, 123456789),
            attributes: {
                'http.method': 'GET',
                'http.route': '/checkout',
                'http.status_code': 200,
                'user.id': 'u-4711',
                'retry.count': 0,
                'ratio': 0.25,
                'cache.hit': false,
                'big.int': Number.MAX_SAFE_INTEGER,
                'neg.int': -9007199254740991,
                'encoding': encoding,
            },
        },
        api.ROOT_CONTEXT
    );
    root.addEvent('request.received', { 'bytes': 512, 'client': 'curl/8.0' }, hr(t0, 123500001));
    const call = feT.startSpan(
        'POST /api/checkout',
        {
            kind: K.CLIENT,
            startTime: hr(t0, 130000007),
            attributes: { 'peer.service': 'checkout', 'http.method': 'POST', 'net.peer.port': 8443 },
        },
        ctxOf(root)
    );

    // checkout: SERVER span from the header, INTERNAL work, a PRODUCER
    const srvCtx = extract(inject(call));
    const srv = coT.startSpan(
        'POST /api/checkout',
        {
            kind: K.SERVER,
            startTime: hr(t0, 131000011),
            attributes: {
                'tags.list': ['red', 'green', 'blue'],
                'item.ids': [101, 202, 9007199254740991],
                'prices': [1.5, -0.25, 3.125],
                'flags': [true, false, true],
                'amount': 1999.75,
            },
        },
        srvCtx
    );
    const validate = coT.startSpan('validate cart', { kind: K.INTERNAL, startTime: hr(t0, 132000013) }, ctxOf(srv));
    validate.setAttribute('cart.items', 3);
    validate.setAttribute('cart.valid', true);
    validate.addEvent('rule.checked', { 'rule': 'max-items', 'limit': 50, 'passed': true, 'score': 0.75 }, hr(t0, 132500017));
    validate.addEvent('rule.checked', { 'rule': 'stock', 'limit': 1, 'passed': true, 'score': 1.5 }, hr(t0, 133000019));
    validate.end(hr(t0, 134000023));

    const publish = coT.startSpan(
        'orders publish',
        {
            kind: K.PRODUCER,
            startTime: hr(t0, 135000029),
            attributes: { 'messaging.system': 'kafka', 'messaging.destination.name': 'orders' },
        },
        ctxOf(srv)
    );
    const message = inject(publish);
    publish.end(hr(t0, 135900031));

    const reserveCall = coT.startSpan(
        'reserve stock',
        { kind: K.CLIENT, startTime: hr(t0, 136000037), attributes: { 'peer.service': 'inventory' } },
        ctxOf(srv)
    );

    // inventory: SERVER span that fails, a CONSUMER of the message with a link
    const invSrv = invT.startSpan(
        'reserve stock',
        { kind: K.SERVER, startTime: hr(t0, 137000041), attributes: { 'db.system': 'postgresql', 'db.rows': 0 } },
        extract(inject(reserveCall))
    );
    invSrv.addEvent('exception', {
        'exception.type': 'OutOfStock',
        'exception.message': 'sku 202 has 0 left',
    }, hr(t0, 139000043));
    invSrv.setStatus({ code: api.SpanStatusCode.ERROR, message: 'sku 202 has 0 left' });
    invSrv.end(hr(t0, 140000047));
    reserveCall.setStatus({ code: api.SpanStatusCode.ERROR, message: 'inventory answered 409' });
    reserveCall.end(hr(t0, 141000053));

    const consume = invT.startSpan(
        'orders process',
        {
            kind: K.CONSUMER,
            startTime: hr(t0, 150000059),
            attributes: { 'messaging.system': 'kafka', 'messaging.operation': 'process' },
            links: [{ context: api.trace.getSpanContext(extract(message)) }],
        },
        extract(message)
    );
    consume.end(hr(t0, 162345067));

    srv.setStatus({ code: api.SpanStatusCode.OK });
    srv.end(hr(t0, 170000071));
    call.end(hr(t0, 171000073));
    root.setStatus({ code: api.SpanStatusCode.OK });
    root.end(hr(t0, 180123457));

    for (const p of [fe, co, inv]) {
        await p.forceFlush();
        await p.shutdown();
    }
}

async function logsAndMetrics(out) {
    // logs: one inside a span (trace context from the active context)
    const resource = resourceFromAttributes({ 'service.name': 'checkout', 'host.name': 'app-1', 'region': 'eu-1' });
    const logs = new LoggerProvider({
        resource,
        processors: [new SimpleLogRecordProcessor({ exporter: checked(new OTLPLogExporter({ url: base + '/v1/logs' }), 'logs') })],
    });
    const logger = logs.getLogger('checkout-log', '3.0.0');
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736', spanId = '00f067aa0ba902b7';
    const sc = { traceId, spanId, traceFlags: api.TraceFlags.SAMPLED, isRemote: true };
    const t = Date.now() - 1000;
    out.logs = [
        {
            time_ms: t, severityNumber: 17, severityText: 'ERROR', body: 'payment declined for order 17',
            attributes: { 'order.id': 17, 'retryable': false, 'blob': new Uint8Array([1, 2, 3, 250]), 'user': { 'id': 7, 'tier': 'gold', 'tags': ['a', 'b'] } },
            // bytes arrive as base64 text, a map as its JSON (docs/design/otlp.md)
            expect_attrs: { 'order.id': 17, 'retryable': false, 'blob': 'AQID+g==', 'user': { 'json': { 'id': 7, 'tier': 'gold', 'tags': ['a', 'b'] } } },
            trace_id: traceId, span_id: spanId, severity: 'error',
        },
        { time_ms: t + 1, severityNumber: 9, severityText: 'INFO', body: 'order 18 accepted', attributes: { 'order.id': 18, 'amount': 12.5 }, severity: 'info' },
        { time_ms: t + 2, severityNumber: 13, severityText: 'WARN', body: { 'code': 'slow', 'ms': 950 }, attributes: {}, severity: 'warning' },
    ];
    for (const l of out.logs) {
        const ctx = l.trace_id ? api.trace.setSpanContext(api.ROOT_CONTEXT, sc) : api.ROOT_CONTEXT;
        logger.emit({
            timestamp: l.time_ms,
            severityNumber: l.severityNumber,
            severityText: l.severityText,
            body: l.body,
            attributes: l.attributes,
            context: ctx,
        });
    }
    await logs.forceFlush();
    await logs.shutdown();

    // metrics: cumulative counter, histogram and gauge, exported once
    const reader = new PeriodicExportingMetricReader({
        exporter: checked(new OTLPMetricExporter({ url: base + '/v1/metrics' }), 'metrics'),
        exportIntervalMillis: 3600000,
    });
    const meters = new MeterProvider({ resource, readers: [reader] });
    const meter = meters.getMeter('checkout-metrics');
    const orders = meter.createCounter('orders.placed', { description: 'orders placed' });
    orders.add(3, { 'payment.method': 'card' });
    orders.add(4, { 'payment.method': 'card' });
    orders.add(2, { 'payment.method': 'invoice' });
    const lat = meter.createHistogram('checkout.latency', {
        unit: 's',
        advice: { explicitBucketBoundaries: [0.1, 0.5, 1] },
    });
    for (const v of [0.05, 0.2, 0.3, 0.7, 2.5])
        lat.record(v, { 'route': '/checkout' });
    const depth = meter.createGauge('queue.depth');
    depth.record(42.5, { 'queue': 'orders' });
    out.metrics = {
        counter: { name: 'orders.placed', by: { card: 7, invoice: 2 } },
        histogram: { name: 'checkout.latency', bounds: [0.1, 0.5, 1], counts: [1, 2, 1, 1], sum: 3.75, count: 5 },
        gauge: { name: 'queue.depth', value: 42.5 },
    };
    await meters.forceFlush();
    await meters.shutdown();
}

async function main() {
    const spans = [];
    const out = { spans };
    // Round seconds a minute ago: the two traces 10 s apart.
    const t0 = Math.floor(Date.now() / 1000) - 60;
    await oneTrace('json', t0, spans);
    await oneTrace('proto', t0 + 10, spans);
    await logsAndMetrics(out);
    fs.writeFileSync(outPath, JSON.stringify(out, null, 1));
    if (failures.length > 0) {
        console.error('export failures:\n  ' + failures.join('\n  '));
        process.exit(1);
    }
    console.log('emit: %d spans in %d traces, %d log records, 3 metrics', spans.length,
        new Set(spans.map((s) => s.trace_id)).size, out.logs.length);
}

main().catch((e) => {
    console.error(e && e.stack ? e.stack : e);
    process.exit(1);
});
