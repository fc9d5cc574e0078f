import { useCallback, useEffect, useState } from 'react';
import { useParams } from 'react-router-dom';
import { api, ApiError, type CloudEvent, type SlaStatus, type Status, type Ticket, type User } from '../api';
import { atLeast, useLive, useSession } from '../session';
import { useNames } from '../names';
import { Badge } from '../components/Badge';
import { Hash } from '../components/Hash';
import { Timeline } from '../components/Timeline';
import { duration, instant } from '../components/format';

/** Where each status may go (the server's state machine; the server has the last word). */
const NEXT: Record<Status, Status[]> = {
  InApproval: ['Approved', 'Rejected'],
  Approved: ['InProgress'],
  Rejected: ['InApproval'],
  InProgress: ['OnHold', 'Resolved'],
  OnHold: ['InProgress'],
  Resolved: ['Closed', 'InProgress'],
  Closed: [],
};

export function TicketPage() {
  const { id = '' } = useParams();
  const { user } = useSession();
  const name = useNames();
  const [ticket, setTicket] = useState<Ticket | null>(null);
  const [events, setEvents] = useState<CloudEvent[]>([]);
  const [sla, setSla] = useState<{ live: SlaStatus | null; next_wake_up: { at: number } | null } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [notFound, setNotFound] = useState(false);

  const load = useCallback(async () => {
    try {
      const [t, h] = await Promise.all([api.ticket(id), api.history(id)]);
      setTicket(t);
      setEvents(h);
      setSla(await api.ticketSla(id).catch(() => null));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setNotFound(true);
      else setError(e instanceof ApiError ? e : new ApiError(0, 'network', String(e)));
    }
  }, [id]);

  useEffect(() => {
    void load();
  }, [load]);

  useLive((e) => {
    if (e.subject === id) void load();
  });

  async function act(run: () => Promise<unknown>) {
    setError(null);
    try {
      await run();
      await load();
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, 'network', String(e)));
    }
  }

  if (notFound) return <p className="empty">No such ticket.</p>;
  if (!ticket || !user) return <p className="muted">Loading…</p>;

  const staff = atLeast(user, 'agent');
  const breached =
    sla?.live && (sla.live.first_response.state === 'breached' || sla.live.resolution.state === 'breached');

  return (
    <section className="ticket-page">
      <div className="panel">
        <div className="toolbar">
          <h2>
            <span className="muted">{ticket.number}</span> {ticket.title}
          </h2>
        </div>
        <dl className="facts">
          <dt>Status</dt>
          <dd data-testid="ticket-status">
            <Badge value={ticket.status} />
          </dd>
          <dt>Priority</dt>
          <dd>
            <Badge value={ticket.priority} /> <small className="muted">set by {ticket.priority_source}</small>
          </dd>
          <dt>Category</dt>
          <dd>{ticket.category}</dd>
          <dt>Requester</dt>
          <dd>{name(ticket.requester)}</dd>
          <dt>Assignee</dt>
          <dd data-testid="ticket-assignee">{name(ticket.assignee)}</dd>
          <dt>Created</dt>
          <dd>{instant(ticket.created_at)}</dd>
          <dt>Decided by</dt>
          <dd>
            module <Hash value={ticket.module_sha256} />, rule set v{ticket.rule_set_version ?? '—'}
          </dd>
        </dl>
        <p className="description">{ticket.description || <span className="muted">No description.</span>}</p>

        {sla?.live && (
          <div className="sla-clocks" data-testid="ticket-sla">
            {(['first_response', 'resolution'] as const).map((k) => {
              const c = sla.live![k];
              return (
                <div key={k} className={`clock clock-${c.state}`}>
                  <span className="label">{k === 'first_response' ? 'First response' : 'Resolution'}</span>
                  <Badge value={c.state} />
                  <span>
                    {c.state === 'met'
                      ? `met ${instant(c.met_at as number)}`
                      : c.remaining_ms >= 0
                        ? `${duration(c.remaining_ms)} left (due ${instant(c.deadline_at as number)})`
                        : `overdue by ${duration(c.remaining_ms)}`}
                  </span>
                </div>
              );
            })}
            {sla.next_wake_up && <small className="muted">next automatic check {instant(sla.next_wake_up.at)}</small>}
          </div>
        )}

        {error && (
          <p className="error" role="alert">
            <strong>{error.code}</strong>: {error.message}
          </p>
        )}

        {staff && (
          <div className="actions">
            {NEXT[ticket.status]
              .filter((to) => (to === 'Approved' || to === 'Rejected' ? atLeast(user, 'manager') : true))
              .map((to) => (
                <button
                  key={to}
                  onClick={() =>
                    void act(() =>
                      to === 'Approved' ? api.approve(ticket.id) : to === 'Rejected' ? api.reject(ticket.id) : api.transition(ticket.id, to),
                    )
                  }
                >
                  {label(ticket.status, to)}
                </button>
              ))}
            <AssignControl ticket={ticket} onAssign={(who) => act(() => api.assign(ticket.id, who))} />
            {breached && (
              <button className="warn" onClick={() => void act(() => api.acknowledge(ticket.id, 'acknowledged from the ticket page'))}>
                Acknowledge breach
              </button>
            )}
          </div>
        )}

        <CommentBox onComment={(body) => act(() => api.comment(ticket.id, body))} />
        {ticket.comments.length > 0 && (
          <ul className="comments">
            {ticket.comments.map((c, i) => (
              <li key={i}>
                <strong>{name(c.author)}</strong> <small className="muted">{instant(c.at)}</small>
                <p>{c.body}</p>
              </li>
            ))}
          </ul>
        )}
      </div>

      <div className="panel">
        <h3>Timeline</h3>
        <Timeline events={events} name={name} />
      </div>
    </section>
  );
}

function label(from: Status, to: Status): string {
  if (to === 'Approved') return 'Approve';
  if (to === 'Rejected') return 'Reject';
  if (to === 'InProgress') return from === 'Approved' ? 'Start work' : from === 'OnHold' ? 'Resume' : 'Reopen';
  if (to === 'OnHold') return 'Put on hold';
  if (to === 'Resolved') return 'Resolve';
  if (to === 'Closed') return 'Close';
  if (to === 'InApproval') return 'Resubmit';
  return to;
}

function AssignControl({ ticket, onAssign }: { ticket: Ticket; onAssign: (id: string) => Promise<void> }) {
  const [users, setUsers] = useState<User[]>([]);
  const [who, setWho] = useState('');
  useEffect(() => {
    void api.users().then((u) => setUsers(u.filter((x) => x.permission !== 'requester'))).catch(() => undefined);
  }, []);
  if (!users.length) return null;
  return (
    <span className="assign">
      <select aria-label="assign to" value={who} onChange={(e) => setWho(e.target.value)}>
        <option value="">Assign to…</option>
        {users
          .filter((u) => u.id !== ticket.assignee)
          .map((u) => (
            <option key={u.id} value={u.id}>
              {u.name}
            </option>
          ))}
      </select>
      <button disabled={!who} onClick={() => void onAssign(who).then(() => setWho(''))}>
        Assign
      </button>
    </span>
  );
}

function CommentBox({ onComment }: { onComment: (body: string) => Promise<void> }) {
  const [body, setBody] = useState('');
  return (
    <form
      className="comment-box"
      onSubmit={(e) => {
        e.preventDefault();
        void onComment(body).then(() => setBody(''));
      }}
    >
      <textarea aria-label="comment" placeholder="Add a comment" value={body} onChange={(e) => setBody(e.target.value)} rows={2} />
      <button type="submit" disabled={!body.trim()}>
        Comment
      </button>
    </form>
  );
}
