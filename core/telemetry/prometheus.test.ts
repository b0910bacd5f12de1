import { describe, expect, it } from 'vitest';
import { escapeHelp, escapeLabelValue, formatValue, instanceCounts, PROMETHEUS_CONTENT_TYPE, renderPrometheus } from './prometheus.js';

const edge = (from: string, to: string, rps: number, p: [number, number, number] | null = [1.5, 8, 20.25]) => ({
  from,
  to,
  rps,
  errorRate: 0.125,
  p50: p ? p[0] : null,
  p95: p ? p[1] : null,
  p99: p ? p[2] : null,
});

/** The sample lines of one family, without HELP/TYPE. */
function samples(text: string, family: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${family}{`));
}

describe('renderPrometheus', () => {
  it('renders every family with HELP and TYPE, grouped and sorted, ending with a newline', () => {
    const text = renderPrometheus(
      [
        { mesh: 'prod', edges: [edge('web', 'api', 12.5), edge('external', 'web', 3, null)], services: instanceCounts([
          { service: 'api', state: 'healthy' },
          { service: 'api', state: 'healthy' },
          { service: 'api', state: 'down' },
        ]) },
        { mesh: 'dev', edges: [edge('a', 'b', 0)] },
      ],
      { spanSeconds: 10 },
    );
    expect(text.endsWith('\n')).toBe(true);
    expect(text).toBe(
      [
        '# HELP meshdeck_edge_requests_per_second Requests per second from caller to callee over the last 10 s, as the console sees them.',
        '# TYPE meshdeck_edge_requests_per_second gauge',
        'meshdeck_edge_requests_per_second{mesh="dev",from="a",to="b"} 0',
        'meshdeck_edge_requests_per_second{mesh="prod",from="external",to="web"} 3',
        'meshdeck_edge_requests_per_second{mesh="prod",from="web",to="api"} 12.5',
        '# HELP meshdeck_edge_error_ratio Share of requests that failed (HTTP 5xx, connect errors, timeouts; not 4xx) over the last 10 s, 0 to 1.',
        '# TYPE meshdeck_edge_error_ratio gauge',
        'meshdeck_edge_error_ratio{mesh="dev",from="a",to="b"} 0.125',
        'meshdeck_edge_error_ratio{mesh="prod",from="external",to="web"} 0.125',
        'meshdeck_edge_error_ratio{mesh="prod",from="web",to="api"} 0.125',
        '# HELP meshdeck_edge_latency_ms Request latency quantiles in milliseconds over the last 10 s, from merged latency sketches (1 % relative accuracy). Gauges per quantile; do not average across edges.',
        '# TYPE meshdeck_edge_latency_ms gauge',
        'meshdeck_edge_latency_ms{mesh="dev",from="a",to="b",quantile="0.5"} 1.5',
        'meshdeck_edge_latency_ms{mesh="dev",from="a",to="b",quantile="0.95"} 8',
        'meshdeck_edge_latency_ms{mesh="dev",from="a",to="b",quantile="0.99"} 20.25',
        'meshdeck_edge_latency_ms{mesh="prod",from="web",to="api",quantile="0.5"} 1.5',
        'meshdeck_edge_latency_ms{mesh="prod",from="web",to="api",quantile="0.95"} 8',
        'meshdeck_edge_latency_ms{mesh="prod",from="web",to="api",quantile="0.99"} 20.25',
        '# HELP meshdeck_service_instances Instances of a service per registry state (healthy, draining, down, deregistered).',
        '# TYPE meshdeck_service_instances gauge',
        'meshdeck_service_instances{mesh="prod",service="api",state="healthy"} 2',
        'meshdeck_service_instances{mesh="prod",service="api",state="draining"} 0',
        'meshdeck_service_instances{mesh="prod",service="api",state="down"} 1',
        'meshdeck_service_instances{mesh="prod",service="api",state="deregistered"} 0',
        '',
      ].join('\n'),
    );
    // One TYPE line per family.
    expect(text.match(/^# TYPE /gm)).toHaveLength(4);
  });

  it('escapes backslash, double quote and line feed in label values (and nothing else)', () => {
    expect(escapeLabelValue('plain-name_1.2:3')).toBe('plain-name_1.2:3');
    expect(escapeLabelValue('a\\b')).toBe('a\\\\b');
    expect(escapeLabelValue('say "hi"')).toBe('say \\"hi\\"');
    expect(escapeLabelValue('line1\nline2')).toBe('line1\\nline2');
    expect(escapeLabelValue('tab\tand é ✓')).toBe('tab\tand é ✓');
    expect(escapeLabelValue('\\"\n')).toBe('\\\\\\"\\n');
    const text = renderPrometheus([{ mesh: 'prod "eu"\\west\n2', edges: [edge('x', 'y', 1)] }]);
    expect(samples(text, 'meshdeck_edge_requests_per_second')).toEqual([
      'meshdeck_edge_requests_per_second{mesh="prod \\"eu\\"\\\\west\\n2",from="x",to="y"} 1',
    ]);
    // Every sample stays on one line.
    for (const line of text.trimEnd().split('\n')) expect(line).toMatch(/^(# (HELP|TYPE) \S+ .*|[a-z_]+\{.*\} \S+)$/);
  });

  it('escapes HELP text (backslash, line feed; quotes stay)', () => {
    expect(escapeHelp('a "b" \\ c\nd')).toBe('a "b" \\\\ c\\nd');
  });

  it('writes special values the way Prometheus parses them', () => {
    expect([NaN, Infinity, -Infinity, 0, -0.5, 1e-7, 123456789012].map(formatValue)).toEqual(['NaN', '+Inf', '-Inf', '0', '-0.5', '1e-7', '123456789012']);
  });

  it('renders HELP and TYPE even without samples, and lists unknown states after the known ones', () => {
    const empty = renderPrometheus([]);
    expect(empty.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual([]);
    expect(empty.match(/^# TYPE /gm)).toHaveLength(4);
    const text = renderPrometheus([{ mesh: 'm', edges: [], services: [{ service: 's', instances: { zombie: 1, healthy: 3 } }] }]);
    expect(samples(text, 'meshdeck_service_instances').map((l) => l.replace(/^.*state="([^"]+)"\} (\d+)$/, '$1=$2'))).toEqual([
      'healthy=3',
      'draining=0',
      'down=0',
      'deregistered=0',
      'zombie=1',
    ]);
  });

  it('is served as text/plain version 0.0.4', () => {
    expect(PROMETHEUS_CONTENT_TYPE).toBe('text/plain; version=0.0.4; charset=utf-8');
  });
});
