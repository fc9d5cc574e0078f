//! Demo data for the embedded default: one user per permission role and two small teams, so a
//! newcomer can log in and watch automation work. Created only when the database has no users.

use crate::AppState;
use crate::auth::hash_password;
use crate::store::{Permission, UserRecord};

/// The password of every demo user.
pub const DEMO_PASSWORD: &str = "nixflow-demo";

/// (id, username, name, permission, team roles)
const USERS: &[(&str, &str, &str, Permission, &[&str])] = &[
    ("u-rita", "rita", "Rita Requester", Permission::Requester, &[]),
    ("u-alice", "alice", "Alice Agent", Permission::Agent, &["Engineer"]),
    ("u-bob", "bob", "Bob Builder", Permission::Agent, &["Engineer"]),
    ("u-hana", "hana", "Hana Hardware", Permission::Agent, &["Hardware Engineer"]),
    ("u-hugo", "hugo", "Hugo Hardware", Permission::Agent, &["Hardware Engineer"]),
    ("u-maria", "maria", "Maria Manager", Permission::Manager, &["Manager"]),
    ("u-dan", "dan", "Dan Director", Permission::Manager, &["Director"]),
    ("u-ada", "ada", "Ada Admin", Permission::Admin, &[]),
];

/// Creates the demo users if there are no users at all. Returns whether it did.
pub async fn seed(state: &AppState) -> anyhow::Result<bool> {
    if !state.store.users().await?.is_empty() {
        return Ok(false);
    }
    let hash = tokio::task::spawn_blocking(|| hash_password(DEMO_PASSWORD)).await??;
    for (id, username, name, permission, roles) in USERS {
        state
            .store
            .put_user(&UserRecord {
                id: (*id).into(),
                username: (*username).into(),
                name: (*name).into(),
                permission: *permission,
                team_roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                available: true,
                max_open_tickets: None,
                password_hash: hash.clone(),
            })
            .await?;
    }
    Ok(true)
}
