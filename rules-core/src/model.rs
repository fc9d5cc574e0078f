//! The ticket-side vocabulary: priorities, statuses, tickets, users and instants.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC. Every instant the crate sees or returns is one.
pub type Millis = i64;

/// The latest instant accepted anywhere (9999-12-31T23:59:59.999Z); keeps all sums in range.
pub const MAX_INSTANT: Millis = 253_402_300_799_999;

/// Ticket priority, ordered from least to most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
pub enum Priority {
    /// Can wait.
    Low,
    /// The default for a ticket no rule and no person prioritized.
    Medium,
    /// Needs attention today.
    High,
    /// Outage-class: needs attention now.
    Critical,
}

impl Priority {
    /// All priorities, least urgent first.
    pub const ALL: [Priority; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    /// The wire name (`"Critical"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "Low",
            Self::Medium => "Medium",
            Self::High => "High",
            Self::Critical => "Critical",
        }
    }

    /// Parses a wire name exactly (case-sensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Ticket status. The legal transitions are the host's business; the rules only read statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
pub enum Status {
    /// Waiting for approval (the initial status).
    InApproval,
    /// Approved, not yet worked on.
    Approved,
    /// Rejected at approval.
    Rejected,
    /// Being worked on.
    InProgress,
    /// Waiting on someone outside the team; SLA clocks usually pause here.
    OnHold,
    /// Fixed, awaiting closure.
    Resolved,
    /// Done.
    Closed,
}

impl Status {
    /// All statuses.
    pub const ALL: [Status; 7] = [
        Self::InApproval,
        Self::Approved,
        Self::Rejected,
        Self::InProgress,
        Self::OnHold,
        Self::Resolved,
        Self::Closed,
    ];

    /// The wire name (`"InProgress"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InApproval => "InApproval",
            Self::Approved => "Approved",
            Self::Rejected => "Rejected",
            Self::InProgress => "InProgress",
            Self::OnHold => "OnHold",
            Self::Resolved => "Resolved",
            Self::Closed => "Closed",
        }
    }

    /// Parses a wire name exactly (case-sensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Statuses in which the resolution clock stops: the work is over (or was refused).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Resolved | Self::Closed | Self::Rejected)
    }
}

/// Who set a ticket's current priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(rename_all = "snake_case")]
pub enum PrioritySource {
    /// A person chose it; automation never lowers it unless a rule opts in.
    #[default]
    Person,
    /// A rule chose it.
    Automation,
}

/// One entry into a status: the ticket entered `status` at `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(deny_unknown_fields)]
pub struct StatusEntry {
    /// The status entered.
    pub status: Status,
    /// When it was entered.
    pub at: Millis,
}

/// An escalation that has already fired, as recorded by the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(deny_unknown_fields)]
pub struct FiredEscalation {
    /// The escalation rule's id.
    pub rule: String,
    /// The status entry it fired for (the rule fires at most once per entry).
    pub status_entered_at: Millis,
}

/// A ticket as the rules see it: its state after the change being evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(deny_unknown_fields)]
pub struct Ticket {
    /// Host-assigned id (`TKT-20250129-0001`); empty for a draft being previewed.
    #[serde(default)]
    pub id: String,
    /// Title.
    pub title: String,
    /// Free-text description.
    #[serde(default)]
    pub description: String,
    /// Category (`Hardware`, `ProductionChange`, …), matched exactly.
    pub category: String,
    /// The requester's user id.
    #[serde(default)]
    pub requester: String,
    /// The current priority, if any was set.
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Who set `priority`.
    #[serde(default)]
    pub priority_source: PrioritySource,
    /// The current status.
    #[serde(default = "initial_status")]
    pub status: Status,
    /// The current assignee's user id.
    #[serde(default)]
    pub assignee: Option<String>,
    /// When the ticket was created.
    pub created_at: Millis,
    /// Every entry into a status, oldest first. When not empty, it starts with the status the
    /// ticket was created in, at `created_at`, and ends with the current status.
    #[serde(default)]
    pub history: Vec<StatusEntry>,
    /// When an agent first responded, if one has.
    #[serde(default)]
    pub first_response_at: Option<Millis>,
    /// Escalations that already fired.
    #[serde(default)]
    pub escalations_fired: Vec<FiredEscalation>,
}

fn initial_status() -> Status {
    Status::InApproval
}

/// A member of the helpdesk as assignment and escalation see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "tsify", derive(tsify::Tsify))]
#[cfg_attr(feature = "tsify", tsify(missing_as_null))]
#[serde(deny_unknown_fields)]
pub struct User {
    /// User id; round-robin order is the byte order of ids.
    pub id: String,
    /// Team roles held (`Engineer`, `Manager`, …).
    #[serde(default)]
    pub roles: Vec<String>,
    /// False while the user is away; they are skipped.
    #[serde(default = "yes")]
    pub available: bool,
    /// Tickets currently assigned to the user and not resolved.
    #[serde(default)]
    pub open_tickets: u32,
    /// Open-ticket cap; at or over it the user is skipped.
    #[serde(default)]
    pub max_open_tickets: Option<u32>,
}

fn yes() -> bool {
    true
}

/// Text caps on a ticket, so that a hostile input is refused instead of slowing every runtime.
pub mod limits {
    /// Maximum bytes in a title.
    pub const TITLE_BYTES: usize = 2 * 1024;
    /// Maximum bytes in a description.
    pub const DESCRIPTION_BYTES: usize = 64 * 1024;
    /// Maximum bytes in an id, category, role or keyword.
    pub const NAME_BYTES: usize = 256;
    /// Maximum status entries or fired escalations on one ticket.
    pub const HISTORY_ENTRIES: usize = 10_000;
    /// Maximum users in a context.
    pub const USERS: usize = 10_000;
    /// Maximum tickets in one compliance report call.
    pub const TICKETS: usize = 50_000;
    /// Maximum rules of all kinds in one rule set.
    pub const RULES: usize = 5_000;
    /// Maximum keywords in one rule.
    pub const KEYWORDS_PER_RULE: usize = 200;
    /// Maximum bytes of one codec input.
    pub const INPUT_BYTES: usize = 16 * 1024 * 1024;
}
