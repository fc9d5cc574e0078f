//! The due-time index: which tickets the scheduler must look at, and when.
//!
//! The truth is the `due_at` of the ticket projection, written in the same transaction as the
//! events that moved it (so it can never disagree with the log). The index only makes claiming
//! cheap and shared:
//!
//! - [`StoreDue`] (embedded default) claims straight from the store's indexed column.
//! - [`RedisDue`] (with REDIS_URL) keeps a sorted set scored by due time. A claim moves a
//!   ticket's score forward by the lease, so a crashed claimer's tickets come back when the lease
//!   lapses. Each entry carries the stream version it was computed at, and an older version never
//!   overwrites a newer one. A lost set (Redis restart, `FLUSHALL`) is rebuilt from the store
//!   before the next claim, and a periodic sweep re-adds what is long overdue in the store and
//!   missing or stale in the set (a crash between a commit and its index write).
//!
//! Claims are an efficiency, not the guarantee: exactly-once comes from the log (the stream
//! version fence and the unique transition keys), so a ticket claimed twice is still escalated
//! once.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use async_trait::async_trait;
use rules_core::model::Millis;

use crate::store::EventStore;

/// The index the scheduler claims from.
#[async_trait]
pub trait DueIndex: Send + Sync + 'static {
    /// Claims up to `limit` ticket ids due at `now`, earliest first, hidden from other claimers
    /// until `lease_until`.
    async fn claim(&self, now: Millis, limit: usize, lease_until: Millis) -> anyhow::Result<Vec<String>>;
    /// Records a committed schedule (after the commit that wrote it to the store).
    async fn scheduled(&self, ticket: &str, due: Option<Millis>, version: u64) -> anyhow::Result<()>;
    /// The store rescheduled tickets in bulk (a new rule set): reload from it.
    async fn reload(&self) -> anyhow::Result<()>;
    /// `store` or `redis`.
    fn kind(&self) -> &'static str;
}

/// Claims from the store's `due_at` column: the embedded default.
pub struct StoreDue(pub Arc<dyn EventStore>);

#[async_trait]
impl DueIndex for StoreDue {
    async fn claim(&self, now: Millis, limit: usize, lease_until: Millis) -> anyhow::Result<Vec<String>> {
        Ok(self.0.claim_due(now, limit, lease_until).await?.into_iter().map(|s| s.ticket).collect())
    }

    async fn scheduled(&self, _: &str, _: Option<Millis>, _: u64) -> anyhow::Result<()> {
        // The commit wrote it.
        Ok(())
    }

    async fn reload(&self) -> anyhow::Result<()> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "store"
    }
}

/// Entries written per round trip when rebuilding.
const RELOAD_CHUNK: usize = 1000;

/// A Redis sorted set shared by every instance. Keys: `{prefix}due` (ticket → due time),
/// `{prefix}due:version` (ticket → stream version), `{prefix}due:loaded` (present once the set
/// holds the store's schedule), `{prefix}due:loading` (a short lock while one instance rebuilds).
pub struct RedisDue {
    conn: redis::aio::ConnectionManager,
    store: Arc<dyn EventStore>,
    prefix: String,
    claim: redis::Script,
    schedule: redis::Script,
    repair: redis::Script,
    /// Anything overdue in the store by more than this is re-added to the set.
    sweep_after: Millis,
    last_sweep: Mutex<Millis>,
}

impl RedisDue {
    /// Connects. `sweep_after` is how long overdue an entry must be before the sweep re-adds it
    /// (use the claim lease, so that the sweep never races a live claim).
    pub async fn connect(
        client: &redis::Client,
        prefix: &str,
        store: Arc<dyn EventStore>,
        sweep_after: Millis,
    ) -> anyhow::Result<Self> {
        let conn = redis::aio::ConnectionManager::new(client.clone()).await.context("connecting to Redis")?;
        Ok(Self {
            conn,
            store,
            prefix: prefix.to_owned(),
            // Refuses (nil) while the set is not loaded; otherwise takes the earliest due entries
            // and pushes their scores to the lease's end.
            claim: redis::Script::new(
                "if redis.call('EXISTS', KEYS[2]) == 0 then return false end
                 local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
                 for _, id in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', ARGV[3], id) end
                 return due",
            ),
            // Entries as (ticket, version, due or ''); one computed at an older stream version
            // never replaces a newer one.
            schedule: redis::Script::new(
                "for i = 1, #ARGV, 3 do
                   local id, version, due = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
                   local v = redis.call('HGET', KEYS[2], id)
                   if not v or tonumber(v) <= version then
                     if due == '' then
                       redis.call('ZREM', KEYS[1], id)
                       redis.call('HDEL', KEYS[2], id)
                     else
                       redis.call('ZADD', KEYS[1], due, id)
                       redis.call('HSET', KEYS[2], id, version)
                     end
                   end
                 end
                 return 1",
            ),
            // The sweep's write: only an entry that is missing, or older than the store's (a lost
            // index write after a commit). A claimed entry is neither, so its lease holds.
            repair: redis::Script::new(
                "for i = 1, #ARGV, 3 do
                   local id, version, due = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
                   local v = redis.call('HGET', KEYS[2], id)
                   if not v or tonumber(v) < version then
                     redis.call('ZADD', KEYS[1], due, id)
                     redis.call('HSET', KEYS[2], id, version)
                   end
                 end
                 return 1",
            ),
            sweep_after,
            last_sweep: Mutex::new(Millis::MIN),
        })
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    async fn schedule_all(&self, entries: &[(&str, u64, Option<Millis>)]) -> anyhow::Result<()> {
        self.write(&self.schedule, entries).await
    }

    async fn write(&self, script: &redis::Script, entries: &[(&str, u64, Option<Millis>)]) -> anyhow::Result<()> {
        let mut inv = script.prepare_invoke();
        inv.key(self.key("due")).key(self.key("due:version"));
        for (ticket, version, due) in entries {
            inv.arg(*ticket).arg(*version).arg(due.map(|d| d.to_string()).unwrap_or_default());
        }
        let mut conn = self.conn.clone();
        let _: i64 = inv.invoke_async(&mut conn).await.context("writing the due-time index")?;
        Ok(())
    }

    /// Writes store entries due before `before` into the set, in chunks: all of them (`repair`
    /// false), or only those missing or stale in the set.
    async fn copy_from_store(&self, before: Millis, repair: bool) -> anyhow::Result<usize> {
        let mut after = None;
        let mut copied = 0;
        loop {
            let page = self.store.scheduled(before, after.take(), RELOAD_CHUNK).await?;
            let Some(last) = page.last() else { break };
            after = Some((last.due_at, last.ticket.clone()));
            let entries: Vec<_> = page.iter().map(|s| (s.ticket.as_str(), s.version, Some(s.due_at))).collect();
            self.write(if repair { &self.repair } else { &self.schedule }, &entries).await?;
            copied += page.len();
            if page.len() < RELOAD_CHUNK {
                break;
            }
        }
        Ok(copied)
    }

    /// Rebuilds the set from the store, once across instances (the others wait a tick).
    async fn load(&self) -> anyhow::Result<bool> {
        let mut conn = self.conn.clone();
        let locked: bool = redis::cmd("SET")
            .arg(self.key("due:loading"))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(60_000)
            .query_async::<Option<String>>(&mut conn)
            .await?
            .is_some();
        if !locked {
            return Ok(false);
        }
        let copied = self.copy_from_store(Millis::MAX, false).await;
        if copied.is_ok() {
            let () = redis::cmd("SET").arg(self.key("due:loaded")).arg(1).query_async(&mut conn).await?;
        }
        let () = redis::cmd("DEL").arg(self.key("due:loading")).query_async(&mut conn).await?;
        tracing::info!(entries = copied.as_ref().ok(), "due-time index rebuilt from the store");
        copied.map(|_| true)
    }

    async fn sweep(&self, now: Millis) -> anyhow::Result<()> {
        {
            let mut last = self.last_sweep.lock().map_err(|_| anyhow::anyhow!("sweep lock poisoned"))?;
            if now.saturating_sub(*last) < self.sweep_after {
                return Ok(());
            }
            *last = now;
        }
        let checked = self.copy_from_store(now.saturating_sub(self.sweep_after), true).await?;
        tracing::debug!(checked, "swept long-overdue tickets into the due-time index");
        Ok(())
    }
}

#[async_trait]
impl DueIndex for RedisDue {
    async fn claim(&self, now: Millis, limit: usize, lease_until: Millis) -> anyhow::Result<Vec<String>> {
        let mut conn = self.conn.clone();
        for _ in 0..2 {
            let claimed: Option<Vec<String>> = self
                .claim
                .key(self.key("due"))
                .key(self.key("due:loaded"))
                .arg(now)
                .arg(limit)
                .arg(lease_until)
                .invoke_async(&mut conn)
                .await
                .context("claiming due tickets")?;
            match claimed {
                Some(ids) => {
                    self.sweep(now).await?;
                    return Ok(ids);
                }
                None => {
                    if !self.load().await? {
                        // Another instance is rebuilding; claim on the next tick.
                        return Ok(Vec::new());
                    }
                }
            }
        }
        Ok(Vec::new())
    }

    async fn scheduled(&self, ticket: &str, due: Option<Millis>, version: u64) -> anyhow::Result<()> {
        self.schedule_all(&[(ticket, version, due)]).await
    }

    async fn reload(&self) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let () = redis::cmd("DEL").arg(self.key("due:loaded")).query_async(&mut conn).await?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
