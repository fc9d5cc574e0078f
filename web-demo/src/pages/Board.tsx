import { useCallback, useEffect, useRef, useState } from 'react';
import { Link } from 'react-router-dom';
import { api, CATEGORIES, PRIORITIES, STATUSES, type Ticket } from '../api';
import { useLive } from '../session';
import { isTicketEvent } from '../live';
import { useNames } from '../names';
import { instant } from '../components/format';
import { Badge } from '../components/Badge';

interface Filter {
  status: string;
  priority: string;
  category: string;
  assignee: string;
  q: string;
}

const EMPTY: Filter = { status: '', priority: '', category: '', assignee: '', q: '' };

/** Whether a ticket belongs on the board under a filter (for tickets arriving live). */
export function matches(t: Ticket, f: Filter): boolean {
  if (f.status && t.status !== f.status) return false;
  if (f.priority && t.priority !== f.priority) return false;
  if (f.category && t.category !== f.category) return false;
  if (f.assignee && t.assignee !== f.assignee) return false;
  if (f.q) {
    const q = f.q.toLowerCase();
    if (![t.title, t.description, t.number].some((s) => s.toLowerCase().includes(q))) return false;
  }
  return true;
}

export function BoardPage() {
  const [filter, setFilter] = useState<Filter>(EMPTY);
  const [tickets, setTickets] = useState<Ticket[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [flash, setFlash] = useState<Record<string, number>>({});
  const filterRef = useRef(filter);
  filterRef.current = filter;
  const name = useNames();

  const load = useCallback(async (f: Filter, after?: string) => {
    try {
      const page = await api.tickets({ ...f, ...(after ? { cursor: after } : {}), limit: '50' });
      setTickets((old) => (after ? [...old, ...page.tickets] : page.tickets));
      setCursor(page.next_cursor);
      setError(null);
    } catch (e) {
      setError(String(e instanceof Error ? e.message : e));
    }
  }, []);

  useEffect(() => {
    const t = setTimeout(() => void load(filter), filter.q ? 200 : 0);
    return () => clearTimeout(t);
  }, [filter, load]);

  // Live: any event on a ticket re-reads that ticket (the server's fold is the truth) and
  // places it by the filter, newest first.
  const pending = useRef(new Map<string, ReturnType<typeof setTimeout>>());
  useLive((event) => {
    if (!isTicketEvent(event)) return;
    const id = event.subject;
    const timers = pending.current;
    const old = timers.get(id);
    if (old) clearTimeout(old);
    timers.set(
      id,
      setTimeout(() => {
        timers.delete(id);
        void api
          .ticket(id)
          .then((t) => {
            setTickets((list) => {
              const rest = list.filter((x) => x.id !== t.id);
              if (!matches(t, filterRef.current)) return rest;
              return [t, ...rest].sort((a, b) => b.created_at - a.created_at || b.id.localeCompare(a.id));
            });
            setFlash((f) => ({ ...f, [t.id]: Date.now() }));
          })
          .catch(() => undefined);
      }, 100),
    );
  });

  const set = (k: keyof Filter) => (e: { target: { value: string } }) => setFilter({ ...filter, [k]: e.target.value });

  return (
    <section>
      <div className="toolbar">
        <h2>Tickets</h2>
        <span className="spacer" />
        <Link className="button" to="/new">
          New ticket
        </Link>
      </div>
      <div className="filters" role="search">
        <input placeholder="Search title, description, number" value={filter.q} onChange={set('q')} aria-label="search" />
        <select value={filter.status} onChange={set('status')} aria-label="status">
          <option value="">Any status</option>
          {STATUSES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        <select value={filter.priority} onChange={set('priority')} aria-label="priority">
          <option value="">Any priority</option>
          {PRIORITIES.map((p) => (
            <option key={p}>{p}</option>
          ))}
        </select>
        <select value={filter.category} onChange={set('category')} aria-label="category">
          <option value="">Any category</option>
          {CATEGORIES.map((c) => (
            <option key={c}>{c}</option>
          ))}
        </select>
        <input placeholder="Assignee id" value={filter.assignee} onChange={set('assignee')} aria-label="assignee" />
      </div>
      {error && <p className="error">{error}</p>}
      <table className="tickets" data-testid="board">
        <thead>
          <tr>
            <th>Number</th>
            <th>Title</th>
            <th>Priority</th>
            <th>Status</th>
            <th>Category</th>
            <th>Assignee</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {tickets.map((t) => (
            <tr key={t.id} className={flash[t.id] && Date.now() - flash[t.id] < 2000 ? 'flash' : ''} data-ticket={t.id}>
              <td>
                <Link to={`/tickets/${t.id}`}>{t.number}</Link>
              </td>
              <td className="title">{t.title}</td>
              <td>
                <Badge value={t.priority} />
              </td>
              <td>
                <Badge value={t.status} />
              </td>
              <td>{t.category}</td>
              <td>{name(t.assignee)}</td>
              <td>{instant(t.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {tickets.length === 0 && !error && <p className="empty">No tickets match.</p>}
      {cursor && (
        <button className="secondary" onClick={() => void load(filter, cursor)}>
          Load more
        </button>
      )}
    </section>
  );
}
