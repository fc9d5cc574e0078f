//! User accounts: admins create them; admins change anything, managers the desk's day-to-day
//! (availability and open-ticket caps, which round-robin and escalation read). Each change is
//! written with a `user.created` / `user.updated` event in one commit, so the log is the audit
//! trail; password hashes never enter the log.

use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Caller;
use crate::domain::{EventPayload, USERS_STREAM};
use crate::error::{ApiError, ApiResult};
use crate::service::{MAX_ATTEMPTS, RequestContext, check_text, reject};
use crate::store::{Commit, CommitError, NewEvent, Permission, UserRecord};

/// The largest open-ticket cap.
const MAX_CAP: u32 = 10_000;
/// Team roles per user.
const MAX_ROLES: usize = 20;

/// A new account (admins).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name: 1–64 of `a-z 0-9 . _ -`.
    pub username: String,
    /// Display name.
    pub name: String,
    /// At least 8 characters.
    pub password: String,
    /// Permission role.
    pub permission: Permission,
    /// Team roles (assignment and escalation).
    #[serde(default)]
    pub team_roles: Vec<String>,
    /// Whether round-robin may pick them (default true).
    #[serde(default = "yes")]
    pub available: bool,
    /// Open-ticket cap (none by default).
    #[serde(default)]
    pub max_open_tickets: Option<u32>,
}

fn yes() -> bool {
    true
}

/// Changed fields (at least one). Managers may change only `available` and `max_open_tickets`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChanges {
    /// Display name.
    pub name: Option<String>,
    /// Permission role (admins).
    pub permission: Option<Permission>,
    /// Team roles (admins).
    pub team_roles: Option<Vec<String>>,
    /// Whether round-robin may pick them.
    pub available: Option<bool>,
    /// Open-ticket cap; `null` removes it.
    #[serde(default, deserialize_with = "set_or_clear")]
    #[schema(value_type = Option<u32>)]
    pub max_open_tickets: Option<Option<u32>>,
}

/// Absent → `None`; `null` → `Some(None)`; a value → `Some(Some(v))`.
fn set_or_clear<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

fn problem(field: &str, code: &str, message: String) -> serde_json::Value {
    serde_json::json!({ "field": field, "code": code, "message": message })
}

fn check_roles(problems: &mut Vec<serde_json::Value>, roles: &[String]) {
    if roles.len() > MAX_ROLES {
        problems.push(problem("team_roles", "too_long", format!("at most {MAX_ROLES} team roles")));
    }
    for r in roles {
        check_text(problems, "team_roles", Some(r), 64, true);
    }
}

fn check_cap(problems: &mut Vec<serde_json::Value>, cap: Option<u32>) {
    if cap.is_some_and(|c| c == 0 || c > MAX_CAP) {
        problems.push(problem(
            "max_open_tickets",
            "out_of_range",
            format!("the cap is 1–{MAX_CAP}; mark the user unavailable to stop assignments"),
        ));
    }
}

impl AppState {
    /// Creates an account (admins).
    pub async fn create_user(&self, caller: &Caller, ctx: &RequestContext, input: NewUser) -> ApiResult<UserRecord> {
        caller.require(Permission::Admin)?;
        let mut problems = Vec::new();
        let username_ok = !input.username.is_empty()
            && input.username.len() <= 64
            && input.username.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if !username_ok {
            problems.push(problem("username", "invalid", "1–64 of `a-z 0-9 . _ -`".into()));
        }
        check_text(&mut problems, "name", Some(&input.name), 128, true);
        if input.password.chars().count() < 8 || input.password.len() > 256 {
            problems.push(problem("password", "invalid", "8–256 characters".into()));
        }
        check_roles(&mut problems, &input.team_roles);
        check_cap(&mut problems, input.max_open_tickets);
        reject(problems)?;
        let password = input.password.clone();
        let password_hash = tokio::task::spawn_blocking(move || crate::auth::hash_password(&password))
            .await
            .map_err(anyhow::Error::from)??;
        let user = UserRecord {
            id: format!("u-{}", uuid::Uuid::now_v7()),
            username: input.username,
            name: input.name.trim().to_owned(),
            permission: input.permission,
            team_roles: input.team_roles.iter().map(|r| r.trim().to_owned()).collect(),
            available: input.available,
            max_open_tickets: input.max_open_tickets,
            password_hash,
        };
        self.commit_user(caller, ctx, &user, EventPayload::UserCreated { user: user.clone() }).await?;
        Ok(user)
    }

    /// Changes an account: admins anything here, managers availability and caps.
    pub async fn update_user(
        &self,
        caller: &Caller,
        ctx: &RequestContext,
        id: &str,
        changes: UserChanges,
    ) -> ApiResult<UserRecord> {
        caller.require(Permission::Manager)?;
        if caller.0.permission < Permission::Admin
            && (changes.name.is_some() || changes.permission.is_some() || changes.team_roles.is_some())
        {
            return Err(ApiError::Forbidden("managers may change only `available` and `max_open_tickets`".into()));
        }
        let mut problems = Vec::new();
        check_text(&mut problems, "name", changes.name.as_ref(), 128, true);
        if let Some(roles) = &changes.team_roles {
            check_roles(&mut problems, roles);
        }
        check_cap(&mut problems, changes.max_open_tickets.flatten());
        let described = serde_json::json!({
            "name": changes.name, "permission": changes.permission, "team_roles": changes.team_roles,
            "available": changes.available, "max_open_tickets": changes.max_open_tickets,
        });
        let mut changed = serde_json::Map::new();
        if let Some(fields) = described.as_object() {
            for (k, v) in fields {
                let set = match k.as_str() {
                    "max_open_tickets" => changes.max_open_tickets.is_some(),
                    _ => !v.is_null(),
                };
                if set {
                    changed.insert(k.clone(), v.clone());
                }
            }
        }
        if changed.is_empty() {
            problems.push(problem("", "empty_update", "name at least one field to change".into()));
        }
        reject(problems)?;
        let mut user = self.store.users().await?.into_iter().find(|u| u.id == id).ok_or(ApiError::NotFound("user"))?;
        if let Some(v) = changes.name {
            user.name = v.trim().to_owned();
        }
        if let Some(v) = changes.permission {
            user.permission = v;
        }
        if let Some(v) = changes.team_roles {
            user.team_roles = v.iter().map(|r| r.trim().to_owned()).collect();
        }
        if let Some(v) = changes.available {
            user.available = v;
        }
        if let Some(v) = changes.max_open_tickets {
            user.max_open_tickets = v;
        }
        let event = EventPayload::UserUpdated { user_id: user.id.clone(), changes: serde_json::Value::Object(changed) };
        self.commit_user(caller, ctx, &user, event).await?;
        Ok(user)
    }

    async fn commit_user(
        &self,
        caller: &Caller,
        ctx: &RequestContext,
        user: &UserRecord,
        payload: EventPayload,
    ) -> ApiResult<()> {
        for _ in 0..MAX_ATTEMPTS {
            let version = self.store.stream_version(USERS_STREAM).await?;
            let commit = Commit {
                stream: USERS_STREAM.into(),
                expected_version: version,
                events: vec![NewEvent {
                    id: uuid::Uuid::now_v7().to_string(),
                    payload: payload.clone(),
                    time: self.clock.now(),
                    actor: caller.0.id.clone(),
                    correlation_id: ctx.correlation_id.clone(),
                    causation_id: None,
                }],
                user: Some(user.clone()),
                ..Default::default()
            };
            match self.append(commit).await {
                Ok(_) => return Ok(()),
                Err(CommitError::VersionConflict(_)) => continue,
                Err(CommitError::UsernameTaken) => {
                    return Err(ApiError::Unprocessable {
                        code: "username_taken",
                        message: format!("username `{}` is taken", user.username),
                        details: vec![serde_json::json!({"field": "username"})],
                    });
                }
                Err(e) => return Err(ApiError::Internal(e.into())),
            }
        }
        Err(ApiError::Conflict)
    }
}
