import { useEffect, useMemo, useState } from 'react';
import {
  api,
  ApiError,
  CATEGORIES,
  PRIORITIES,
  STATUSES,
  type Evaluation,
  type ModuleList,
  type ModuleRecord,
  type RuleSet,
  type Ticket,
} from '../api';
import { decisionOf, preview, type BrowserModule } from '../engine';
import { atLeast, useLive, useSession } from '../session';
import { useNames } from '../names';
import { Badge } from '../components/Badge';
import { Hash } from '../components/Hash';
import { instant } from '../components/format';

export interface Problem {
  code: string;
  message: string;
  path?: string;
  rule?: string;
  field?: string;
}

/** Validates a draft with the active module, in this page: instant, and the server's verdict. */
export function validateDraft(module: BrowserModule, draft: unknown): Problem[] {
  const answer = module.call<unknown>({ op: 'validate', rule_set: draft });
  return answer.type === 'success' ? [] : (answer.errors as Problem[]);
}

/** The problems the module pinned to one field of one rule (`sla` for the SLA policy). */
export function problemsFor(problems: Problem[], rule: string, field: string): Problem[] {
  return problems.filter((p) => p.rule === rule && p.field === field);
}

type Tab = 'form' | 'json' | 'whatif' | 'modules';

export function RulesPage() {
  const { user, context, module } = useSession();
  const [draft, setDraft] = useState<RuleSet | null>(null);
  const [json, setJson] = useState('');
  const [jsonError, setJsonError] = useState<string | null>(null);
  const [tab, setTab] = useState<Tab>('form');
  const [published, setPublished] = useState<string | null>(null);
  const [publishError, setPublishError] = useState<ApiError | null>(null);

  // Start from the active rule set (and follow it until the user edits).
  const [dirty, setDirty] = useState(false);
  useEffect(() => {
    if (context && !dirty) {
      setDraft(structuredClone(context.rule_set));
      setJson(JSON.stringify(context.rule_set, null, 2));
    }
  }, [context, dirty]);

  const problems = useMemo(() => (module && draft ? validateDraft(module, draft) : []), [module, draft]);

  function update(next: RuleSet) {
    setDraft(next);
    setJson(JSON.stringify(next, null, 2));
    setJsonError(null);
    setDirty(true);
    setPublished(null);
  }

  function editJson(text: string) {
    setJson(text);
    setDirty(true);
    try {
      setDraft(JSON.parse(text) as RuleSet);
      setJsonError(null);
    } catch (e) {
      setJsonError(String(e instanceof Error ? e.message : e));
    }
  }

  async function publish() {
    if (!draft || !context) return;
    setPublishError(null);
    try {
      const next = { ...draft, version: context.rule_set_version + 1 };
      await api.publish(next);
      setPublished(`Published version ${next.version}.`);
      setDirty(false);
    } catch (e) {
      setPublishError(e instanceof ApiError ? e : new ApiError(0, 'network', String(e)));
    }
  }

  if (!draft || !context) return <p className="muted">Loading rules…</p>;

  return (
    <section className="rules-page">
      <div className="toolbar">
        <h2>Rules</h2>
        <span className="muted">
          active: v{context.rule_set_version}, module <Hash value={context.module_sha256} />
        </span>
        <span className="spacer" />
        <span className={problems.length || jsonError ? 'error' : 'ok'} data-testid="validation-state">
          {jsonError ? 'JSON does not parse' : problems.length ? `${problems.length} problem(s)` : 'valid'}
        </span>
        <button onClick={() => void publish()} disabled={!!jsonError || problems.length > 0 || !dirty} data-testid="publish">
          Publish v{context.rule_set_version + 1}
        </button>
        {dirty && (
          <button className="secondary" onClick={() => setDirty(false)}>
            Discard
          </button>
        )}
      </div>
      {published && <p className="ok" role="status">{published}</p>}
      {publishError && (
        <p className="error" role="alert">
          {publishError.code}: {publishError.message}
        </p>
      )}
      <div className="tabs" role="tablist">
        {(['form', 'json', 'whatif', ...(atLeast(user, 'admin') ? ['modules'] : [])] as Tab[]).map((t) => (
          <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? 'tab active' : 'tab'} onClick={() => setTab(t)}>
            {{ form: 'Rules', json: 'Raw JSON', whatif: 'What-if', modules: 'Modules' }[t]}
          </button>
        ))}
      </div>
      {problems.length > 0 && (
        <ul className="problems" data-testid="problems">
          {problems.map((p, i) => (
            <li key={i}>{p.message}</li>
          ))}
        </ul>
      )}
      {tab === 'form' && <RuleForms draft={draft} problems={problems} onChange={update} />}
      {tab === 'json' && (
        <div className="panel">
          <textarea className="json" aria-label="rule set JSON" spellCheck={false} value={json} onChange={(e) => editJson(e.target.value)} rows={30} />
          {jsonError && <p className="error">{jsonError}</p>}
        </div>
      )}
      {tab === 'whatif' && module && <WhatIf draft={draft} module={module} valid={!problems.length && !jsonError} />}
      {tab === 'modules' && <Modules />}
    </section>
  );
}

function FieldProblems({ problems }: { problems: Problem[] }) {
  if (!problems.length) return null;
  return (
    <span className="field-error" role="alert">
      {problems.map((p) => p.message).join('; ')}
    </span>
  );
}

function RemoveCell({ rule, onRemove }: { rule: string; onRemove: () => void }) {
  return (
    <td>
      <button className="link" onClick={onRemove} aria-label={`remove ${rule}`}>
        Remove
      </button>
    </td>
  );
}

function RuleForms({ draft, problems, onChange }: { draft: RuleSet; problems: Problem[]; onChange: (r: RuleSet) => void }) {
  const edit = <K extends 'prioritization' | 'assignment' | 'escalation'>(kind: K, i: number, patch: Partial<RuleSet[K][number]>) => {
    const list = draft[kind].map((r, j) => (j === i ? { ...r, ...patch } : r));
    onChange({ ...draft, [kind]: list });
  };
  const remove = (kind: 'prioritization' | 'assignment' | 'escalation', i: number) =>
    onChange({ ...draft, [kind]: draft[kind].filter((_, j) => j !== i) });
  const add = <K extends 'prioritization' | 'assignment' | 'escalation'>(kind: K, rule: RuleSet[K][number]) =>
    onChange({ ...draft, [kind]: [...draft[kind], rule] });
  const unique = (prefix: string, list: { id: string }[]) => {
    let n = list.length + 1;
    while (list.some((r) => r.id === `${prefix}-${n}`)) n++;
    return `${prefix}-${n}`;
  };

  return (
    <div className="rule-forms">
      <div className="panel">
        <h3>Prioritization</h3>
        <p className="muted small">
          Whole-word, case-insensitive keywords. When several rules match, the highest priority wins; a priority a person set
          is never lowered unless the rule may lower it. Default priority:{' '}
          <select
            aria-label="default priority"
            value={draft.default_priority ?? 'Medium'}
            onChange={(e) => onChange({ ...draft, default_priority: e.target.value as RuleSet['default_priority'] })}
          >
            {PRIORITIES.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </p>
        <table className="rules">
          <thead>
            <tr>
              <th>Id</th>
              <th>Keywords (comma-separated)</th>
              <th>Priority</th>
              <th>May lower</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {draft.prioritization.map((r, i) => (
              <tr key={i} data-rule={r.id}>
                <td>
                  <input aria-label={`id of prioritization rule ${i + 1}`} value={r.id} onChange={(e) => edit('prioritization', i, { id: e.target.value })} />
                  <FieldProblems problems={problemsFor(problems, r.id, 'id')} />
                </td>
                <td>
                  <input
                    aria-label={`keywords of ${r.id}`}
                    value={r.keywords.join(', ')}
                    onChange={(e) =>
                      edit('prioritization', i, {
                        keywords: e.target.value.split(',').map((k) => k.trim()).filter((k, j, all) => k || j < all.length - 1),
                      })
                    }
                  />
                  <FieldProblems problems={problemsFor(problems, r.id, 'keywords')} />
                </td>
                <td>
                  <select aria-label={`priority of ${r.id}`} value={r.priority} onChange={(e) => edit('prioritization', i, { priority: e.target.value as never })}>
                    {!PRIORITIES.includes(r.priority) && <option>{r.priority}</option>}
                    {PRIORITIES.map((p) => (
                      <option key={p}>{p}</option>
                    ))}
                  </select>
                  <FieldProblems problems={problemsFor(problems, r.id, 'priority')} />
                </td>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`${r.id} may lower a person's priority`}
                    checked={!!r.may_lower}
                    onChange={(e) => edit('prioritization', i, { may_lower: e.target.checked })}
                  />
                </td>
                <RemoveCell rule={r.id} onRemove={() => remove('prioritization', i)} />
              </tr>
            ))}
          </tbody>
        </table>
        <button
          className="secondary"
          onClick={() => add('prioritization', { id: unique('keyword', draft.prioritization), keywords: [''], priority: 'High' })}
        >
          Add prioritization rule
        </button>
      </div>

      <div className="panel">
        <h3>Assignment</h3>
        <p className="muted small">Category → team role, round-robin over available members in a stable order.</p>
        <table className="rules">
          <thead>
            <tr>
              <th>Id</th>
              <th>Category</th>
              <th>Role</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {draft.assignment.map((r, i) => (
              <tr key={i}>
                <td>
                  <input aria-label={`id of assignment rule ${i + 1}`} value={r.id} onChange={(e) => edit('assignment', i, { id: e.target.value })} />
                </td>
                <td>
                  <select aria-label={`category of ${r.id}`} value={r.category} onChange={(e) => edit('assignment', i, { category: e.target.value })}>
                    {!CATEGORIES.includes(r.category) && <option>{r.category}</option>}
                    {CATEGORIES.map((c) => (
                      <option key={c}>{c}</option>
                    ))}
                  </select>
                  <FieldProblems problems={problemsFor(problems, r.id, 'category')} />
                </td>
                <td>
                  <input aria-label={`role of ${r.id}`} value={r.role} onChange={(e) => edit('assignment', i, { role: e.target.value })} />
                  <FieldProblems problems={problemsFor(problems, r.id, 'role')} />
                </td>
                <RemoveCell rule={r.id} onRemove={() => remove('assignment', i)} />
              </tr>
            ))}
          </tbody>
        </table>
        <button
          className="secondary"
          onClick={() => add('assignment', { id: unique('assign', draft.assignment), category: 'Software', role: 'Engineer' })}
        >
          Add assignment rule
        </button>
      </div>

      <div className="panel">
        <h3>Escalation</h3>
        <p className="muted small">
          Time in a status strictly beyond the threshold (ISO 8601 like <code>PT2H</code>) reassigns to a role, once per entry
          into the status.
        </p>
        <table className="rules">
          <thead>
            <tr>
              <th>Id</th>
              <th>Priority</th>
              <th>Status</th>
              <th>After</th>
              <th>Escalate to</th>
              <th>Set priority</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {draft.escalation.map((r, i) => (
              <tr key={i}>
                <td>
                  <input aria-label={`id of escalation rule ${i + 1}`} value={r.id} onChange={(e) => edit('escalation', i, { id: e.target.value })} />
                </td>
                <td>
                  <select aria-label={`priority of ${r.id}`} value={r.priority} onChange={(e) => edit('escalation', i, { priority: e.target.value as never })}>
                    {PRIORITIES.map((p) => (
                      <option key={p}>{p}</option>
                    ))}
                  </select>
                </td>
                <td>
                  <select aria-label={`status of ${r.id}`} value={r.status} onChange={(e) => edit('escalation', i, { status: e.target.value as never })}>
                    {STATUSES.map((s) => (
                      <option key={s}>{s}</option>
                    ))}
                  </select>
                  <FieldProblems problems={problemsFor(problems, r.id, 'status')} />
                </td>
                <td>
                  <input aria-label={`threshold of ${r.id}`} value={String(r.after)} onChange={(e) => edit('escalation', i, { after: e.target.value })} />
                  <FieldProblems problems={problemsFor(problems, r.id, 'after')} />
                </td>
                <td>
                  <input aria-label={`target role of ${r.id}`} value={r.escalate_to_role} onChange={(e) => edit('escalation', i, { escalate_to_role: e.target.value })} />
                  <FieldProblems problems={problemsFor(problems, r.id, 'escalate_to_role')} />
                </td>
                <td>
                  <select
                    aria-label={`new priority of ${r.id}`}
                    value={r.set_priority ?? ''}
                    onChange={(e) => {
                      const { set_priority: _drop, ...rest } = r;
                      void _drop;
                      const list = draft.escalation.map((x, j) =>
                        j === i ? (e.target.value ? { ...rest, set_priority: e.target.value as never } : rest) : x,
                      );
                      onChange({ ...draft, escalation: list as RuleSet['escalation'] });
                    }}
                  >
                    <option value="">unchanged</option>
                    {PRIORITIES.map((p) => (
                      <option key={p}>{p}</option>
                    ))}
                  </select>
                </td>
                <RemoveCell rule={r.id} onRemove={() => remove('escalation', i)} />
              </tr>
            ))}
          </tbody>
        </table>
        <button
          className="secondary"
          onClick={() =>
            add('escalation', { id: unique('escalate', draft.escalation), priority: 'High', status: 'InProgress', after: 'PT4H', escalate_to_role: 'Manager' })
          }
        >
          Add escalation rule
        </button>
      </div>

      {draft.sla && (
        <div className="panel">
          <h3>SLA</h3>
          <label className="inline">
            Warn at{' '}
            <input
              type="number"
              aria-label="warning percent"
              min={1}
              max={99}
              value={draft.sla.warning_bp / 100}
              onChange={(e) => onChange({ ...draft, sla: { ...draft.sla!, warning_bp: Math.round(Number(e.target.value) * 100) } })}
            />
            % of the target
          </label>
          <FieldProblems problems={problemsFor(problems, 'sla', 'warning_bp')} />
          <table className="rules">
            <thead>
              <tr>
                <th>Priority</th>
                <th>First response</th>
                <th>Resolution</th>
              </tr>
            </thead>
            <tbody>
              {draft.sla.targets.map((t, i) => (
                <tr key={t.priority}>
                  <td>
                    <Badge value={t.priority} />
                  </td>
                  {(['first_response', 'resolution'] as const).map((k) => (
                    <td key={k}>
                      <input
                        aria-label={`${k} target for ${t.priority}`}
                        value={String(t[k])}
                        onChange={(e) =>
                          onChange({
                            ...draft,
                            sla: { ...draft.sla!, targets: draft.sla!.targets.map((x, j) => (j === i ? { ...x, [k]: e.target.value } : x)) },
                          })
                        }
                      />
                      <FieldProblems problems={problemsFor(problems, 'sla', `targets[${i}].${k}`)} />
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

/** The draft against the most recent real tickets: who would get another priority or assignee. */
function WhatIf({ draft, module, valid }: { draft: RuleSet; module: BrowserModule; valid: boolean }) {
  const { context } = useSession();
  const name = useNames();
  const [tickets, setTickets] = useState<Ticket[]>([]);
  useEffect(() => {
    void api.tickets({ limit: '50' }).then((p) => setTickets(p.tickets));
  }, []);
  if (!context) return null;
  if (!valid) return <p className="muted">Fix the problems above to see what would change.</p>;
  const rows = tickets.map((t) => {
    const input = {
      context,
      draft: { title: t.title, description: t.description, category: t.category, priority: t.priority_source === 'person' ? (t.priority ?? '') : '' },
      requester: t.requester,
      now: t.created_at,
    } as const;
    const before = preview(module, input);
    const after = preview(module, { ...input, ruleSet: draft });
    const b = before.type === 'success' ? before.answer : null;
    const a = after.type === 'success' ? after.answer : null;
    return { t, b, a };
  });
  const changed = rows.filter(({ b, a }) => b && a && changes(b, a).length > 0);
  return (
    <div className="panel" data-testid="whatif">
      <h3>
        What-if: {changed.length} of the {tickets.length} most recent tickets would be decided differently
      </h3>
      <table className="tickets">
        <thead>
          <tr>
            <th>Ticket</th>
            <th>Title</th>
            <th>Active rules</th>
            <th>Draft</th>
          </tr>
        </thead>
        <tbody>
          {changed.map(({ t, b, a }) => (
            <tr key={t.id}>
              <td>{t.number}</td>
              <td>{t.title}</td>
              <td>
                <Badge value={b!.prioritization.priority} /> {name(b!.assignment.assignee)}
              </td>
              <td>
                <Badge value={a!.prioritization.priority} /> {name(a!.assignment.assignee)}
                <div className="muted small">{changes(b!, a!).join(', ')}</div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function changes(b: Evaluation, a: Evaluation): string[] {
  const out: string[] = [];
  const db = decisionOf(b);
  const da = decisionOf(a);
  if (db.priority !== da.priority) out.push(`priority ${db.priority} → ${da.priority}`);
  if (db.role !== da.role) out.push(`role ${db.role ?? '—'} → ${da.role ?? '—'}`);
  else if (db.assignee !== da.assignee) out.push('assignee');
  const dl = (e: Evaluation) => e.sla?.resolution.deadline_at;
  if (dl(b) !== dl(a)) out.push('deadlines');
  return out;
}

function Modules() {
  const [list, setList] = useState<ModuleList | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [uploaded, setUploaded] = useState<ModuleRecord | null>(null);
  const name = useNames();
  const load = () => void api.modules().then(setList).catch((e) => setError(String(e)));
  useEffect(load, []);
  useLive((e) => {
    if (e.subject === 'rules-modules') load();
  });
  async function run(f: () => Promise<unknown>) {
    setError(null);
    try {
      await f();
      load();
    } catch (e) {
      // An upload rejection names its check (`details[0].check`) and why.
      const check = e instanceof ApiError ? (e.details[0]?.check as string | undefined) : undefined;
      setError(e instanceof ApiError ? `${e.code}${check ? ` (${check})` : ''}: ${e.message}` : String(e));
    }
  }
  if (!list) return <p className="muted">Loading modules…</p>;
  const history = list.modules
    .flatMap((m) => m.activated_at.map((at) => ({ at, sha: m.sha256, name: m.info.name })))
    .sort((a, b) => b.at - a.at);
  return (
    <div className="panel" data-testid="modules">
      <div className="toolbar">
        <h3>Rule modules</h3>
        <span className="spacer" />
        <label className="inline upload">
          Upload a module (.wasm, ≤ 1 MiB)
          <input
            type="file"
            accept=".wasm,application/wasm"
            aria-label="upload a rule module"
            onChange={(e) => {
              const file = e.target.files?.[0];
              e.target.value = '';
              if (file) void run(async () => setUploaded(await api.upload(await file.arrayBuffer())));
            }}
          />
        </label>
        <button className="secondary" onClick={() => void run(api.rollback)}>
          Roll back
        </button>
      </div>
      {uploaded && (
        <p className="ok" role="status">
          Uploaded <Hash value={uploaded.sha256} />: it passed validation and {uploaded.conformance_cases} conformance cases. It is not
          active until you activate it.
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <table className="tickets">
        <thead>
          <tr>
            <th>Module</th>
            <th>Name</th>
            <th>Size</th>
            <th>Conformance</th>
            <th>Uploaded</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.modules.map((m) => (
            <tr key={m.sha256} className={m.active ? 'active' : ''}>
              <td>
                <Hash value={m.sha256} />
              </td>
              <td>
                {m.info.name} {m.info.crate_version}
              </td>
              <td>{(m.size / 1024).toFixed(0)} KiB</td>
              <td>{m.conformance_cases} cases</td>
              <td>
                {name(m.uploaded_by)}, {instant(m.uploaded_at)}
              </td>
              <td>
                {m.active ? (
                  <strong>active</strong>
                ) : (
                  <button onClick={() => void run(() => api.activate(m.sha256))} data-testid={`activate-${m.sha256.slice(0, 12)}`}>
                    Activate
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h4>Activation history</h4>
      <ol className="history">
        {history.map((h, i) => (
          <li key={i}>
            {instant(h.at)}: <Hash value={h.sha} /> {h.name}
          </li>
        ))}
      </ol>
    </div>
  );
}
