import { expect, it } from 'vitest';
import { createMetrics } from './metrics';

it('renders Prometheus text with labels, counters, gauges and a cumulative histogram', () => {
  const m = createMetrics({ sessions: () => 3, terminals: () => 1 });
  m.startFailures.inc({ code: 'START_FAILED' });
  m.startFailures.inc({ code: 'START_FAILED' });
  m.execDuration.observe(0.2);
  m.execDuration.observe(7);
  const text = m.render();
  expect(text).toContain('# TYPE axo_sessions gauge\naxo_sessions 3');
  expect(text).toContain('axo_session_start_failures_total{code="START_FAILED"} 2');
  expect(text).toContain('axo_exec_duration_seconds_bucket{le="0.25"} 1');
  expect(text).toContain('axo_exec_duration_seconds_bucket{le="10"} 2');
  expect(text).toContain('axo_exec_duration_seconds_bucket{le="+Inf"} 2');
  expect(text).toContain('axo_exec_duration_seconds_count 2');
  expect(text).toContain('axo_tasks_started_total 0');
  expect(text.endsWith('\n')).toBe(true);
});

it('renders the egress counters the session gateways keep', () => {
  const m = createMetrics({
    sessions: () => 1,
    terminals: () => 0,
    egress: () => ({ connections: { allow: 3, deny: 2, error: 0 }, bytesIn: 100, bytesOut: 7 }),
  });
  const text = m.render();
  expect(text).toContain('# TYPE axo_egress_connections_total counter');
  expect(text).toContain('axo_egress_connections_total{decision="allow"} 3');
  expect(text).toContain('axo_egress_connections_total{decision="deny"} 2');
  expect(text).toContain('axo_egress_bytes_total{direction="in"} 100');
  expect(text).toContain('axo_egress_bytes_total{direction="out"} 7');
  expect(createMetrics({ sessions: () => 0, terminals: () => 0 }).render()).toContain(
    'axo_egress_connections_total{decision="deny"} 0',
  );
});
