import { useCallback, useEffect, useState } from 'react';
import { Link } from 'react-router-dom';
import { api, ApiError, type ComplianceReport, type SlaStatus, type Ticket } from '../api';
import { slaClocks } from '../engine';
import { isTicketEvent } from '../live';
import { useLive, useSession } from '../session';
import { useNames } from '../names';
import { Badge } from '../components/Badge';
import { BarChart } from '../components/BarChart';
import { duration, percent } from '../components/format';

const DAY = 86_400_000;

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function SlaPage() {
  const { context, module, serverNow } = useSession();
  const name = useNames();
  const [from, setFrom] = useState(() => day(Date.now() - 6 * DAY));
  const [to, setTo] = useState(() => day(Date.now()));
  const [report, setReport] = useState<ComplianceReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<Ticket[]>([]);
  const [, tick] = useState(0);

  useEffect(() => {
    setError(null);
    // `to` is inclusive for people: the report runs to the end of that day.
    const end = new Date(Date.parse(`${to}T00:00:00Z`) + DAY).toISOString();
    api
      .compliance(`${from}T00:00:00Z`, end)
      .then(setReport)
      .catch((e) => setError(e instanceof ApiError ? e.message : String(e)));
  }, [from, to]);

  const loadOpen = useCallback(async () => {
    const page = await api.tickets({ limit: '200' });
    setOpen(page.tickets.filter((t) => !['Resolved', 'Closed', 'Rejected'].includes(t.status)));
  }, []);
  useEffect(() => {
    void loadOpen();
    const t = setInterval(() => tick((n) => n + 1), 15_000); // clocks move
    return () => clearInterval(t);
  }, [loadOpen]);
  useLive((e) => {
    if (isTicketEvent(e)) void loadOpen();
  });

  const now = serverNow();
  const atRisk =
    module && context
      ? open
          .map((t) => ({ t, sla: slaClocks(module, context.rule_set, t, now) }))
          .filter((x): x is { t: Ticket; sla: SlaStatus } => !!x.sla && [x.sla.first_response.state, x.sla.resolution.state].some((s) => s === 'warning' || s === 'breached'))
          .sort((a, b) => worst(a.sla) - worst(b.sla))
      : [];

  const rows = report?.report.by_priority ?? [];
  return (
    <section className="sla-page">
      <div className="panel">
        <div className="toolbar">
          <h2>SLA compliance</h2>
          <span className="spacer" />
          <label className="inline">
            From <input type="date" value={from} onChange={(e) => setFrom(e.target.value)} aria-label="from" />
          </label>
          <label className="inline">
            To <input type="date" value={to} onChange={(e) => setTo(e.target.value)} aria-label="to" />
          </label>
        </div>
        {error && <p className="error">{error}</p>}
        {report && (
          <>
            <BarChart
              categories={rows.map((r) => r.priority)}
              series={[
                { label: 'first response', className: 'bar-a', values: rows.map((r) => r.first_response?.compliance_bp ?? null) },
                { label: 'resolution', className: 'bar-b', values: rows.map((r) => r.resolution?.compliance_bp ?? null) },
              ]}
              format={(v) => percent(v)}
            />
            <p className="legend">
              <span className="swatch bar-a" /> first response <span className="swatch bar-b" /> resolution · rule set v
              {report.report.rule_set_version}
            </p>
            <table className="tickets" data-testid="compliance">
              <thead>
                <tr>
                  <th>Priority</th>
                  <th>First response met / breached</th>
                  <th>Resolution met / breached</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.priority}>
                    <td>
                      <Badge value={r.priority} />
                    </td>
                    <td>
                      {r.first_response?.met ?? 0} / {r.first_response?.breached ?? 0} ({percent(r.first_response?.compliance_bp)})
                    </td>
                    <td>
                      {r.resolution?.met ?? 0} / {r.resolution?.breached ?? 0} ({percent(r.resolution?.compliance_bp)})
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </div>
      <div className="panel">
        <h3>At warning or breach now ({atRisk.length})</h3>
        <table className="tickets" data-testid="at-risk">
          <thead>
            <tr>
              <th>Ticket</th>
              <th>Priority</th>
              <th>First response</th>
              <th>Resolution</th>
              <th>Assignee</th>
            </tr>
          </thead>
          <tbody>
            {atRisk.map(({ t, sla }) => (
              <tr key={t.id}>
                <td>
                  <Link to={`/tickets/${t.id}`}>{t.number}</Link> {t.title}
                </td>
                <td>
                  <Badge value={t.priority} />
                </td>
                {([sla.first_response, sla.resolution] as const).map((c, i) => (
                  <td key={i}>
                    <Badge value={c.state} /> {c.state === 'met' ? '' : c.remaining_ms >= 0 ? `${duration(c.remaining_ms)} left` : `${duration(c.remaining_ms)} over`}
                  </td>
                ))}
                <td>{name(t.assignee)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {atRisk.length === 0 && <p className="empty">Every open ticket is within its targets.</p>}
      </div>
    </section>
  );
}

function worst(s: SlaStatus): number {
  return Math.min(
    ...[s.first_response, s.resolution].filter((c) => c.state !== 'met').map((c) => c.remaining_ms),
    Number.MAX_SAFE_INTEGER,
  );
}
