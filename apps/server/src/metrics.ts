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

/** The server's metrics. */
export function createMetrics(read: { sessions: () => number; terminals: () => number }) {
  const m = {
    sessions: new Gauge('axo_sessions', 'Sessions this server manages.', read.sessions),
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
    render(): string {
      return `${[
        m.sessions,
        m.terminals,
        m.sessionsCreated,
        m.startFailures,
        m.execs,
        m.execDuration,
        m.tasks,
        m.reaped,
      ]
        .map((x) => x.render())
        .join('\n')}\n`;
    },
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
