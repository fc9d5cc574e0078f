//! The event store: an append-only log with per-stream versions, and the projections written in
//! the same transaction as the events they fold (so a read after a successful write sees it).
//!
//! [`EventStore`] is the seam; [`sqlite::SqliteStore`] is the embedded default. PostgreSQL for
//! several replicas is the next implementation.

pub mod sqlite;

use std::collections::HashMap;

use async_trait::async_trait;
use rules_core::model::Millis;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{EventPayload, TicketState};

/// An event about to be appended.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Globally unique id (UUID v7).
    pub id: String,
    /// What happened.
    pub payload: EventPayload,
    /// When (epoch ms).
    pub time: Millis,
    /// Who did it (user id, or `automation`).
    pub actor: String,
    /// The request or flow this belongs to.
    pub correlation_id: String,
    /// The event that caused this one.
    pub causation_id: Option<String>,
}

/// An event in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Global log position (1-based, gap-free in commit order).
    pub position: i64,
    /// Event id.
    pub id: String,
    /// Stream (ticket id, or `ruleset`).
    pub stream: String,
    /// Version within the stream (1-based).
    pub version: u64,
    /// When (epoch ms).
    pub time: Millis,
    /// Who.
    pub actor: String,
    /// Correlation id.
    pub correlation_id: String,
    /// Causation id.
    pub causation_id: Option<String>,
    /// What happened.
    pub payload: EventPayload,
}

impl StoredEvent {
    /// The CloudEvents 1.0 JSON envelope, with NixFlow's extensions (`correlationid`,
    /// `causationid`, `actor`, `streamversion`, `sequence` = the log position).
    pub fn to_cloud_event(&self) -> serde_json::Value {
        let (kind, data) = match serde_json::to_value(&self.payload) {
            Ok(serde_json::Value::Object(mut m)) => (m.remove("type"), m.remove("data")),
            _ => (None, None),
        };
        serde_json::json!({
            "specversion": "1.0",
            "id": self.id,
            "source": "/nixflow/host-server",
            "type": kind,
            "subject": self.stream,
            "time": rfc3339(self.time),
            "datacontenttype": "application/json",
            "data": data,
            "correlationid": self.correlation_id,
            "causationid": self.causation_id,
            "actor": self.actor,
            "streamversion": self.version,
            "sequence": self.position,
        })
    }
}

/// RFC 3339 UTC with milliseconds.
pub fn rfc3339(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// A stored response for an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// Who sent the request (keys are per caller).
    pub actor: String,
    /// The key.
    pub key: String,
    /// sha256 of method, path and body.
    pub request_hash: String,
    /// The original status code.
    pub status: u16,
    /// The original body.
    pub body: String,
}

/// Everything one command writes, atomically.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    /// The stream appended to.
    pub stream: String,
    /// The stream's version the command decided on (0 = new stream).
    pub expected_version: u64,
    /// The events, in order.
    pub events: Vec<NewEvent>,
    /// The ticket projection after the events.
    pub ticket: Option<TicketState>,
    /// A published rule set: version and JSON.
    pub rule_set: Option<(u64, serde_json::Value)>,
    /// Round-robin counter values consumed: (role, counter). Unique per role.
    pub counters: Vec<(String, u64)>,
    /// The response to store for an `Idempotency-Key`.
    pub idempotency: Option<IdempotencyRecord>,
    /// Deterministic keys of scheduled transitions (escalations, SLA events, reports), each
    /// stored under a unique constraint: a key can be committed once, ever.
    pub keys: Vec<String>,
    /// The ticket's next wake-up: `Some(None)` clears it, `None` leaves it as it was. Setting
    /// it releases any scheduler claim on the ticket.
    pub schedule: Option<Option<Millis>>,
    /// An uploaded rule module: its record and its bytes.
    pub module: Option<(ModuleRecord, Vec<u8>)>,
    /// A user account created or changed (with its password hash).
    pub user: Option<UserRecord>,
}

/// An uploaded rule module, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ModuleRecord {
    /// sha256 of the bytes, lowercase hex: the module's identity.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// The host ABI version it speaks.
    pub abi_version: u32,
    /// The module's own `module_info` answer.
    #[schema(value_type = Object)]
    pub info: serde_json::Value,
    /// sha256 of its answers to the conformance corpus.
    pub fingerprint: String,
    /// Conformance cases answered.
    pub conformance_cases: u32,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// When (epoch ms).
    pub uploaded_at: Millis,
}

/// Why a commit was refused. Nothing of it was written.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The stream moved on since the command read it.
    #[error("stream `{0}` changed concurrently")]
    VersionConflict(String),
    /// A round-robin counter value was already used (the counter store lost its state).
    #[error("round-robin counter {counter} of `{role}` is already taken")]
    CounterTaken {
        /// Role.
        role: String,
        /// Counter.
        counter: u64,
    },
    /// The ticket number was already taken (another instance allocated it).
    #[error("ticket number already taken")]
    NumberTaken,
    /// A concurrent request with the same idempotency key committed first.
    #[error("idempotency key already used")]
    IdempotencyKeyTaken,
    /// Another account has this username.
    #[error("username already taken")]
    UsernameTaken,
    /// A scheduled transition with this key was already committed.
    #[error("transition `{0}` was already recorded")]
    KeyTaken(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] anyhow::Error),
}

/// A permission role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Files tickets; sees only their own.
    Requester,
    /// Works tickets.
    Agent,
    /// Approves, edits rules.
    Manager,
    /// Everything.
    Admin,
}

impl Permission {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requester => "requester",
            Self::Agent => "agent",
            Self::Manager => "manager",
            Self::Admin => "admin",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Requester, Self::Agent, Self::Manager, Self::Admin].into_iter().find(|p| p.as_str() == s)
    }

    /// Agent, manager or admin.
    pub fn is_staff(self) -> bool {
        self >= Self::Agent
    }
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserRecord {
    /// Stable id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Permission role.
    pub permission: Permission,
    /// Team roles (assignment and escalation).
    pub team_roles: Vec<String>,
    /// Whether round-robin may pick them.
    pub available: bool,
    /// Open-ticket cap.
    pub max_open_tickets: Option<u32>,
    /// argon2 PHC string.
    #[serde(skip)]
    pub password_hash: String,
}

/// Ticket list filters.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TicketFilter {
    /// Status.
    pub status: Option<String>,
    /// Priority.
    pub priority: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Assignee's user id.
    pub assignee: Option<String>,
    /// Requester's user id.
    pub requester: Option<String>,
    /// Free text over number, title and description.
    pub q: Option<String>,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
    /// Page size (1–200, default 50).
    pub limit: Option<u32>,
}

/// Event queries (`/api/events`, SSE, history).
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only events after this position.
    pub after: i64,
    /// At most this many.
    pub limit: u32,
    /// Only these types.
    pub types: Vec<String>,
    /// Only this stream.
    pub stream: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this correlation id.
    pub correlation_id: Option<String>,
    /// Time range [from, to) in epoch ms.
    pub from: Option<Millis>,
    /// See `from`.
    pub to: Option<Millis>,
    /// Only events a requester may read: those of tickets they filed, and the public streams
    /// ([`crate::domain::PUBLIC_STREAMS`]: rule-set publications and module activations, which
    /// their previews follow).
    pub requester: Option<String>,
}

/// The store. Implementations make every [`Commit`] atomic and durable before returning.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends a commit; the stored events in order.
    async fn commit(&self, commit: Commit) -> Result<Vec<StoredEvent>, CommitError>;
    /// The ticket projection.
    async fn ticket(&self, id: &str) -> anyhow::Result<Option<TicketState>>;
    /// Tickets, newest first; `requester` restricts to one requester's tickets.
    async fn tickets(
        &self,
        filter: &TicketFilter,
        requester: Option<&str>,
    ) -> anyhow::Result<(Vec<TicketState>, Option<String>)>;
    /// Events matching a query, by position.
    async fn events(&self, query: &EventQuery) -> anyhow::Result<Vec<StoredEvent>>;
    /// The last position in the log (0 when empty).
    async fn head(&self) -> anyhow::Result<i64>;
    /// All users, by id.
    async fn users(&self) -> anyhow::Result<Vec<UserRecord>>;
    /// Creates or replaces a user.
    async fn put_user(&self, user: &UserRecord) -> anyhow::Result<()>;
    /// Stores a session by the sha256 of its token.
    async fn put_session(&self, token_hash: &str, user_id: &str, expires_at: Millis) -> anyhow::Result<()>;
    /// The user of a live session.
    async fn session_user(&self, token_hash: &str, now: Millis) -> anyhow::Result<Option<UserRecord>>;
    /// Ends a session.
    async fn delete_session(&self, token_hash: &str) -> anyhow::Result<()>;
    /// A stored idempotent response.
    async fn idempotency(&self, actor: &str, key: &str) -> anyhow::Result<Option<IdempotencyRecord>>;
    /// The highest round-robin counter recorded for a role (0 if none).
    async fn max_counter(&self, role: &str) -> anyhow::Result<u64>;
    /// The highest ticket number of a day (`YYYYMMDD`), 0 if none.
    async fn max_ticket_number(&self, day: &str) -> anyhow::Result<u64>;
    /// The active rule set: version and JSON.
    async fn active_rule_set(&self) -> anyhow::Result<Option<(u64, serde_json::Value)>>;
    /// Open (non-final) tickets per assignee.
    async fn open_ticket_counts(&self) -> anyhow::Result<HashMap<String, u32>>;
    /// Every user with their open-ticket count, by id, in one read: what each assignment
    /// decision reads (it was two reads per decision).
    async fn users_with_load(&self) -> anyhow::Result<Vec<(UserRecord, u32)>>;
    /// Checks the database answers, for reads and for writes.
    async fn ping(&self) -> anyhow::Result<()>;
    /// The current version of a stream (0 when it has no events).
    async fn stream_version(&self, stream: &str) -> anyhow::Result<u64>;
    /// Whether a transition key was committed.
    async fn has_key(&self, key: &str) -> anyhow::Result<bool>;
    /// Claims up to `limit` tickets due at `now` (earliest first) that nobody else holds,
    /// hiding them from other claimers until `lease_until`. Committing a schedule releases a
    /// claim; a claim of a crashed instance lapses at `lease_until`.
    async fn claim_due(&self, now: Millis, limit: usize, lease_until: Millis) -> anyhow::Result<Vec<Scheduled>>;
    /// Scheduled tickets due before `before`, earliest first, after the cursor `(due, id)`.
    async fn scheduled(
        &self,
        before: Millis,
        after: Option<(Millis, String)>,
        limit: usize,
    ) -> anyhow::Result<Vec<Scheduled>>;
    /// Makes every open ticket due at `at` (or keeps an earlier wake-up): a new rule set may
    /// change any of their deadlines. Returns how many.
    async fn reschedule_open(&self, at: Millis) -> anyhow::Result<u64>;
    /// The uploaded rule modules, oldest first.
    async fn modules(&self) -> anyhow::Result<Vec<ModuleRecord>>;
    /// One uploaded module's record and bytes.
    async fn module(&self, sha256: &str) -> anyhow::Result<Option<(ModuleRecord, Vec<u8>)>>;
    /// Tickets oldest first, after the log position `after_seq`: `(seq, ticket)`.
    async fn tickets_page(&self, after_seq: i64, limit: u32) -> anyhow::Result<Vec<(i64, TicketState)>>;
}

/// A ticket's next wake-up, as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    /// Ticket id.
    pub ticket: String,
    /// When.
    pub due_at: Millis,
    /// The ticket stream's version the schedule was computed at.
    pub version: u64,
}
