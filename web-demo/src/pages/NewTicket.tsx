import { useMemo, useRef, useState, type FormEvent } from 'react';
import { Link } from 'react-router-dom';
import { api, ApiError, CATEGORIES, PRIORITIES, type Evaluation, type PreviewContext, type Priority, type TicketResponse } from '../api';
import {
  decisionOf,
  escalationTimeline,
  preview,
  recompute,
  type BrowserModule,
  type Decision,
  type Draft,
  type PreviewInput,
} from '../engine';
import { atLeast, useSession } from '../session';
import { useNames } from '../names';
import { Badge } from '../components/Badge';
import { Hash } from '../components/Hash';
import { Highlighted } from '../components/Highlighted';
import { Trace } from '../components/Trace';
import { duration, instant } from '../components/format';

export function NewTicketPage() {
  const { user, context, module, moduleError, serverNow } = useSession();
  const [draft, setDraft] = useState<Draft>({ title: '', description: '', category: 'Software', priority: '' });
  const [submitted, setSubmitted] = useState<Submitted | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const idempotencyKey = useRef(crypto.randomUUID());
  // Only staff may set a priority by hand; the server refuses it from requesters.
  const staff = atLeast(user, 'agent');

  const input: PreviewInput | null =
    context && user ? { context, draft, requester: user.id, now: serverNow() } : null;

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!context || !module || !user) return;
    setBusy(true);
    setError(null);
    const before = { context, preview: computed?.evaluation ?? null, module };
    try {
      const response = await api.create(
        {
          title: draft.title,
          description: draft.description,
          category: draft.category,
          ...(draft.priority ? { priority: draft.priority as Priority } : {}),
        },
        idempotencyKey.current,
      );
      setSubmitted({ response, ...before });
      idempotencyKey.current = crypto.randomUUID();
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'network', String(err)));
    } finally {
      setBusy(false);
    }
  }

  // Every keystroke: one module call for the decision, one per status for the escalation
  // timeline. No network.
  const computed = useMemo(() => {
    if (!module || !input) return null;
    const started = performance.now();
    const answer = preview(module, input);
    if (answer.type !== 'success') return { error: answer.errors, ms: performance.now() - started };
    const timeline = escalationTimeline(module, input, answer.answer.prioritization.priority);
    return { evaluation: answer.answer, timeline, ms: performance.now() - started };
    // serverNow changes identity with the context only; the draft drives recomputation.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [module, context, draft, user]);

  const set = (k: keyof Draft) => (e: { target: { value: string } }) => {
    setDraft({ ...draft, [k]: e.target.value });
    setSubmitted(null);
  };

  return (
    <section className="new-ticket">
      <form className="panel" onSubmit={(e) => void submit(e)} aria-label="New ticket">
        <h2>New ticket</h2>
        <label>
          Title
          <input name="title" value={draft.title} onChange={set('title')} maxLength={200} required />
        </label>
        <label>
          Description
          <textarea name="description" value={draft.description} onChange={set('description')} rows={6} />
        </label>
        <div className="row">
          <label>
            Category
            <select name="category" value={draft.category} onChange={set('category')}>
              {CATEGORIES.map((c) => (
                <option key={c}>{c}</option>
              ))}
            </select>
          </label>
          {staff && (
          <label>
            Priority
            <select name="priority" value={draft.priority} onChange={set('priority')}>
              <option value="">Let automation decide</option>
              {PRIORITIES.map((p) => (
                <option key={p}>{p}</option>
              ))}
            </select>
          </label>
          )}
        </div>
        {error && (
          <div className="error" role="alert">
            <strong>{error.code}</strong>: {error.message}
            {error.details.length > 0 && (
              <ul>
                {error.details.map((d, i) => (
                  <li key={i}>{d.message ?? JSON.stringify(d)}</li>
                ))}
              </ul>
            )}
          </div>
        )}
        <button type="submit" disabled={busy || !draft.title.trim() || !module}>
          Submit ticket
        </button>
      </form>

      <div className="panel preview" data-testid="preview" aria-live="polite">
        <h3>
          Preview <small className="muted">computed here by module <Hash value={module?.sha256} /></small>
        </h3>
        {moduleError && <p className="error">The rule module could not load: {moduleError}</p>}
        {!module && !moduleError && <p className="muted">Loading the rule module…</p>}
        {computed && 'error' in computed && computed.error && (
          <ul className="error">
            {computed.error.map((p, i) => (
              <li key={i}>{p.message}</li>
            ))}
          </ul>
        )}
        {computed && 'evaluation' in computed && computed.evaluation && context && (
          <PreviewBody evaluation={computed.evaluation} timeline={computed.timeline} draft={draft} context={context} />
        )}
        {computed && (
          <p className="muted small" data-testid="preview-ms" data-ms={computed.ms.toFixed(3)}>
            decided in {computed.ms.toFixed(2)} ms, rule set v{context?.rule_set_version}
          </p>
        )}
      </div>

      {submitted && user && <Comparison submitted={submitted} />}
    </section>
  );
}

interface Submitted {
  response: TicketResponse;
  context: PreviewContext;
  preview: Evaluation | null;
  module: BrowserModule;
}

function PreviewBody({
  evaluation,
  timeline,
  draft,
  context,
}: {
  evaluation: Evaluation;
  timeline: ReturnType<typeof escalationTimeline>;
  draft: Draft;
  context: PreviewContext;
}) {
  const name = useNames();
  const p = evaluation.prioritization;
  const a = evaluation.assignment;
  const sla = evaluation.sla;
  return (
    <div className="preview-body">
      <div className="decision">
        <span className="label">Priority</span>
        <span data-testid="preview-priority" data-value={p.priority}>
          <Badge value={p.priority} />
        </span>
        <span className="why">{p.reason}</span>
      </div>
      <div className="matched-text">
        <div>
          <span className="label">Title</span> <Highlighted text={draft.title} matches={p.matches} field="title" />
        </div>
        <div>
          <span className="label">Description</span>{' '}
          <Highlighted text={draft.description} matches={p.matches} field="description" />
        </div>
      </div>
      <div className="decision">
        <span className="label">Assignment</span>
        {a.role ? (
          <span data-testid="preview-assignee" data-value={a.assignee ?? ''}>
            {a.role} → <strong>{a.assignee ? name(a.assignee) : 'nobody eligible'}</strong>{' '}
            {a.counter != null && (
              <small className="muted">
                projected next in rotation (counter {context.counters[a.role] ?? 0} → {a.counter})
              </small>
            )}
          </span>
        ) : (
          <span data-testid="preview-assignee" data-value="">
            unassigned
          </span>
        )}
        <span className="why">{a.reason}</span>
        {a.skipped.length > 0 && (
          <ul className="skipped">
            {a.skipped.map((s) => (
              <li key={s.user}>
                skipped {name(s.user)}: {s.reason.replace(/_/g, ' ')}
              </li>
            ))}
          </ul>
        )}
      </div>
      {sla && (
        <div className="decision" data-testid="preview-sla">
          <span className="label">SLA</span>
          <span>
            first response by <strong>{instant(sla.first_response.deadline_at as number)}</strong> (
            {duration(sla.first_response.target_ms as number)}), resolution by{' '}
            <strong>{instant(sla.resolution.deadline_at as number)}</strong> ({duration(sla.resolution.target_ms as number)})
          </span>
        </div>
      )}
      <div className="decision" data-testid="preview-escalations">
        <span className="label">Escalation</span>
        {timeline.every((t) => t.escalations.length === 0) ? (
          <span className="muted">no escalation rule applies to a {p.priority} ticket</span>
        ) : (
          <ol className="timeline-compact">
            {timeline.flatMap((t) =>
              t.escalations.map((e) => (
                <li key={`${t.status}-${e.rule}`}>
                  once {t.status}, after {duration(e.due_at - (e.status_entered_at as number))} → {String(e.role)}
                  {e.assignee ? ` (${name(e.assignee as string)})` : ''} <code>{e.rule}</code>
                </li>
              )),
            )}
          </ol>
        )}
      </div>
      <Trace trace={evaluation.trace} />
    </div>
  );
}

/** The server's authoritative result beside the preview, and the parity check. */
function Comparison({ submitted }: { submitted: Submitted }) {
  const name = useNames();
  const { response, context, preview: previewed, module } = submitted;
  const server = response.automation;
  const ticket = response.ticket;
  if (!server) {
    return (
      <div className="panel comparison" data-testid="comparison">
        <h3>
          Submitted <Link to={`/tickets/${ticket.id}`}>{ticket.number}</Link>
        </h3>
        <p className="error">Automation did not run: {response.automation_error ?? 'no evaluation'}. The ticket is stored.</p>
      </div>
    );
  }
  // Same inputs as the server recorded (its counter, its instant): any difference is the module's.
  const replay = recompute(module, context, ticket, server, context.rule_set);
  const replayed = replay.type === 'success' ? decisionOf(replay.answer) : null;
  const authoritative = decisionOf(server);
  // A module or rule set activated between the preview and the submit is not a mismatch: the
  // page says so and recomputes nothing it cannot recompute exactly.
  const moved =
    ticket.module_sha256 !== module.sha256
      ? `a different module (${ticket.module_sha256?.slice(0, 12)}) became active before the ticket was decided`
      : ticket.rule_set_version !== context.rule_set_version
        ? `rule set v${ticket.rule_set_version} was published before the ticket was decided`
        : null;
  const mismatch = moved ? null : !replayed ? 'the browser could not recompute the decision' : differs(replayed, authoritative);
  const projected = previewed ? decisionOf(previewed) : null;
  const rotationMoved = projected && projected.assignee !== authoritative.assignee && !mismatch && !moved;
  return (
    <div className={`panel comparison ${mismatch ? 'mismatch' : 'agree'}`} data-testid="comparison" data-mismatch={mismatch ? 'true' : 'false'}>
      <h3>
        Submitted <Link to={`/tickets/${ticket.id}`}>{ticket.number}</Link>
      </h3>
      {moved ? (
        <p className="muted" data-testid="rules-moved">
          Not compared: {moved}. The next preview uses it.
        </p>
      ) : mismatch ? (
        <p className="mismatch-banner" role="alert">
          MISMATCH between browser and server: {mismatch}
        </p>
      ) : (
        <p className="agree-banner">Browser and server agree: same module, same decision.</p>
      )}
      <table>
        <thead>
          <tr>
            <th />
            <th>Preview</th>
            <th>Server (authoritative)</th>
          </tr>
        </thead>
        <tbody>
          <tr>
            <th>Priority</th>
            <td>
              <Badge value={projected?.priority} />
            </td>
            <td data-testid="server-priority" data-value={authoritative.priority ?? ''}>
              <Badge value={authoritative.priority} />
            </td>
          </tr>
          <tr>
            <th>Role</th>
            <td>{projected?.role ?? '—'}</td>
            <td>{authoritative.role ?? '—'}</td>
          </tr>
          <tr>
            <th>Assignee</th>
            <td>{name(projected?.assignee)}</td>
            <td data-testid="server-assignee">{name(authoritative.assignee)}</td>
          </tr>
        </tbody>
      </table>
      {rotationMoved && (
        <p className="muted">
          The assignee differs from the projection because the rotation moved on before this ticket took its turn (counter{' '}
          {server.assignment.counter}); recomputed with that counter, the browser picks the same person.
        </p>
      )}
      <p className="muted small">
        module <Hash value={ticket.module_sha256} />, rule set v{ticket.rule_set_version}
      </p>
    </div>
  );
}

function differs(a: Decision, b: Decision): string | null {
  const fields = (['priority', 'role', 'assignee'] as const).filter((k) => a[k] !== b[k]);
  return fields.length ? fields.map((k) => `${k}: browser ${a[k] ?? '—'}, server ${b[k] ?? '—'}`).join('; ') : null;
}
