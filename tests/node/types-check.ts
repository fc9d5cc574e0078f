// Compiled with `tsc --noEmit` by ./x.sh test: the generated .d.ts of pkg/ must type real use.
import { RuleEngine, call, moduleInfo, defaultRuleSetJson } from '../../pkg/nixflow_rules.js';
import type { Evaluation, EvaluateInput, RuleSetSpec, Priority, ModuleInfo } from '../../pkg/nixflow_rules.js';

const spec: RuleSetSpec = JSON.parse(defaultRuleSetJson());
const engine = new RuleEngine(spec);
const input: EvaluateInput = {
  ticket: { title: 'Email outage', category: 'Software', created_at: 1735689600000 },
  now: 1735689600000,
  users: [{ id: 'u-1', roles: ['Engineer'] }],
  counters: { Engineer: 1 },
};
const evaluation: Evaluation = engine.evaluate(input);
const priority: Priority = evaluation.prioritization.priority;
// `None` crosses as `null`, as in every codec answer (not `undefined`).
const assignee: string | null = evaluation.assignment.assignee;
const info: ModuleInfo = moduleInfo();
const answer: string = call(JSON.stringify({ op: 'module_info' }));
export { priority, assignee, info, answer };
