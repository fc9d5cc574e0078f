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
    /// Commits' entries on their way to the set (see [`Outbox`]).
    outbox: Outbox,
}

/// Entries are written by one background task, so a commit's response never waits for Redis and
/// the entries of commits that land while a write is in flight share the next script call. The
/// set may trail a commit by that long, as it always could between a commit and its write; a
/// claim on the same instance first waits for the entries queued before it.
struct Outbox {
    entries: tokio::sync::mpsc::UnboundedSender<Entry>,
    /// Entries queued so far, and entries the task has finished with (written, or failed and left
    /// to the sweep).
    queued: std::sync::atomic::AtomicU64,
    done: tokio::sync::watch::Receiver<u64>,
}

/// (ticket, stream version, due instant or none).
type Entry = (String, u64, Option<Millis>);

/// Entries per script call from the outbox (three arguments each).
const OUTBOX_BATCH: usize = 256;

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
        let schedule = redis::Script::new(SCHEDULE);
        let (entries, pending) = tokio::sync::mpsc::unbounded_channel();
        let (finished, done) = tokio::sync::watch::channel(0);
        let keys = [format!("{prefix}due"), format!("{prefix}due:version")];
        tokio::spawn(write_queued(conn.clone(), schedule.clone(), keys, pending, finished));
        Ok(Self {
            conn,
            store,
            prefix: prefix.to_owned(),
            outbox: Outbox { entries, queued: std::sync::atomic::AtomicU64::new(0), done },
            // Refuses (nil) while the set is not loaded; otherwise takes the earliest due entries
            // and pushes their scores to the lease's end.
            claim: redis::Script::new(
                "if redis.call('EXISTS', KEYS[2]) == 0 then return false end
                 local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
                 for _, id in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', ARGV[3], id) end
                 return due",
            ),
            schedule,
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

    async fn write(&self, script: &redis::Script, entries: &[(&str, u64, Option<Millis>)]) -> anyhow::Result<()> {
        let keys = [self.key("due"), self.key("due:version")];
        write_entries(&mut self.conn.clone(), script, &keys, entries).await
    }

    /// Waits until the outbox task has finished with every entry queued before this call.
    async fn drain(&self) {
        let queued = self.outbox.queued.load(std::sync::atomic::Ordering::Acquire);
        // An error means the task is gone (the runtime is shutting down): nothing to wait for.
        let _ = self.outbox.done.clone().wait_for(|done| *done >= queued).await;
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

/// Entries as (ticket, version, due or ''); one computed at an older stream version never
/// replaces a newer one, so batches may land in any order.
const SCHEDULE: &str = "for i = 1, #ARGV, 3 do
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
 return 1";

async fn write_entries(
    conn: &mut redis::aio::ConnectionManager,
    script: &redis::Script,
    keys: &[String; 2],
    entries: &[(&str, u64, Option<Millis>)],
) -> anyhow::Result<()> {
    let mut inv = script.prepare_invoke();
    inv.key(&keys[0]).key(&keys[1]);
    for (ticket, version, due) in entries {
        inv.arg(*ticket).arg(*version).arg(due.map(|d| d.to_string()).unwrap_or_default());
    }
    let _: i64 = inv.invoke_async(conn).await.context("writing the due-time index")?;
    Ok(())
}

/// The outbox task: one script call at a time with everything queued meanwhile, until the
/// [`RedisDue`] is dropped. A failed write is logged and left to the sweep, as a crash between
/// a commit and its write would be.
async fn write_queued(
    mut conn: redis::aio::ConnectionManager,
    script: redis::Script,
    keys: [String; 2],
    mut pending: tokio::sync::mpsc::UnboundedReceiver<Entry>,
    done: tokio::sync::watch::Sender<u64>,
) {
    let mut batch = Vec::with_capacity(OUTBOX_BATCH);
    while pending.recv_many(&mut batch, OUTBOX_BATCH).await > 0 {
        let entries: Vec<_> = batch.iter().map(|(t, v, d)| (t.as_str(), *v, *d)).collect();
        if let Err(e) = write_entries(&mut conn, &script, &keys, &entries).await {
            tracing::warn!(entries = entries.len(), error = format!("{e:#}"), "due-time index not updated");
        }
        let n = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        done.send_modify(|d| *d = d.saturating_add(n));
        batch.clear();
    }
}

#[async_trait]
impl DueIndex for RedisDue {
    async fn claim(&self, now: Millis, limit: usize, lease_until: Millis) -> anyhow::Result<Vec<String>> {
        self.drain().await;
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
        self.outbox.queued.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.outbox.entries.send((ticket.to_owned(), version, due)).context("the due-time index writer is gone")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    /// Entries go through the outbox task, yet a claim on the same instance sees every entry
    /// queued before it, and the version fence holds whatever order the batches land in.
    #[tokio::test]
    async fn a_claim_sees_every_entry_this_instance_queued_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(&dir.path().join("db.sqlite")).await.unwrap());
        let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
        let prefix = format!("test:due:{}:", uuid::Uuid::now_v7());
        let due = RedisDue::connect(&client, &prefix, store, 30_000).await.unwrap();
        assert!(due.claim(0, 10, 1).await.unwrap().is_empty(), "loads the (empty) index");
        for i in 0..500 {
            due.scheduled(&format!("t{i:03}"), Some(1_000 + i), 1).await.unwrap();
        }
        // Computed at an older version and queued later: it must not move the entry.
        due.scheduled("t000", Some(9_999_999), 0).await.unwrap();
        // A newer version without a due instant removes the entry.
        due.scheduled("t001", None, 2).await.unwrap();
        let claimed = due.claim(10_000, 1_000, 20_000).await.unwrap();
        let expected: Vec<String> = (0..500).filter(|&i| i != 1).map(|i| format!("t{i:03}")).collect();
        assert_eq!(claimed, expected);
    }
}
