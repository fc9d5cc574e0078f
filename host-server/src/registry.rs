//! The rule-module registry: upload (validate, sandbox-test, store), list, activate, roll back.
//!
//! An uploaded module is untrusted code. Before it is stored it must pass, in order:
//! the format check (a WebAssembly binary, never a precompiled or serialized artifact), the size
//! cap, validation under a fixed feature set, no imports, the ABI exports and a supported ABI
//! version, a memory that fits the cap, compilation within a time bound off the request path,
//! and a conformance run: the parity corpus's requests under production limits, every one
//! answered without a trap and in the codec's envelope. Its answers are hashed into the
//! module's fingerprint. Every rejection says which check failed and why.
//!
//! Upload and activation are separate events on the `rules-modules` stream; the log says which
//! module was active at every position. Activation swaps atomically ([`crate::rules::RulesHost`]):
//! calls in flight finish on the module they started with. Other instances follow the log.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Caller;
use crate::domain::{EventPayload, MODULES_STREAM};
use crate::error::{ApiError, ApiResult};
use crate::module::{ModuleError, RuleModule};
use crate::service::{MAX_ATTEMPTS, RequestContext};
use crate::store::{Commit, CommitError, EventQuery, ModuleRecord, NewEvent, Permission};

/// Uploads larger than this are refused.
pub const MAX_MODULE_BYTES: usize = 1 << 20;
/// Compiling an upload may take this long.
const COMPILE_TIMEOUT: Duration = Duration::from_secs(20);
/// The conformance run may take this long in all.
const CONFORMANCE_TIMEOUT: Duration = Duration::from_secs(120);

/// The parity corpus, compiled into the server: the conformance run's requests (every file; the
/// cases given as raw bytes are left out).
const CORPUS: [&str; 10] = [
    include_str!("../../tests/vectors/assignment.json"),
    include_str!("../../tests/vectors/compliance.json"),
    include_str!("../../tests/vectors/escalation.json"),
    include_str!("../../tests/vectors/malformed.json"),
    include_str!("../../tests/vectors/prioritization-default.json"),
    include_str!("../../tests/vectors/prioritization-rules.json"),
    include_str!("../../tests/vectors/sla.json"),
    include_str!("../../tests/vectors/unicode.json"),
    include_str!("../../tests/vectors/validation.json"),
    include_str!("../../tests/vectors/wake-up.json"),
];

/// The conformance requests: every object request of the corpus, with `$default` resolved.
fn conformance_requests() -> &'static [(String, Vec<u8>)] {
    static REQUESTS: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    REQUESTS.get_or_init(|| {
        let default_rules: serde_json::Value =
            serde_json::from_str(rules_core::ruleset::DEFAULT_RULE_SET_JSON).unwrap_or_default();
        let resolve = |v: &serde_json::Value| if v == "$default" { default_rules.clone() } else { v.clone() };
        let mut out = Vec::new();
        for text in CORPUS {
            let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) else { continue };
            let file_rules = doc.get("rule_set").filter(|v| !v.is_null()).map(resolve);
            for case in doc["cases"].as_array().into_iter().flatten() {
                let serde_json::Value::Object(mut request) = case["request"].clone() else { continue };
                if request.contains_key("raw") {
                    continue;
                }
                let op = request.get("op").and_then(|o| o.as_str()).unwrap_or_default().to_owned();
                match request.get("rule_set").map(resolve) {
                    Some(r) => {
                        request.insert("rule_set".into(), r);
                    }
                    None if op != "module_info" => {
                        if let Some(r) = &file_rules {
                            request.insert("rule_set".into(), r.clone());
                        }
                    }
                    None => {}
                }
                let name = case["name"].as_str().unwrap_or("?").to_owned();
                out.push((name, serde_json::to_vec(&request).unwrap_or_default()));
            }
        }
        out
    })
}

/// Why an upload was refused: the check that failed, and why.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// `format`, `validation`, `imports`, `exports`, `abi_version`, `memory`, `compile_timeout`,
    /// `conformance`.
    pub check: &'static str,
    /// For people.
    pub reason: String,
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ApiError::Unprocessable {
            code: "module_rejected",
            message: format!("{} check failed: {}", r.check, r.reason),
            details: vec![serde_json::json!({ "check": r.check, "reason": r.reason })],
        }
    }
}

fn rejection(e: ModuleError) -> Rejection {
    let check = match &e {
        ModuleError::Compile(_) => "validation",
        ModuleError::HasImports(_) => "imports",
        ModuleError::MissingExport(_) => "exports",
        ModuleError::UnsupportedAbi(_) => "abi_version",
        ModuleError::MemoryTooLarge(_) => "memory",
        // Instantiating runs the start function and reads the ABI version.
        ModuleError::OutOfFuel | ModuleError::Trap(_) | ModuleError::Deadline | ModuleError::BadAnswer(_) => {
            "instantiation"
        }
    };
    Rejection { check, reason: e.to_string() }
}

/// The sha256 of some bytes, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the corpus through a module under its production limits; `(cases, fingerprint)`.
fn conformance(module: &RuleModule) -> Result<(u32, String), Rejection> {
    let mut hasher = Sha256::new();
    let mut cases = 0u32;
    for (name, request) in conformance_requests() {
        let fail = |reason: String| Rejection { check: "conformance", reason: format!("case `{name}`: {reason}") };
        let answer = module.call(request).map_err(|e| fail(e.to_string()))?;
        let parsed: serde_json::Value =
            serde_json::from_str(&answer).map_err(|e| fail(format!("the answer is not JSON: {e}")))?;
        if !matches!(parsed.get("type").and_then(|t| t.as_str()), Some("success" | "failure")) {
            return Err(fail("the answer is neither a success nor a failure".into()));
        }
        hasher.update(answer.as_bytes());
        hasher.update(b"\n");
        cases += 1;
    }
    Ok((cases, hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()))
}

/// A module in the list.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct ModuleEntry {
    /// The record.
    #[serde(flatten)]
    pub module: ModuleRecord,
    /// Whether it is the module every decision uses now.
    pub active: bool,
    /// When it was activated (epoch ms), oldest first.
    pub activated_at: Vec<rules_core::model::Millis>,
}

/// What `GET /api/rules/modules` answers.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct ModuleList {
    /// sha256 of the active module.
    pub active: String,
    /// Every uploaded module, oldest first.
    pub modules: Vec<ModuleEntry>,
}

impl AppState {
    /// Validates, sandbox-tests and stores an uploaded module (admins). `(201, record)` when
    /// new, `(200, record)` when these bytes were uploaded before.
    pub async fn upload_module(
        &self,
        caller: &Caller,
        ctx: &RequestContext,
        bytes: Vec<u8>,
    ) -> ApiResult<(u16, ModuleRecord)> {
        caller.require(Permission::Admin)?;
        self.register_module(&caller.0.id, &ctx.correlation_id, bytes).await.map_err(|e| match e {
            RegisterError::Rejected(r) => r.into(),
            RegisterError::Api(e) => e,
        })
    }

    async fn register_module(
        &self,
        actor: &str,
        correlation_id: &str,
        bytes: Vec<u8>,
    ) -> Result<(u16, ModuleRecord), RegisterError> {
        if bytes.len() > MAX_MODULE_BYTES {
            return Err(ApiError::TooLarge(MAX_MODULE_BYTES).into());
        }
        if !bytes.starts_with(b"\0asm\x01\0\0\0") {
            return Err(Rejection {
                check: "format",
                reason: "not a WebAssembly binary module (version 1); precompiled or serialized modules and text \
                         are never accepted"
                    .into(),
            }
            .into());
        }
        let sha256 = sha256_hex(&bytes);
        if let Some((record, _)) = self.store.module(&sha256).await.map_err(ApiError::Internal)? {
            return Ok((200, record));
        }
        let module = self.compile_module(&bytes).await?;
        let checked = {
            let module = Arc::clone(&module);
            tokio::time::timeout(
                CONFORMANCE_TIMEOUT,
                tokio::task::spawn_blocking(move || {
                    let info = module
                        .call(br#"{"op":"module_info"}"#)
                        .map_err(|e| Rejection { check: "conformance", reason: format!("case `module_info`: {e}") })?;
                    let info: serde_json::Value = serde_json::from_str(&info).unwrap_or_default();
                    Ok::<_, Rejection>((info["answer"].clone(), conformance(&module)?))
                }),
            )
            .await
        };
        let (info, (cases, fingerprint)) = match checked {
            Ok(Ok(result)) => result?,
            Ok(Err(_)) => return Err(ApiError::Internal(anyhow::anyhow!("the conformance run was cancelled")).into()),
            Err(_) => {
                return Err(Rejection {
                    check: "conformance",
                    reason: format!("the corpus took longer than {} s", CONFORMANCE_TIMEOUT.as_secs()),
                }
                .into());
            }
        };
        let record = ModuleRecord {
            sha256: sha256.clone(),
            size: bytes.len() as u64,
            abi_version: module.abi_version(),
            info,
            fingerprint,
            conformance_cases: cases,
            uploaded_by: actor.to_owned(),
            uploaded_at: self.clock.now(),
        };
        for _ in 0..MAX_ATTEMPTS {
            let version = self.store.stream_version(MODULES_STREAM).await.map_err(ApiError::Internal)?;
            let commit = Commit {
                stream: MODULES_STREAM.into(),
                expected_version: version,
                events: vec![self.module_event(
                    actor,
                    correlation_id,
                    EventPayload::ModuleUploaded { module: record.clone() },
                )],
                module: Some((record.clone(), bytes.clone())),
                ..Default::default()
            };
            match self.append(commit).await {
                Ok(_) => return Ok((201, record)),
                Err(CommitError::VersionConflict(_)) => continue,
                Err(CommitError::KeyTaken(_)) => {
                    // Uploaded concurrently by someone else: theirs stands.
                    if let Some((existing, _)) = self.store.module(&sha256).await.map_err(ApiError::Internal)? {
                        return Ok((200, existing));
                    }
                }
                Err(e) => return Err(ApiError::Internal(e.into()).into()),
            }
        }
        Err(ApiError::Conflict.into())
    }

    fn module_event(&self, actor: &str, correlation_id: &str, payload: EventPayload) -> NewEvent {
        NewEvent {
            id: uuid::Uuid::now_v7().to_string(),
            payload,
            time: self.clock.now(),
            actor: actor.to_owned(),
            correlation_id: correlation_id.to_owned(),
            causation_id: None,
        }
    }

    /// Compiles bytes in the shared engine, off the executor and within a time bound.
    async fn compile_module(&self, bytes: &[u8]) -> Result<Arc<RuleModule>, Rejection> {
        let rules = Arc::clone(&self.rules);
        let bytes = bytes.to_vec();
        match tokio::time::timeout(COMPILE_TIMEOUT, tokio::task::spawn_blocking(move || rules.compile(&bytes))).await {
            Ok(Ok(compiled)) => compiled.map_err(rejection),
            Ok(Err(_)) => Err(Rejection { check: "validation", reason: "compilation was cancelled".into() }),
            Err(_) => Err(Rejection {
                check: "compile_timeout",
                reason: format!("compilation took longer than {} s", COMPILE_TIMEOUT.as_secs()),
            }),
        }
    }

    /// The activations in the log, oldest first: `(sha256, previous, time)`.
    async fn activations(&self) -> anyhow::Result<Vec<(String, Option<String>, rules_core::model::Millis)>> {
        let events = self
            .store
            .events(&EventQuery {
                stream: Some(MODULES_STREAM.into()),
                types: vec!["rules.module_activated".into()],
                limit: 10_000,
                ..Default::default()
            })
            .await?;
        Ok(events
            .into_iter()
            .filter_map(|e| match e.payload {
                EventPayload::ModuleActivated { sha256, previous, .. } => Some((sha256, previous, e.time)),
                _ => None,
            })
            .collect())
    }

    /// Activates an uploaded module (admins), or with `rollback` the one active before the
    /// current one. Answers the activation event's payload.
    pub async fn activate_module(
        &self,
        caller: &Caller,
        ctx: &RequestContext,
        sha256: Option<&str>,
    ) -> ApiResult<serde_json::Value> {
        caller.require(Permission::Admin)?;
        self.activate_as(&caller.0.id, &ctx.correlation_id, sha256).await
    }

    async fn activate_as(
        &self,
        actor: &str,
        correlation_id: &str,
        sha256: Option<&str>,
    ) -> ApiResult<serde_json::Value> {
        for _ in 0..MAX_ATTEMPTS {
            let history = self.activations().await?;
            let current = self.rules.active().sha256().to_owned();
            let (target, rollback) = match sha256 {
                Some(s) => (s.to_owned(), false),
                None => match history.last().and_then(|(_, previous, _)| previous.clone()) {
                    Some(p) => (p, true),
                    None => {
                        return Err(ApiError::IllegalTransition("there is no previously active module".into()));
                    }
                },
            };
            let (_, bytes) = self.store.module(&target).await?.ok_or(ApiError::NotFound("module"))?;
            let module = if target == current { self.rules.active() } else { self.compile_module(&bytes).await? };
            let version = self.store.stream_version(MODULES_STREAM).await?;
            let payload = EventPayload::ModuleActivated { sha256: target.clone(), previous: Some(current), rollback };
            let body = serde_json::to_value(&payload).map_err(anyhow::Error::from)?["data"].clone();
            let commit = Commit {
                stream: MODULES_STREAM.into(),
                expected_version: version,
                events: vec![self.module_event(actor, correlation_id, payload)],
                ..Default::default()
            };
            match self.append(commit).await {
                Ok(_) => {
                    self.rules.activate(module);
                    self.prepare_rules();
                    tracing::info!(sha256 = target, rollback, "rule module activated");
                    return Ok(body);
                }
                Err(CommitError::VersionConflict(_)) => continue,
                Err(e) => return Err(ApiError::Internal(e.into())),
            }
        }
        Err(ApiError::Conflict)
    }

    /// The uploaded modules, with the active one marked (managers and admins).
    pub async fn list_modules(&self, caller: &Caller) -> ApiResult<ModuleList> {
        caller.require(Permission::Manager)?;
        let active = self.rules.active().sha256().to_owned();
        let history = self.activations().await?;
        let modules = self
            .store
            .modules()
            .await?
            .into_iter()
            .map(|m| ModuleEntry {
                active: m.sha256 == active,
                activated_at: history.iter().filter(|(s, _, _)| *s == m.sha256).map(|(_, _, t)| *t).collect(),
                module: m,
            })
            .collect();
        Ok(ModuleList { active, modules })
    }

    /// At start-up: the module built with the server (`--rule-module`) is registered and
    /// activated when the log has never seen it (a deploy is an activation); otherwise the log's
    /// last activation is restored.
    pub(crate) async fn bootstrap_modules(&self, bytes: Vec<u8>) -> anyhow::Result<()> {
        let built_in = self.rules.active().sha256().to_owned();
        if self.store.module(&built_in).await?.is_none() {
            self.register_module("system", "bootstrap", bytes).await.map_err(|e| match e {
                RegisterError::Rejected(r) => {
                    anyhow::anyhow!("the built-in rule module: {} check failed: {}", r.check, r.reason)
                }
                RegisterError::Api(e) => anyhow::anyhow!("the built-in rule module: {e}"),
            })?;
            self.activate_as("system", "bootstrap", Some(&built_in)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            return Ok(());
        }
        if let Some((last, _, _)) = self.activations().await?.last() {
            self.follow_activation(last).await?;
        }
        Ok(())
    }

    /// Compiles an uploaded module in the background (kept for its activation).
    pub(crate) fn precompile_module(&self, sha256: &str) {
        let (state, sha256) = (self.clone(), sha256.to_owned());
        tokio::spawn(async move {
            match state.store.module(&sha256).await {
                Ok(Some((_, bytes))) => {
                    if let Err(r) = state.compile_module(&bytes).await {
                        tracing::warn!(sha256, check = r.check, reason = r.reason, "cannot precompile a rule module");
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(sha256, error = format!("{e:#}"), "cannot precompile a rule module"),
            }
        });
    }

    /// Makes the module an activation event names active here (another instance activated it).
    pub(crate) async fn follow_activation(&self, sha256: &str) -> anyhow::Result<()> {
        if self.rules.active().sha256() == sha256 {
            return Ok(());
        }
        let (_, bytes) =
            self.store.module(sha256).await?.ok_or_else(|| anyhow::anyhow!("module {sha256} is not stored"))?;
        let module = self.compile_module(&bytes).await.map_err(|r| anyhow::anyhow!("{}: {}", r.check, r.reason))?;
        self.rules.activate(module);
        self.prepare_rules();
        tracing::info!(sha256, "rule module activated by another instance");
        Ok(())
    }
}

enum RegisterError {
    Rejected(Rejection),
    Api(ApiError),
}

impl From<Rejection> for RegisterError {
    fn from(r: Rejection) -> Self {
        Self::Rejected(r)
    }
}

impl From<ApiError> for RegisterError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}
