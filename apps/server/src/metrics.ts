/** A tiny Prometheus text-format registry: counters, gauges and one histogram kind. */
type Labels = Record<string, string>;

const key = (labels: Labels) =>
  Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')}"`)
    .join(',');

class Counter {
  readonly #values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1) {
    const k = key(labels);
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.#values.size === 0) lines.push(`${this.name} 0`);
    for (const [k, v] of this.#values) lines.push(`${this.name}${k ? `{${k}}` : ''} ${v}`);
    return lines.join('\n');
  }
}

class Gauge {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly read: () => number,
  ) {}
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.read()}`].join('\n');
  }
}

class Histogram {
  readonly #counts: number[];
  #sum = 0;
  #count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {
    this.#counts = buckets.map(() => 0);
  }
  observe(value: number) {
    this.#sum += value;
    this.#count += 1;
    this.buckets.forEach((b, i) => {
      if (value <= b) this.#counts[i] = (this.#counts[i] ?? 0) + 1;
    });
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((b, i) => {
      lines.push(`${this.name}_bucket{le="${b}"} ${this.#counts[i]}`);
    });
    lines.push(
      `${this.name}_bucket{le="+Inf"} ${this.#count}`,
      `${this.name}_sum ${this.#sum}`,
      `${this.name}_count ${this.#count}`,
    );
    return lines.join('\n');
  }
}

/** A counter whose values are read when rendered (they are kept elsewhere: the session gateways). */
class CollectedCounter {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly label: string,
    readonly read: () => Record<string, number>,
  ) {}
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of Object.entries(this.read())) lines.push(`${this.name}{${key({ [this.label]: k })}} ${v}`);
    return lines.join('\n');
  }
}

/** Egress counters over every allowlisted session (see SessionManager.egressTotals). */
export interface EgressTotals {
  readonly connections: Record<'allow' | 'deny' | 'error', number>;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

const NO_EGRESS: EgressTotals = { connections: { allow: 0, deny: 0, error: 0 }, bytesIn: 0, bytesOut: 0 };

/** The server's metrics. */
export function createMetrics(read: {
  sessions: () => number;
  terminals: () => number;
  paused?: () => number;
  egress?: () => EgressTotals | undefined;
}) {
  const egress = () => read.egress?.() ?? NO_EGRESS;
  const m = {
    sessions: new Gauge('axo_sessions', 'Sessions this server manages.', read.sessions),
    paused: new Gauge('axo_sessions_paused', 'Sessions paused (frozen, using no CPU).', read.paused ?? (() => 0)),
    pauses: new Counter('axo_session_pauses_total', 'Sessions paused, by reason (idle, request).'),
    resumes: new Counter('axo_session_resumes_total', 'Sessions resumed, by reason (use, request).'),
    terminals: new Gauge('axo_terminals', 'Open terminals.', read.terminals),
    sessionsCreated: new Counter('axo_sessions_created_total', 'Sessions created.'),
    startFailures: new Counter('axo_session_start_failures_total', 'Session starts that failed, by error code.'),
    execs: new Counter('axo_execs_total', 'Commands run through exec, by outcome.'),
    execDuration: new Histogram(
      'axo_exec_duration_seconds',
      'Duration of exec requests.',
      [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    ),
    tasks: new Counter('axo_tasks_started_total', 'Background tasks started.'),
    reaped: new Counter('axo_reaped_containers_total', 'Containers removed by reaping, by reason.'),
    egressConnections: new CollectedCounter(
      'axo_egress_connections_total',
      'Connections allowlisted sessions asked their gateways for, by decision (allow, deny, error).',
      'decision',
      () => egress().connections,
    ),
    egressBytes: new CollectedCounter(
      'axo_egress_bytes_total',
      'Bytes through allowlisted sessions’ gateways, by direction (in: from destinations, out: to them).',
      'direction',
      () => ({ in: egress().bytesIn, out: egress().bytesOut }),
    ),
    render(): string {
      return `${[
        m.sessions,
        m.paused,
        m.pauses,
        m.resumes,
        m.terminals,
        m.sessionsCreated,
        m.startFailures,
        m.execs,
        m.execDuration,
        m.tasks,
        m.reaped,
        m.egressConnections,
        m.egressBytes,
      ]
        .map((x) => x.render())
        .join('\n')}\n`;
    },
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
