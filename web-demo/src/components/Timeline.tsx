import type { CloudEvent, TraceEntry } from '../api';
import { Hash } from './Hash';
import { Trace } from './Trace';
import { instant } from './format';

/** What an event says, in one line, from its data. */
export function summary(e: CloudEvent, name: (id: string) => string): string {
  const d = e.data as Record<string, unknown>;
  const s = (k: string) => (d[k] == null ? '' : String(d[k]));
  switch (e.type) {
    case 'ticket.created':
      return `filed “${s('title')}” in ${s('category')}${d.priority ? `, priority ${s('priority')} set by a person` : ''}`;
    case 'ticket.status_changed':
    case 'ticket.approved':
    case 'ticket.rejected':
    case 'ticket.closed': {
      const what = d.to ? `${d.from ? `${s('from')} → ` : ''}${s('to')}` : e.type.slice('ticket.'.length);
      return `${what}${d.reason ? ` (${s('reason')})` : ''}`;
    }
    case 'ticket.commented':
      return `commented: “${String((d.comment as { body?: string } | undefined)?.body ?? '')}”`;
    case 'ticket.assigned':
      return `assigned to ${name(s('assignee'))}${d.previous ? ` (was ${name(s('previous'))})` : ''}`;
    case 'ticket.escalated':
      return `escalated to ${name(s('assignee'))}${d.priority ? `, priority ${s('priority')}` : ''}`;
    case 'automation.prioritization_applied':
      return `priority ${s('priority')}${d.rule ? ` by rule ${s('rule')}` : ''}`;
    case 'automation.assignment_applied':
      return `assigned to ${name(s('assignee'))} in the ${s('role')} rotation${d.counter != null ? ` (counter ${s('counter')})` : ''}`;
    case 'automation.escalation_triggered':
      return `rule ${s('rule')} fired${d.lag_ms != null ? `, ${s('lag_ms')} ms after its deadline` : ''}`;
    case 'automation.rule_evaluation_failed':
      return `the rule module failed: ${s('reason')}`;
    case 'sla.warning':
    case 'sla.breach':
    case 'sla.met':
      return `${s('metric') || s('clock')}`;
    default:
      return '';
  }
}

function provenance(e: CloudEvent): { module?: string; version?: number } {
  const p = (e.data as { provenance?: { module_sha256?: string; rule_set_version?: number } }).provenance;
  const d = e.data as { module_sha256?: string; rule_set_version?: number };
  return { module: p?.module_sha256 ?? d.module_sha256, version: p?.rule_set_version ?? d.rule_set_version };
}

function traceOf(e: CloudEvent): TraceEntry[] | undefined {
  const d = e.data as { evaluation?: { trace?: TraceEntry[] }; trace?: TraceEntry[]; decision?: { trace?: TraceEntry[] } };
  return d.evaluation?.trace ?? d.trace ?? d.decision?.trace;
}

/** A ticket's event stream, oldest first, with causation links between events. */
export function Timeline({ events, name }: { events: CloudEvent[]; name: (id: string) => string }) {
  const byId = new Map(events.map((e) => [e.id, e]));
  return (
    <ol className="timeline" data-testid="timeline">
      {events.map((e) => {
        const cause = e.causationid ? byId.get(e.causationid) : undefined;
        const effects = events.filter((x) => x.causationid === e.id);
        const p = provenance(e);
        const automation = e.type.startsWith('automation.') || e.actor === 'automation';
        return (
          <li key={e.id} id={`ev-${e.id}`} className={`event ${automation ? 'automation' : 'person'} ${e.type.replace(/\./g, '-')}`}>
            <div className="event-head">
              <span className="seq">v{e.streamversion}</span>
              <code className="type">{e.type}</code>
              <span className="actor">{name(e.actor)}</span>
              <time dateTime={e.time}>{instant(Date.parse(e.time))}</time>
            </div>
            <div className="event-body">{summary(e, name)}</div>
            {p.module && (
              <div className="provenance">
                module <Hash value={p.module} /> · rule set v{p.version}
              </div>
            )}
            {cause && (
              <a className="cause" href={`#ev-${cause.id}`}>
                caused by {cause.type} (v{cause.streamversion})
              </a>
            )}
            {effects.length > 0 && (
              <span className="effects">
                caused{' '}
                {effects.map((x, i) => (
                  <a key={x.id} href={`#ev-${x.id}`}>
                    {i ? ', ' : ''}
                    {x.type}
                  </a>
                ))}
              </span>
            )}
            <Trace trace={traceOf(e)} />
          </li>
        );
      })}
    </ol>
  );
}
