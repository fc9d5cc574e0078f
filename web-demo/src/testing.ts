// Test helpers: the pkg/ package and the server's rule module, loaded from disk the way the
// browser loads them from the server (same bytes, no imports).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { initSync, defaultRuleSetJson } from '@nixflow/rules-wasm';
import { instantiate, type BrowserModule } from './engine';
import type { PreviewContext, RuleSet } from './api';

// Vitest runs in web-demo/; pkg/ and build/ are the workspace's build outputs beside it.
const root = resolve(process.cwd(), '..');
initSync({ module: readFileSync(resolve(root, 'pkg/nixflow_rules_bg.wasm')) });

let loaded: Promise<BrowserModule> | null = null;

/** build/nixflow_rules.wasm: the module the server hosts, called through pkg/'s HostModule. */
export function serverModule(): Promise<BrowserModule> {
  loaded ??= instantiate('test', readFileSync(resolve(root, 'build/nixflow_rules.wasm')));
  return loaded;
}

export const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

export function defaultRuleSet(): RuleSet {
  return JSON.parse(defaultRuleSetJson()) as RuleSet;
}

/** A preview context like the server's demo data. */
export function demoContext(): PreviewContext {
  const users = [
    { id: 'u-alice', roles: ['Engineer'], available: true, open_tickets: 0 },
    { id: 'u-bob', roles: ['Engineer'], available: true, open_tickets: 0 },
    { id: 'u-hana', roles: ['Hardware Engineer'], available: true, open_tickets: 0 },
    { id: 'u-hugo', roles: ['Hardware Engineer'], available: false, open_tickets: 0 },
    { id: 'u-maria', roles: ['Manager'], available: true, open_tickets: 0 },
    { id: 'u-dan', roles: ['Director'], available: true, open_tickets: 0 },
  ];
  return {
    rule_set_version: 1,
    rule_set: defaultRuleSet(),
    module_sha256: 'test',
    roles: {},
    users,
    counters: { Engineer: 4, 'Hardware Engineer': 0, Manager: 0, Director: 0 },
    now: T0,
  };
}
