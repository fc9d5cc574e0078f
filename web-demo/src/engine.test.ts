import { describe, expect, it } from 'vitest';
import { decisionOf, escalationTimeline, highlightRuns, preview, previewRequest, projectedCounters, recompute, slaClocks } from './engine';
import { demoContext, serverModule, T0 } from './testing';
import type { Ticket } from './api';

const HOUR = 3_600_000;

describe('preview through the server module', () => {
  it('prioritizes by the highest matching rule and marks every match by UTF-16 offset', async () => {
    const module = await serverModule();
    const answer = preview(module, {
      context: demoContext(),
      draft: { title: 'Urgent: checkout is DOWN', description: 'the download page works', category: 'Software' },
      requester: 'u-rita',
      now: T0,
    });
    expect(answer.type).toBe('success');
    if (answer.type !== 'success') return;
    const p = answer.answer.prioritization;
    // urgent → High and down → Critical both match: the highest wins, never first-match.
    expect(p.priority).toBe('Critical');
    expect(p.rule).toBe('down');
    // Whole words only: `download` in the description is not `down`.
    expect(p.matches.map((m) => [m.field, m.keyword, m.start, m.end])).toEqual([
      ['title', 'urgent', 0, 6],
      ['title', 'down', 20, 24],
    ]);
  });

  it('projects the next agent in rotation from the current counter plus one', async () => {
    const module = await serverModule();
    const context = demoContext();
    expect(projectedCounters(context.counters).Engineer).toBe(5);
    const answer = preview(module, {
      context,
      draft: { title: 'Deploy the release', description: '', category: 'ProductionChange' },
      requester: 'u-rita',
      now: T0,
    });
    if (answer.type !== 'success') throw new Error(JSON.stringify(answer));
    const a = answer.answer.assignment;
    expect(a.role).toBe('Engineer');
    expect(a.counter).toBe(5);
    // Stable order by id: [u-alice, u-bob]; counter n takes slot (n - 1) mod 2, so the first
    // INCR (1) goes to the first member and 5 to slot 0.
    expect(a.eligible).toEqual(['u-alice', 'u-bob']);
    expect(a.assignee).toBe('u-alice');
    const next = preview(module, {
      context: { ...context, counters: { Engineer: 5 } },
      draft: { title: 'Deploy the release', description: '', category: 'ProductionChange' },
      requester: 'u-rita',
      now: T0,
    });
    expect(next.type === 'success' && next.answer.assignment.assignee).toBe('u-bob');
  });

  it('skips unavailable members and says why', async () => {
    const module = await serverModule();
    const answer = preview(module, {
      context: demoContext(),
      draft: { title: 'Laptop broken', description: '', category: 'Hardware' },
      requester: 'u-rita',
      now: T0,
    });
    if (answer.type !== 'success') throw new Error(JSON.stringify(answer));
    expect(answer.answer.assignment.assignee).toBe('u-hana');
    expect(answer.answer.assignment.skipped).toEqual([{ user: 'u-hugo', reason: 'unavailable' }]);
  });

  it('gives SLA deadlines from the priority targets', async () => {
    const module = await serverModule();
    const answer = preview(module, {
      context: demoContext(),
      draft: { title: 'Mail outage', description: '', category: 'Software' },
      requester: 'u-rita',
      now: T0,
    });
    if (answer.type !== 'success') throw new Error(JSON.stringify(answer));
    const sla = answer.answer.sla!;
    expect(sla.priority).toBe('Critical');
    expect(sla.first_response.target_ms).toBe(HOUR);
    expect(sla.resolution.target_ms).toBe(4 * HOUR);
  });

  it('draws the escalation timeline per status that has rules', async () => {
    const module = await serverModule();
    const input = { context: demoContext(), draft: { title: 'Mail outage', description: '', category: 'Software' }, requester: 'u-rita', now: T0 };
    const timeline = escalationTimeline(module, input, 'Critical');
    const flat = timeline.flatMap((t) => t.escalations.map((e) => [t.status, e.rule, e.due_at - T0, e.role, e.assignee]));
    // Strictly beyond the threshold: due one millisecond after it.
    expect(flat).toEqual([
      ['Approved', 'critical-approved-2h', 2 * HOUR + 1, 'Manager', 'u-maria'],
      ['InProgress', 'critical-in-progress-24h', 24 * HOUR + 1, 'Director', 'u-dan'],
    ]);
    // Without a keyword nothing raises a Low ticket, and no rule escalates Low.
    const low = escalationTimeline(module, { ...input, draft: { ...input.draft, title: 'Mail question' } }, 'Low');
    expect(low.every((t) => t.escalations.length === 0)).toBe(true);
  });

  it('keeps a person-set priority unless a rule may lower it', async () => {
    const module = await serverModule();
    const answer = preview(module, {
      context: demoContext(),
      draft: { title: 'question', description: '', category: 'Software', priority: 'High' },
      requester: 'u-rita',
      now: T0,
    });
    if (answer.type !== 'success') throw new Error(JSON.stringify(answer));
    expect(answer.answer.prioritization.priority).toBe('High');
  });

  it('returns the module’s structured problems for a bad rule set instead of throwing', async () => {
    const module = await serverModule();
    const context = demoContext();
    const bad = structuredClone(context.rule_set);
    bad.prioritization[0].priority = 'P9' as never;
    const answer = preview(module, { context, ruleSet: bad, draft: { title: 'x', description: '', category: 'Software' }, requester: 'u', now: T0 });
    expect(answer.type).toBe('failure');
    if (answer.type === 'failure') expect(answer.errors[0]).toMatchObject({ rule: 'urgent', field: 'priority' });
  });

  it('recomputes a stored decision from the inputs the server recorded', async () => {
    const module = await serverModule();
    const context = demoContext();
    // The server took counter 9 (someone else took turn 5 meanwhile); its decision is u-bob.
    const ticket = {
      id: 'TKT-x',
      title: 'Deploy the release',
      description: '',
      category: 'ProductionChange',
      requester: 'u-rita',
      priority: 'Medium',
      priority_source: 'automation',
      created_at: T0 + 1000,
    } as unknown as Ticket;
    const server = preview(module, { context: { ...context, counters: { Engineer: 8 } }, draft: { title: ticket.title, description: ticket.description, category: ticket.category }, requester: 'u-rita', now: T0 + 1000 });
    if (server.type !== 'success') throw new Error('server');
    const again = recompute(module, context, ticket, server.answer, context.rule_set);
    if (again.type !== 'success') throw new Error('recompute');
    expect(decisionOf(again.answer)).toEqual(decisionOf(server.answer));
    expect(again.answer.assignment.counter).toBe(9);
  });

  it('reads SLA clocks of a stored ticket at a later instant', async () => {
    const module = await serverModule();
    const t = {
      id: 'TKT-y',
      title: 'Mail outage',
      description: '',
      category: 'Software',
      requester: 'u-rita',
      priority: 'Critical',
      priority_source: 'automation',
      status: 'InApproval',
      assignee: null,
      created_at: T0,
      history: [{ status: 'InApproval', at: T0 }],
      first_response_at: null,
      escalations_fired: [],
    } as unknown as Ticket;
    const context = demoContext();
    expect(slaClocks(module, context.rule_set, t, T0 + 10 * 60_000)!.first_response.state).toBe('ok');
    expect(slaClocks(module, context.rule_set, t, T0 + 50 * 60_000)!.first_response.state).toBe('warning');
    expect(slaClocks(module, context.rule_set, t, T0 + 2 * HOUR)!.first_response.state).toBe('breached');
  });

  it('builds the same request shape as the server preview', () => {
    const r = previewRequest({ context: demoContext(), draft: { title: 't', description: 'd', category: 'c' }, requester: 'u', now: T0 });
    expect(r.ticket).toEqual({
      id: 'preview',
      title: 't',
      description: 'd',
      category: 'c',
      requester: 'u',
      priority_source: 'person',
      status: 'InApproval',
      created_at: T0,
      history: [{ status: 'InApproval', at: T0 }],
    });
  });
});

describe('highlightRuns', () => {
  it('splits text into plain and marked runs', () => {
    expect(highlightRuns('the server is down now', [{ start: 14, end: 18, rule: 'down' }])).toEqual([
      { text: 'the server is ' },
      { text: 'down', rule: 'down' },
      { text: ' now' },
    ]);
  });

  it('counts offsets in UTF-16 like the module does', async () => {
    const module = await serverModule();
    const title = '😀 Ünïcode OUTAGE';
    const answer = preview(module, { context: demoContext(), draft: { title, description: '', category: 'Software' }, requester: 'u', now: T0 });
    if (answer.type !== 'success') throw new Error('preview');
    const runs = highlightRuns(title, answer.answer.prioritization.matches);
    expect(runs.find((r) => r.rule)?.text).toBe('OUTAGE');
  });

  it('paints overlapping matches once', () => {
    expect(highlightRuns('abcdef', [{ start: 0, end: 4, rule: 'a' }, { start: 2, end: 6, rule: 'b' }])).toEqual([
      { text: 'abcd', rule: 'a' },
      { text: 'ef' },
    ]);
  });
});
