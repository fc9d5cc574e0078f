//! Authentication: argon2id password hashes, opaque bearer tokens stored as their sha256, and
//! the [`Caller`] extractor that every protected handler takes.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;
use crate::store::{Permission, UserRecord};

/// How long a session lasts.
pub const SESSION_MILLIS: i64 = 12 * 60 * 60 * 1000;

/// An argon2id PHC string for a password.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// Whether `password` matches the PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A new random token and the hash to store.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = hex(&bytes);
    let hash = token_hash(&token);
    (token, hash)
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// sha256 hex of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub UserRecord);

impl Caller {
    /// Fails unless the caller has at least `role`.
    pub fn require(&self, role: Permission) -> Result<(), ApiError> {
        if self.0.permission >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("this needs the `{}` role or higher", role.as_str())))
        }
    }

    /// The requester whose tickets alone this caller may see, if restricted.
    pub fn only_requester(&self) -> Option<&str> {
        (self.0.permission == Permission::Requester).then_some(self.0.id.as_str())
    }
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or(ApiError::Unauthenticated("missing bearer token"))?;
        let user = state
            .store
            .session_user(&token_hash(token), state.clock.now())
            .await?
            .ok_or(ApiError::Unauthenticated("invalid or expired token"))?;
        Ok(Caller(user))
    }
}
