// The HTTP client: one `request` function, the server's error body as a typed exception, and
// the shapes the pages read. The OpenAPI document at /api/openapi.json is the full contract.

export type Priority = 'Low' | 'Medium' | 'High' | 'Critical';
export type Status = 'InApproval' | 'Approved' | 'Rejected' | 'InProgress' | 'OnHold' | 'Resolved' | 'Closed';
export type Permission = 'requester' | 'agent' | 'manager' | 'admin';

export const PRIORITIES: Priority[] = ['Critical', 'High', 'Medium', 'Low'];
export const STATUSES: Status[] = ['InApproval', 'Approved', 'Rejected', 'InProgress', 'OnHold', 'Resolved', 'Closed'];
export const CATEGORIES = ['Software', 'Hardware', 'ProductionChange', 'Access', 'Other'];

export interface User {
  id: string;
  username: string;
  name: string;
  permission: Permission;
  team_roles: string[];
  available: boolean;
  max_open_tickets: number | null;
}

export interface Session {
  token: string;
  expires_at: number;
  user: User;
}

export interface StatusEntry {
  status: Status;
  at: number;
}

export interface Comment {
  author: string;
  body: string;
  at: number;
}

export interface SlaRecord {
  [key: string]: unknown;
}

export interface Ticket {
  id: string;
  number: string;
  title: string;
  description: string;
  category: string;
  requester: string;
  priority: Priority | null;
  priority_source: 'person' | 'automation';
  status: Status;
  assignee: string | null;
  created_at: number;
  updated_at: number;
  history: StatusEntry[];
  first_response_at: number | null;
  escalations_fired: { rule: string; entered_at: number; at?: number }[];
  comments: Comment[];
  version: number;
  rule_set_version: number | null;
  module_sha256: string | null;
  sla?: SlaRecord | null;
}

export interface TicketPage {
  tickets: Ticket[];
  next_cursor: string | null;
}

export interface TicketResponse {
  ticket: Ticket;
  automation: Evaluation | null;
  automation_error: string | null;
  events: { id: string; type: string }[];
}

/** A CloudEvents 1.0 envelope with NixFlow's extensions. */
export interface CloudEvent {
  id: string;
  type: string;
  subject: string;
  time: string;
  data: Record<string, unknown>;
  correlationid: string | null;
  causationid: string | null;
  actor: string;
  streamversion: number;
  sequence: number;
}

export interface KeywordMatch {
  rule: string;
  keyword: string;
  field: 'title' | 'description';
  start: number;
  end: number;
}

export interface TraceEntry {
  kind: 'prioritization' | 'assignment' | 'escalation' | 'sla';
  rule: string;
  matched: boolean;
  conditions: { condition: string; passed: boolean; expected: string; saw: string }[];
  note?: string;
}

export interface SlaClock {
  deadline: number;
  state: 'ok' | 'warning' | 'breached' | 'paused' | 'met';
  remaining_ms: number;
  [key: string]: unknown;
}

export interface SlaStatus {
  priority: Priority;
  first_response: SlaClock;
  resolution: SlaClock;
  [key: string]: unknown;
}

export interface Escalation {
  rule: string;
  due_at: number;
  [key: string]: unknown;
}

export interface Evaluation {
  rule_set_version: number;
  prioritization: {
    priority: Priority;
    priority_source: string;
    changed: boolean;
    outcome: string;
    rule?: string | null;
    matches: KeywordMatch[];
    reason: string;
  };
  assignment: {
    outcome: string;
    rule?: string | null;
    role?: string | null;
    assignee?: string | null;
    counter?: number | null;
    eligible: string[];
    skipped: { user: string; reason: string }[];
    reason: string;
  };
  sla?: SlaStatus | null;
  escalations: Escalation[];
  next_wake_up?: { at: number; [key: string]: unknown } | null;
  trace?: TraceEntry[];
}

export interface Member {
  id: string;
  name: string;
  available: boolean;
  open_tickets: number;
  max_open_tickets: number | null;
}

export interface PreviewContext {
  rule_set_version: number;
  rule_set: RuleSet;
  module_sha256: string;
  roles: Record<string, Member[]>;
  users: unknown[];
  counters: Record<string, number>;
  now: number;
}

export interface RuleSet {
  version: number;
  default_priority?: Priority;
  prioritization: PrioritizationRule[];
  assignment: AssignmentRule[];
  escalation: EscalationRule[];
  sla?: SlaPolicy;
  [key: string]: unknown;
}

export interface PrioritizationRule {
  id: string;
  keywords: string[];
  priority: Priority;
  category?: string;
  requester?: string;
  [key: string]: unknown;
}

export interface AssignmentRule {
  id: string;
  category: string;
  role: string;
  [key: string]: unknown;
}

export interface EscalationRule {
  id: string;
  priority: Priority;
  status: Status;
  after: string;
  escalate_to_role: string;
  set_priority?: Priority;
  [key: string]: unknown;
}

export interface SlaPolicy {
  warning_bp: number;
  pause_statuses: Status[];
  targets: { priority: Priority; first_response: string; resolution: string }[];
}

export interface ModuleRecord {
  sha256: string;
  size: number;
  abi_version: number;
  info: { name?: string; crate_version?: string; rule_kinds?: string[] };
  conformance_cases: number;
  uploaded_by: string;
  uploaded_at: number;
  [key: string]: unknown;
}

export interface ModuleList {
  active: string;
  /** Each record with whether it is active and every instant it was activated. */
  modules: (ModuleRecord & { active: boolean; activated_at: number[] })[];
}

/** The server's error body: a stable code, a message, and per-field details. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: { field?: string; rule?: string; message?: string; [key: string]: unknown }[] = [],
  ) {
    super(message);
  }
}

let token: string | null = null;

/** Dispatched on `window` when the server refuses the session's token. */
export const UNAUTHORIZED = 'nixflow:unauthorized';

export function setToken(t: string | null): void {
  token = t;
}

export function authHeaders(): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export async function request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const response = await fetch(path, {
    method,
    headers: { ...authHeaders(), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: fall through with the raw text as the message.
  }
  if (!response.ok) {
    const e = (json ?? {}) as { code?: string; message?: string; details?: ApiError['details'] };
    // An expired or revoked session: the app signs out instead of failing page by page.
    if (response.status === 401 && token) window.dispatchEvent(new Event(UNAUTHORIZED));
    throw new ApiError(response.status, e.code ?? `http_${response.status}`, e.message ?? (text || response.statusText), e.details ?? []);
  }
  return json as T;
}

export const api = {
  login: (username: string, password: string) => request<Session>('POST', '/api/auth/login', { username, password }),
  logout: () => request<void>('POST', '/api/auth/logout'),
  me: () => request<User>('GET', '/api/auth/me'),
  users: () => request<User[]>('GET', '/api/users'),
  tickets: (filter: Record<string, string>) => {
    const q = new URLSearchParams(Object.entries(filter).filter(([, v]) => v !== ''));
    return request<TicketPage>('GET', `/api/tickets?${q}`);
  },
  ticket: (id: string) => request<Ticket>('GET', `/api/tickets/${encodeURIComponent(id)}`),
  history: (id: string) => request<CloudEvent[]>('GET', `/api/tickets/${encodeURIComponent(id)}/history`),
  create: (ticket: { title: string; description: string; category: string; priority?: Priority }, idempotencyKey: string) =>
    request<TicketResponse>('POST', '/api/tickets', ticket, { 'Idempotency-Key': idempotencyKey }),
  transition: (id: string, to: Status, reason?: string) =>
    request<TicketResponse>('POST', `/api/tickets/${encodeURIComponent(id)}/transition`, { to, reason }),
  approve: (id: string, reason?: string) => request<TicketResponse>('POST', `/api/tickets/${encodeURIComponent(id)}/approve`, { reason }),
  reject: (id: string, reason?: string) => request<TicketResponse>('POST', `/api/tickets/${encodeURIComponent(id)}/reject`, { reason }),
  assign: (id: string, assignee: string) => request<TicketResponse>('POST', `/api/tickets/${encodeURIComponent(id)}/assign`, { assignee }),
  comment: (id: string, body: string) => request<TicketResponse>('POST', `/api/tickets/${encodeURIComponent(id)}/comments`, { body }),
  acknowledge: (id: string, note: string) =>
    request<TicketResponse>('POST', `/api/tickets/${encodeURIComponent(id)}/sla/acknowledge`, { note }),
  ticketSla: (id: string) =>
    request<{ record: SlaRecord | null; live: SlaStatus | null; next_wake_up: { at: number } | null }>(
      'GET',
      `/api/tickets/${encodeURIComponent(id)}/sla`,
    ),
  previewContext: () => request<PreviewContext>('GET', '/api/rules/preview-context'),
  activeRules: () => request<{ version: number; rule_set: RuleSet; module_sha256: string }>('GET', '/api/rules/active'),
  validate: (ruleSet: unknown) => request<unknown>('POST', '/api/rules/validate', ruleSet),
  publish: (ruleSet: unknown) => request<unknown>('POST', '/api/rules', ruleSet),
  modules: () => request<ModuleList>('GET', '/api/rules/modules'),
  upload: async (bytes: ArrayBuffer) => {
    const response = await fetch('/api/rules/modules', {
      method: 'POST',
      headers: { ...authHeaders(), 'Content-Type': 'application/wasm' },
      body: bytes,
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const details = (body.details ?? []) as ApiError['details'];
      throw new ApiError(response.status, body.code ?? `http_${response.status}`, body.message ?? response.statusText, details);
    }
    return body as ModuleRecord;
  },
  activate: (sha: string) => request<unknown>('POST', `/api/rules/modules/${sha}/activate`, {}),
  rollback: () => request<unknown>('POST', '/api/rules/modules/rollback', {}),
  compliance: (from: string, to: string) =>
    request<ComplianceReport>('GET', `/api/sla/compliance?${new URLSearchParams({ from, to })}`),
  events: (filter: Record<string, string>) => request<CloudEvent[]>('GET', `/api/events?${new URLSearchParams(filter)}`),
};

export interface ComplianceCounts {
  met: number;
  breached: number;
  compliance_bp: number | null;
}

export interface ComplianceReport {
  report: {
    rule_set_version: number;
    from: number;
    to: number;
    by_priority: { priority: Priority; first_response: ComplianceCounts; resolution: ComplianceCounts }[];
    total: { first_response: ComplianceCounts; resolution: ComplianceCounts };
    tickets_without_target: number;
  };
  event_id: string;
}
