import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { Highlighted } from './components/Highlighted';
import { Timeline } from './components/Timeline';
import { BarChart } from './components/BarChart';
import { duration, percent } from './components/format';
import { matches } from './pages/Board';
import { problemsFor, validateDraft } from './pages/Rules';
import { defaultRuleSet, serverModule } from './testing';
import type { CloudEvent, Ticket } from './api';

afterEach(cleanup);

function event(id: string, type: string, extra: Partial<CloudEvent> = {}): CloudEvent {
  return {
    id,
    type,
    subject: 't-1',
    time: '2026-01-05T09:00:00.000Z',
    data: {},
    correlationid: 'c-1',
    causationid: null,
    actor: 'u-rita',
    streamversion: 1,
    sequence: 1,
    ...extra,
  };
}

describe('Highlighted', () => {
  it('marks exactly the matched words of its field', () => {
    render(
      <Highlighted
        text="Checkout is DOWN"
        field="title"
        matches={[
          { rule: 'down', keyword: 'down', field: 'title', start: 12, end: 16 },
          { rule: 'urgent', keyword: 'urgent', field: 'description', start: 0, end: 6 },
        ]}
      />,
    );
    const marks = screen.getByTestId('highlight-title').querySelectorAll('mark');
    expect([...marks].map((m) => m.textContent)).toEqual(['DOWN']);
    expect(marks[0].getAttribute('title')).toBe('rule down');
  });
});

describe('Timeline', () => {
  it('links each event to its cause and its effects, and shows module provenance', () => {
    const created = event('e1', 'ticket.created', { data: { title: 'Mail outage', category: 'Software' } });
    const evaluated = event('e2', 'automation.rule_evaluated', {
      causationid: 'e1',
      actor: 'automation',
      streamversion: 2,
      data: {
        provenance: { module_sha256: 'abcdef0123456789', rule_set_version: 3, trigger: 'ticket.created' },
        evaluation: { trace: [{ kind: 'prioritization', rule: 'outage', matched: true, conditions: [] }] },
      },
    });
    render(<Timeline events={[created, evaluated]} name={(id) => id} />);
    const items = screen.getByTestId('timeline').querySelectorAll('li.event');
    expect(items).toHaveLength(2);
    expect(items[1].querySelector('a.cause')?.getAttribute('href')).toBe('#ev-e1');
    expect(items[0].querySelector('.effects a')?.getAttribute('href')).toBe('#ev-e2');
    expect(items[1].querySelector('.provenance')?.textContent).toContain('rule set v3');
    expect(items[1].querySelector('.hash')?.getAttribute('data-value')).toBe('abcdef0123456789');
    // The trace renders its rules only when opened.
    const trace = items[1].querySelector('details.trace') as HTMLDetailsElement;
    expect(trace.textContent).toBe('Why: 1 rules considered, 1 matched');
    trace.open = true;
    fireEvent(trace, new Event('toggle'));
    expect(trace.textContent).toContain('outage matched');
    expect(items[0].textContent).toContain('filed “Mail outage” in Software');
  });
});

describe('BarChart', () => {
  it('draws one bar per known value and marks unknown ones n/a', () => {
    const { container } = render(
      <BarChart
        categories={['Critical', 'High']}
        series={[
          { label: 'first response', className: 'a', values: [5000, null] },
          { label: 'resolution', className: 'b', values: [10000, 0] },
        ]}
        format={percent}
      />,
    );
    expect(container.querySelectorAll('rect')).toHaveLength(3);
    expect(container.textContent).toContain('n/a');
    expect(container.querySelector('rect title')?.textContent).toBe('Critical first response: 50.0%');
    // Every known value is written above its bar, 0 % included.
    expect([...container.querySelectorAll('text.value')].map((t) => t.textContent)).toEqual(['50.0%', '100.0%', '0.0%']);
  });
});

describe('format', () => {
  it('reads durations and basis points', () => {
    expect(duration(2 * 3_600_000 + 5 * 60_000)).toBe('2h 5m');
    expect(duration(-(3 * 86_400_000 + 4 * 3_600_000))).toBe('3d 4h');
    expect(duration(45_000)).toBe('45s');
    expect(percent(3333)).toBe('33.3%');
    expect(percent(null)).toBe('—');
  });
});

describe('board filter for live arrivals', () => {
  const t = { title: 'Mail outage', description: '', number: 'TKT-20260105-0001', status: 'InApproval', priority: 'Critical', category: 'Software', assignee: null } as unknown as Ticket;
  it('places a ticket only under a filter it matches', () => {
    const empty = { status: '', priority: '', category: '', assignee: '', q: '' };
    expect(matches(t, empty)).toBe(true);
    expect(matches(t, { ...empty, priority: 'Critical', q: 'OUTAGE' })).toBe(true);
    expect(matches(t, { ...empty, q: '0001' })).toBe(true);
    expect(matches(t, { ...empty, status: 'Approved' })).toBe(false);
    expect(matches(t, { ...empty, assignee: 'u-bob' })).toBe(false);
  });
});

describe('rule validation pinned to fields', () => {
  it('pins each module problem to its rule and field', async () => {
    const module = await serverModule();
    const draft = defaultRuleSet();
    draft.prioritization[1].priority = 'P9' as never;
    draft.escalation[0].after = '2 hours';
    draft.sla!.targets[0].resolution = 'soon';
    const problems = validateDraft(module, draft);
    expect(problems).toHaveLength(3);
    expect(problemsFor(problems, 'outage', 'priority')[0].message).toBe('unknown priority `P9` in rule `outage`');
    expect(problemsFor(problems, 'critical-approved-2h', 'after')).toHaveLength(1);
    expect(problemsFor(problems, 'sla', 'targets[0].resolution')).toHaveLength(1);
    expect(problemsFor(problems, 'urgent', 'priority')).toHaveLength(0);
    expect(validateDraft(module, defaultRuleSet())).toEqual([]);
  });
});
