// Previews in the browser, computed by the very bytes the server decides with: the active rule
// module is fetched from /api/rules/modules/{sha256}.wasm (immutable, cached forever) and called
// through pkg/'s HostModule, exactly as Wasmtime calls it. Nothing here decides anything itself.

import init, { HostModule } from '@nixflow/rules-wasm';
import type { Evaluation, PreviewContext, Priority, RuleSet, SlaStatus, Ticket } from './api';

/** A codec answer: `success` with the op's answer, or the codec's structured problems. */
export type Answer<T> =
  | { type: 'success'; op: string; answer: T }
  | { type: 'failure'; errors: { code: string; message: string; path?: string; rule?: string; field?: string }[] };

/** A rule module instantiated in this page. */
export class BrowserModule {
  constructor(
    readonly sha256: string,
    private readonly host: { call(request: string): string },
  ) {}

  /** One codec request, as JSON text in and out (what the parity corpus compares). */
  callText(request: string): string {
    return this.host.call(request);
  }

  call<T>(request: object): Answer<T> {
    return JSON.parse(this.host.call(JSON.stringify(request))) as Answer<T>;
  }
}

let pkgReady: Promise<unknown> | null = null;

/** Loads pkg/ (the ABI client) once. */
export function loadPackage(): Promise<unknown> {
  pkgReady ??= init();
  return pkgReady;
}

/** Instantiates module bytes with no imports (none are allowed, as on the server). */
export async function instantiate(sha256: string, bytes: BufferSource): Promise<BrowserModule> {
  await loadPackage();
  const { instance } = await WebAssembly.instantiate(bytes, {});
  return new BrowserModule(sha256, new HostModule(instance));
}

const cache = new Map<string, Promise<BrowserModule>>();

/** The module with this hash, fetched once per page (the server marks the bytes immutable). */
export function moduleFor(sha256: string, headers: Record<string, string>): Promise<BrowserModule> {
  let m = cache.get(sha256);
  if (!m) {
    m = fetch(`/api/rules/modules/${sha256}.wasm`, { headers }).then(async (r) => {
      if (!r.ok) throw new Error(`module ${sha256.slice(0, 12)}: HTTP ${r.status}`);
      return instantiate(sha256, await r.arrayBuffer());
    });
    m.catch(() => cache.delete(sha256));
    cache.set(sha256, m);
  }
  return m;
}

export interface Draft {
  title: string;
  description: string;
  category: string;
  /** A priority the person chose, if any. */
  priority?: Priority | '';
}

/** The ticket a draft would become at `now`: what the server's own preview evaluates. */
export function draftTicket(draft: Draft, requester: string, now: number) {
  return {
    id: 'preview',
    title: draft.title,
    description: draft.description,
    category: draft.category,
    requester,
    ...(draft.priority ? { priority: draft.priority } : {}),
    priority_source: 'person',
    status: 'InApproval',
    created_at: now,
    history: [{ status: 'InApproval', at: now }],
  };
}

/**
 * The counters a new ticket would see: each role's current value plus one, because the next
 * assignment takes the next turn. The module reads only the role it assigns to.
 */
export function projectedCounters(current: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(current).map(([role, value]) => [role, value + 1]));
}

export interface PreviewInput {
  context: PreviewContext;
  ruleSet?: RuleSet;
  draft: Draft;
  requester: string;
  now: number;
}

/** The `evaluate` request for a draft, as the server would send it. */
export function previewRequest({ context, ruleSet, draft, requester, now }: PreviewInput) {
  return {
    op: 'evaluate',
    rule_set: ruleSet ?? context.rule_set,
    ticket: draftTicket(draft, requester, now),
    now,
    users: context.users,
    counters: projectedCounters(context.counters),
  };
}

export function preview(module: BrowserModule, input: PreviewInput): Answer<Evaluation> {
  return module.call<Evaluation>(previewRequest(input));
}

/** What a submitted ticket is compared on: the decision, not the explanation. */
export interface Decision {
  priority: Priority | null;
  role: string | null;
  assignee: string | null;
}

export function decisionOf(e: Evaluation): Decision {
  return {
    priority: e.prioritization.priority,
    role: e.assignment.role ?? null,
    assignee: e.assignment.assignee ?? null,
  };
}

/**
 * Recomputes the server's decision for a stored ticket in the browser from the inputs the server
 * recorded (its counter value, its instant, its rule set), so a difference can only come from
 * the module, never from timing. `null` when the decision needs no counter or has none.
 */
export function recompute(
  module: BrowserModule,
  context: PreviewContext,
  ticket: Ticket,
  server: Evaluation,
  ruleSet: RuleSet,
): Answer<Evaluation> {
  const role = server.assignment.role;
  const counters = role != null && server.assignment.counter != null ? { [role]: server.assignment.counter } : {};
  return module.call<Evaluation>({
    op: 'evaluate',
    rule_set: ruleSet,
    ticket: {
      ...draftTicket(
        { title: ticket.title, description: ticket.description, category: ticket.category },
        ticket.requester,
        ticket.created_at,
      ),
      ...(ticket.priority_source === 'person' && ticket.priority ? { priority: ticket.priority } : {}),
    },
    now: ticket.created_at,
    users: context.users,
    counters,
  });
}

/** Splits text into plain and highlighted runs by UTF-16 offsets (the module's match offsets). */
export function highlightRuns(text: string, spans: { start: number; end: number; rule: string }[]) {
  const sorted = [...spans].sort((a, b) => a.start - b.start || b.end - a.end);
  const runs: { text: string; rule?: string }[] = [];
  let at = 0;
  for (const s of sorted) {
    if (s.start < at) continue; // overlapping matches: the first one wins the paint
    if (s.start > at) runs.push({ text: text.slice(at, s.start) });
    runs.push({ text: text.slice(s.start, s.end), rule: s.rule });
    at = s.end;
  }
  if (at < text.length) runs.push({ text: text.slice(at) });
  return runs;
}

/**
 * The escalation timeline of a draft: for each status that has escalation rules, what the module
 * says would escalate if the ticket entered that status now with the previewed priority.
 */
export function escalationTimeline(module: BrowserModule, input: PreviewInput, priority: Priority) {
  const rules = (input.ruleSet ?? input.context.rule_set).escalation ?? [];
  const statuses = [...new Set(rules.map((r) => r.status))];
  return statuses.map((status) => {
    const base = draftTicket(input.draft, input.requester, input.now);
    const ticket = {
      ...base,
      priority,
      priority_source: input.draft.priority ? 'person' : 'automation',
      status,
      history: [...base.history, { status, at: input.now }],
    };
    const answer = module.call<Evaluation>({
      op: 'evaluate',
      rule_set: input.ruleSet ?? input.context.rule_set,
      ticket,
      now: input.now,
      users: input.context.users,
      counters: projectedCounters(input.context.counters),
    });
    return { status, escalations: answer.type === 'success' ? answer.answer.escalations : [] };
  });
}

/** A stored ticket as the module reads it (the server's `TicketState::to_rules`). */
export function rulesTicket(t: Ticket) {
  return {
    id: t.id,
    title: t.title,
    description: t.description,
    category: t.category,
    requester: t.requester,
    ...(t.priority ? { priority: t.priority } : {}),
    priority_source: t.priority_source,
    status: t.status,
    ...(t.assignee ? { assignee: t.assignee } : {}),
    created_at: t.created_at,
    history: t.history,
    ...(t.first_response_at != null ? { first_response_at: t.first_response_at } : {}),
    escalations_fired: t.escalations_fired,
  };
}

/** SLA clocks of a stored ticket at `now`, by the module; null when no target applies. */
export function slaClocks(module: BrowserModule, ruleSet: RuleSet, t: Ticket, now: number): SlaStatus | null {
  const answer = module.call<{ sla: SlaStatus | null }>({ op: 'sla_status', rule_set: ruleSet, ticket: rulesTicket(t), now });
  return answer.type === 'success' ? answer.answer.sla : null;
}
