//! `/api/rules`: the active rule set, validation, publishing, authoritative previews, and the
//! preview context a browser needs to compute previews itself.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use rules_core::model::{Priority, PrioritySource, Status, StatusEntry};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::extract::Command;
use super::tickets::respond;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::rules::{ActiveRuleSet, RulesError};
use crate::store::Permission;

/// The active rule set.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveRules {
    /// Version.
    pub version: u64,
    /// The rule set.
    #[schema(value_type = Object)]
    pub rule_set: serde_json::Value,
    /// The module that evaluates it.
    pub module_sha256: String,
}

/// The active rule set.
#[utoipa::path(get, path = "/api/rules/active", tag = "rules", responses((status = 200, body = ActiveRules)))]
pub async fn active(State(s): State<AppState>, _caller: Caller) -> ApiResult<Json<ActiveRules>> {
    let current = s.rule_set.load_full();
    Ok(Json(ActiveRules {
        version: current.version,
        rule_set: serde_json::from_str(current.text.get()).map_err(anyhow::Error::from)?,
        module_sha256: s.rules.active().sha256().to_owned(),
    }))
}

/// Validate a draft rule set (managers and admins): its summary, or 422 with every problem.
#[utoipa::path(post, path = "/api/rules/validate", tag = "rules", request_body = Object,
    responses((status = 200, body = Object), (status = 422, body = ErrorBody)))]
pub async fn validate(
    State(s): State<AppState>,
    caller: Caller,
    cmd: Command<serde_json::Value>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Permission::Manager)?;
    Ok(Json(s.validate_rule_set(&cmd.input).await?))
}

/// Publish a new version (managers and admins). The server assigns the version number.
#[utoipa::path(post, path = "/api/rules", tag = "rules", request_body = Object,
    responses((status = 201, body = Object), (status = 422, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn publish(
    State(s): State<AppState>,
    caller: Caller,
    cmd: Command<serde_json::Value>,
) -> ApiResult<Response> {
    Ok(respond(s.publish_rule_set(&caller, &cmd.ctx, cmd.input).await?))
}

/// A ticket as it is being typed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftTicket {
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Category.
    #[serde(default)]
    pub category: String,
    /// A priority set by a person.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub priority: Option<Priority>,
}

/// What to preview.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The draft ticket.
    pub ticket: DraftTicket,
    /// A draft rule set to use instead of the active one (managers and admins).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub rule_set: Option<serde_json::Value>,
}

/// Evaluate a draft ticket authoritatively, without storing anything or consuming a
/// round-robin turn (the assignee is projected from the current counter plus one).
#[utoipa::path(post, path = "/api/rules/preview", tag = "rules", request_body = PreviewRequest,
    responses((status = 200, body = Object), (status = 422, body = ErrorBody)))]
pub async fn preview(
    State(s): State<AppState>,
    caller: Caller,
    cmd: Command<PreviewRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let input = cmd.input;
    let active = s.rule_set.load_full();
    let draft_rules;
    let rules: &ActiveRuleSet = match &input.rule_set {
        Some(draft) => {
            caller.require(Permission::Manager)?;
            s.validate_rule_set(draft).await?;
            draft_rules = ActiveRuleSet {
                version: draft["version"].as_u64().unwrap_or(0),
                text: serde_json::value::RawValue::from_string(draft.to_string()).map_err(anyhow::Error::from)?,
            };
            &draft_rules
        }
        None => &active,
    };
    let now = s.clock.now();
    let ticket = rules_core::model::Ticket {
        id: "preview".into(),
        title: input.ticket.title,
        description: input.ticket.description,
        category: input.ticket.category,
        requester: caller.0.id.clone(),
        priority: input.ticket.priority,
        priority_source: PrioritySource::Person,
        status: Status::InApproval,
        assignee: None,
        created_at: now,
        history: vec![StatusEntry { status: Status::InApproval, at: now }],
        first_response_at: None,
        escalations_fired: Vec::new(),
    };
    let users = s.rule_users().await?;
    let module = s.rules.active();
    let mut counters = BTreeMap::new();
    let read = |raw: Box<RawValue>| {
        serde_json::from_str::<serde_json::Value>(raw.get())
            .map_err(|e| ApiError::Unavailable(format!("rule module unavailable: unreadable answer: {e}")))
    };
    let mut answer = read(s.evaluate(&module, rules, &ticket, &users, &counters, now).await.map_err(rules_error)?)?;
    if answer["assignment"]["outcome"] == "needs_counter"
        && let Some(role) = answer["assignment"]["role"].as_str().map(str::to_owned)
    {
        let current = s.counters.current(&[format!("role:{role}")]).await.map_err(ApiError::Internal)?;
        let value = match current.values().next() {
            Some(v) => *v,
            None => s.store.max_counter(&role).await?,
        };
        counters.insert(role, value + 1);
        answer = read(s.evaluate(&module, rules, &ticket, &users, &counters, now).await.map_err(rules_error)?)?;
    }
    Ok(Json(serde_json::json!({
        "module_sha256": module.sha256(),
        "rule_set_version": rules.version,
        "evaluation": answer,
    })))
}

fn rules_error(e: RulesError) -> ApiError {
    match e {
        RulesError::Refused(errors) => ApiError::Unprocessable {
            code: "invalid_ticket",
            message: errors[0]["message"].as_str().unwrap_or("the rule module refused the ticket").to_owned(),
            details: errors.as_array().cloned().unwrap_or_default(),
        },
        other => ApiError::Unavailable(format!("rule module unavailable: {other}")),
    }
}

/// A team member as previews see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    /// User id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Available for round-robin.
    pub available: bool,
    /// Open tickets now.
    pub open_tickets: u32,
    /// Cap.
    pub max_open_tickets: Option<u32>,
}

/// Everything a browser needs to compute previews itself with the same module.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewContext {
    /// Active rule-set version.
    pub rule_set_version: u64,
    /// Active rule set.
    #[schema(value_type = Object)]
    pub rule_set: serde_json::Value,
    /// sha256 of the active module.
    pub module_sha256: String,
    /// Members of each team role, by user id.
    pub roles: BTreeMap<String, Vec<Member>>,
    /// The users exactly as the module reads them (pass as `users`).
    #[schema(value_type = Vec<Object>)]
    pub users: Vec<rules_core::model::User>,
    /// Current round-robin counter per role (the next assignment uses this plus one).
    pub counters: BTreeMap<String, u64>,
    /// The server's clock (epoch ms), for deadlines.
    pub now: i64,
}

/// The preview context.
#[utoipa::path(get, path = "/api/rules/preview-context", tag = "rules", responses((status = 200, body = PreviewContext)))]
pub async fn preview_context(State(s): State<AppState>, _caller: Caller) -> ApiResult<Json<PreviewContext>> {
    let active = s.rule_set.load_full();
    let users = s.rule_users().await?;
    let records = s.store.users().await?;
    let mut roles: BTreeMap<String, Vec<Member>> = BTreeMap::new();
    for u in &users {
        let name = records.iter().find(|r| r.id == u.id).map_or_else(|| u.id.clone(), |r| r.name.clone());
        for role in &u.roles {
            roles.entry(role.clone()).or_default().push(Member {
                id: u.id.clone(),
                name: name.clone(),
                available: u.available,
                open_tickets: u.open_tickets,
                max_open_tickets: u.max_open_tickets,
            });
        }
    }
    let keys: Vec<String> = roles.keys().map(|r| format!("role:{r}")).collect();
    let current = s.counters.current(&keys).await.map_err(ApiError::Internal)?;
    let mut counters = BTreeMap::new();
    for role in roles.keys() {
        let value = match current.get(&format!("role:{role}")) {
            Some(v) => *v,
            None => s.store.max_counter(role).await?,
        };
        counters.insert(role.clone(), value);
    }
    Ok(Json(PreviewContext {
        rule_set_version: active.version,
        rule_set: serde_json::from_str(active.text.get()).map_err(anyhow::Error::from)?,
        module_sha256: s.rules.active().sha256().to_owned(),
        roles,
        users,
        counters,
        now: s.clock.now(),
    }))
}
