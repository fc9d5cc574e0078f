//! The writer: one OS thread owning the one connection that writes the database.
//!
//! Every write goes through it — commits, scheduler claims, sessions, seeded users — so no second
//! connection ever waits on SQLite's write lock. Commits are written in groups: the thread takes
//! every commit waiting in its queue, writes them into one transaction and makes the group durable
//! with one `COMMIT`, one disk sync for many requests. A refused commit does not sink the others
//! (see [`write_group`]).
//!
//! Why a thread with rusqlite rather than an sqlx connection: sqlx runs each statement on the
//! connection's own worker thread and hands the result back to the async task, so every statement
//! was a round trip between two threads. A create's commit is about ten statements; with both
//! cores busy each hop cost tens to hundreds of microseconds of wake-ups, and the writer spent
//! 1.25–1.56 ms per commit — it was the server's limit (BENCHMARKS.md). Here a group is one
//! synchronous run over cached prepared statements, and a commit crosses threads twice: in and
//! out. Point reads have their own connections (`reader.rs`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use tokio::sync::oneshot;

use crate::store::{Commit, CommitError, NewEvent, StoredEvent, UserRecord};

/// At most this many commits share one transaction.
const MAX_GROUP: usize = 256;

/// How many commits (and other writes) may wait for the writer before senders wait too.
const QUEUE: usize = 4096;

/// How long a small group waits for more commits while writers are arriving together.
///
/// Each group costs a disk sync and rewrites the pages its commits share (the right edge of every
/// index), so bigger groups cost less per commit. Under load, groups stayed small (two commits)
/// because the writer was quick to take each arrival. Like PostgreSQL's `commit_delay`, it waits
/// only when there is company: when recent groups averaged more than one commit ([`COMPANY`]). A
/// lone writer never waits. Measured at saturation: 1,033 → 1,100 creates/s, p95 41.7 → 37.9 ms,
/// groups of 2.0 → 3.1 commits; with two clients, no change (BENCHMARKS.md).
const GATHER: Duration = Duration::from_micros(400);

/// The moving average of group sizes (in percent: 100 = one commit per group) above which writers
/// count as arriving together.
const COMPANY: usize = 120;

/// A group this large stops waiting for more.
const GATHERED: usize = 16;

type Outcome = Result<Vec<StoredEvent>, CommitError>;

/// A commit on its way to the writer. Its payloads are serialized before, and the commit goes back
/// with the answer to be taken apart after: the writer thread does the SQL and nothing else
/// (serializing, cloning and dropping the payloads on it cost a quarter of its time).
struct Job {
    commit: Commit,
    /// Each event's payload as JSON, in order.
    data: Vec<String>,
    /// The ticket projection as JSON.
    doc: Option<String>,
    reply: oneshot::Sender<(Commit, Result<Vec<i64>, CommitError>)>,
}

/// What the writer thread does, in arrival order.
enum Work {
    /// A commit, written in a group with the commits around it (boxed: a commit is large).
    Commit(Box<Job>),
    /// Any other write (a scheduler claim, a session, a seeded user), run between groups, so
    /// the commits that arrived before it are written first.
    Run(Box<dyn FnOnce(&mut Connection) + Send>),
}

/// The handle to the writer thread. The thread stops when the last handle is dropped.
pub(super) struct Writer {
    queue: flume::Sender<Work>,
}

const STOPPED: &str = "the database writer has stopped";

/// A group commit that takes longer than this is logged: at a few hundred creates a second,
/// every request in flight waits behind it (a group normally takes about a millisecond).
const SLOW_GROUP: Duration = Duration::from_millis(50);

impl Writer {
    /// Opens the database file for writing, creates and migrates the schema, and starts the
    /// thread. Blocking: call it off the async executor.
    pub(super) fn start(path: &Path) -> anyhow::Result<Self> {
        let mut conn = Connection::open(path).with_context(|| format!("opening database {}", path.display()))?;
        configure(&conn)?;
        conn.execute_batch(super::SCHEMA).context("creating the schema")?;
        super::migrate(&mut conn).context("migrating the schema")?;
        let (queue, rx) = flume::bounded(QUEUE);
        std::thread::Builder::new()
            .name("nixflow-db-writer".into())
            .spawn(move || run(conn, rx))
            .context("starting the database writer")?;
        Ok(Self { queue })
    }

    /// Writes `commit` in the next group and returns its events as stored, or why it was
    /// refused (nothing of it is written then).
    pub(super) async fn commit(&self, commit: Commit) -> Outcome {
        let data = commit.events.iter().map(|e| json(&e.payload)).collect::<Result<Vec<_>, _>>()?;
        let doc = commit.ticket.as_ref().map(json).transpose()?;
        let (reply, answer) = oneshot::channel();
        let stopped = || CommitError::Database(anyhow::anyhow!(STOPPED));
        let job = Work::Commit(Box::new(Job { commit, data, doc, reply }));
        self.queue.send_async(job).await.map_err(|_| stopped())?;
        let (commit, positions) = answer.await.map_err(|_| stopped())?;
        let positions = positions?;
        let Commit { stream, expected_version, events, .. } = commit;
        Ok((expected_version + 1..)
            .zip(events)
            .zip(positions)
            .map(|((version, event), position)| {
                let NewEvent { id, payload, time, actor, correlation_id, causation_id } = event;
                StoredEvent {
                    position,
                    id,
                    stream: stream.clone(),
                    version,
                    time,
                    actor,
                    correlation_id,
                    causation_id,
                    payload,
                }
            })
            .collect())
    }

    /// Runs `write` on the writing connection, between groups.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        write: impl FnOnce(&mut Connection) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let (reply, answer) = oneshot::channel();
        let work = Work::Run(Box::new(move |conn| {
            let _ = reply.send(write(conn));
        }));
        self.queue.send_async(work).await.map_err(|_| anyhow::anyhow!(STOPPED))?;
        answer.await.map_err(|_| anyhow::anyhow!(STOPPED))?
    }
}

fn configure(conn: &Connection) -> anyhow::Result<()> {
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    anyhow::ensure!(mode.eq_ignore_ascii_case("wal"), "the database refused WAL mode (it is in `{mode}` mode)");
    // INVARIANT: FULL — the WAL is synced at every commit, so an acknowledged write survives a
    // crash or power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Each commit of a group runs in a savepoint, and SQLite copies every page a savepoint first
    // changes into a statement journal: a temporary file by default, a pwrite per page (a third
    // of the writer's time in a profile). In memory it is a copy; durability is the WAL's job.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Other instances sharing the file may hold the write lock for a moment.
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

fn run(mut conn: Connection, queue: flume::Receiver<Work>) {
    let mut group: Vec<Job> = Vec::with_capacity(MAX_GROUP);
    // Whether writers are arriving together: a moving average of the group size, in percent.
    let mut company = 100;
    while let Ok(first) = queue.recv() {
        let mut next = Some(first);
        let mut gather_until: Option<Instant> = None;
        while let Some(work) = next.take() {
            match work {
                Work::Commit(job) => group.push(*job),
                Work::Run(write) => {
                    flush(&mut conn, &mut group, &mut company);
                    write(&mut conn);
                }
            }
            if group.len() < MAX_GROUP {
                next = queue.try_recv().ok();
            }
            if next.is_none() && company > COMPANY && !group.is_empty() && group.len() < GATHERED {
                let until = *gather_until.get_or_insert_with(|| Instant::now() + GATHER);
                next = queue.recv_deadline(until).ok();
            }
        }
        flush(&mut conn, &mut group, &mut company);
    }
}

/// Writes the waiting commits as one group and answers each.
fn flush(conn: &mut Connection, group: &mut Vec<Job>, company: &mut usize) {
    if group.is_empty() {
        return;
    }
    *company = (*company * 7 + group.len().min(16) * 100) / 8;
    let started = std::time::Instant::now();
    let results = write_group(conn, group);
    let elapsed = started.elapsed();
    metrics::histogram!("nixflow_group_commit_size").record(group.len() as f64);
    metrics::histogram!("nixflow_group_commit_seconds").record(elapsed.as_secs_f64());
    if elapsed > SLOW_GROUP {
        // Every writer of the process waits behind this one: worth a line in the log.
        tracing::warn!(commits = group.len(), ms = elapsed.as_millis() as u64, "slow group commit");
    }
    match results {
        Ok(results) => {
            for (job, result) in group.drain(..).zip(results) {
                let _ = job.reply.send((job.commit, result));
            }
        }
        Err(e) => {
            let message = format!("{e:#}");
            tracing::error!(error = message, "group commit failed");
            for job in group.drain(..) {
                let failed = CommitError::Database(anyhow::anyhow!("commit failed: {message}"));
                let _ = job.reply.send((job.commit, Err(failed)));
            }
        }
    }
}

/// One transaction for the group. An error here (not a refused commit: a failed `COMMIT`, a
/// full disk) fails the whole group, and nothing of it is written.
///
/// Commits are written straight into the transaction first. Only when one of them is refused
/// (a lost race on a stream version, a taken key) is the transaction rolled back and the group
/// written again with each commit in its own savepoint, so that the refused one leaves nothing
/// and the others stand. Savepoints on every commit cost more than the rare second pass: SQLite
/// copies each page a savepoint first touches into a statement journal, a sixth of the writer's
/// time in a profile.
fn write_group(conn: &mut Connection, group: &[Job]) -> rusqlite::Result<Vec<Result<Vec<i64>, CommitError>>> {
    {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(group.len());
        for job in group {
            match write_one(&tx, job) {
                Ok(positions) => results.push(Ok(positions)),
                Err(_) => break,
            }
        }
        if results.len() == group.len() {
            tx.commit()?;
            return Ok(results);
        }
        // Dropping the transaction rolls it back: the second pass starts from nothing.
        metrics::counter!("nixflow_group_commit_second_passes_total").increment(1);
    }
    write_group_isolated(conn, group)
}

/// The group again, each commit in its own savepoint.
fn write_group_isolated(conn: &mut Connection, group: &[Job]) -> rusqlite::Result<Vec<Result<Vec<i64>, CommitError>>> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(group.len());
    for job in group {
        let one = tx.savepoint()?;
        let result = write_one(&one, job);
        if result.is_ok() {
            one.commit()?;
        } else {
            // Rolls back to the savepoint and releases it: the refused commit leaves nothing.
            one.finish()?;
        }
        results.push(result);
    }
    tx.commit()?;
    Ok(results)
}

/// Which constraint a refused statement hit, as the caller's error.
fn classify(e: rusqlite::Error, stream: &str) -> CommitError {
    if let rusqlite::Error::SqliteFailure(failure, Some(message)) = &e
        && failure.code == ErrorCode::ConstraintViolation
    {
        if message.contains("events.stream") {
            return CommitError::VersionConflict(stream.to_owned());
        }
        if message.contains("round_robin") {
            return CommitError::CounterTaken { role: String::new(), counter: 0 };
        }
        if message.contains("tickets.number") {
            return CommitError::NumberTaken;
        }
        if message.contains("idempotency") {
            return CommitError::IdempotencyKeyTaken;
        }
        if message.contains("users.username") {
            return CommitError::UsernameTaken;
        }
        if message.contains("modules.sha256") {
            return CommitError::KeyTaken("module".into());
        }
        if message.contains("transition_keys") {
            return CommitError::KeyTaken(String::new());
        }
    }
    CommitError::Database(anyhow::Error::new(e).context("writing a commit"))
}

fn int(n: u64) -> Result<i64, CommitError> {
    i64::try_from(n).map_err(|_| CommitError::Database(anyhow::anyhow!("{n} does not fit a database integer")))
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, CommitError> {
    serde_json::to_string(value).map_err(|e| CommitError::Database(e.into()))
}

/// Writes one commit and returns its events' log positions. The stream's version is the fence: a
/// commit decided on an older version is refused whole (and `UNIQUE(stream, version)` refuses
/// one that races past this check from another instance).
fn write_one(conn: &Connection, job: &Job) -> Result<Vec<i64>, CommitError> {
    let Job { commit, data, doc, .. } = job;
    let stream = commit.stream.as_str();
    let sql = |e| classify(e, stream);
    let current: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = ?1")
        .and_then(|mut s| s.query_row([stream], |row| row.get(0)))
        .map_err(sql)?;
    if u64::try_from(current).ok() != Some(commit.expected_version) {
        return Err(CommitError::VersionConflict(stream.to_owned()));
    }
    let requester = commit.ticket.as_ref().map(|t| t.requester.as_str());
    let mut positions = Vec::with_capacity(commit.events.len());
    if !commit.events.is_empty() {
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO events (id, stream, version, type, time, actor, correlation_id, causation_id, data, requester)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .map_err(sql)?;
        for ((version, event), data) in (commit.expected_version + 1..).zip(&commit.events).zip(data) {
            let NewEvent { id, payload, time, actor, correlation_id, causation_id, .. } = event;
            insert
                .execute(params![
                    id,
                    stream,
                    int(version)?,
                    payload.kind(),
                    time,
                    actor,
                    correlation_id,
                    causation_id,
                    data,
                    requester
                ])
                .map_err(sql)?;
            positions.push(conn.last_insert_rowid());
        }
    }
    for (role, counter) in &commit.counters {
        let value = int(*counter)?;
        conn.prepare_cached("INSERT INTO round_robin (role, counter) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![role, value]))
            .map_err(|e| match classify(e, stream) {
                CommitError::CounterTaken { .. } => CommitError::CounterTaken { role: role.clone(), counter: *counter },
                other => other,
            })?;
    }
    if let Some(t) = &commit.ticket {
        let seq = positions.first().copied().unwrap_or_default();
        let version = int(t.version)?;
        // The wake-up rides along when the commit sets one (a NULL `?14` with a false `?15` keeps
        // the current `due_at` and claim), so a decided ticket costs one statement, not two.
        conn.prepare_cached(
            "INSERT INTO tickets (id, seq, number, status, priority, category, assignee, requester, title, description, open, version, doc, due_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, priority = excluded.priority,
               category = excluded.category, assignee = excluded.assignee, title = excluded.title,
               description = excluded.description, open = excluded.open, version = excluded.version, doc = excluded.doc,
               due_at = CASE WHEN ?15 THEN excluded.due_at ELSE tickets.due_at END,
               claimed_until = CASE WHEN ?15 THEN NULL ELSE tickets.claimed_until END",
        )
        .and_then(|mut s| {
            s.execute(params![
                t.id,
                seq,
                t.number,
                t.status.as_str(),
                t.priority.map(|p| p.as_str()),
                t.category,
                t.assignee,
                t.requester,
                t.title,
                t.description,
                !t.status.is_final(),
                version,
                doc,
                commit.schedule.flatten(),
                commit.schedule.is_some(),
            ])
        })
        .map_err(sql)?;
    }
    for key in &commit.keys {
        conn.prepare_cached("INSERT INTO transition_keys (key, stream) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![key, stream]))
            .map_err(|e| match classify(e, stream) {
                CommitError::KeyTaken(_) => CommitError::KeyTaken(key.clone()),
                other => other,
            })?;
    }
    if let Some(due) = commit.schedule.filter(|_| commit.ticket.is_none()) {
        conn.prepare_cached("UPDATE tickets SET due_at = ?1, claimed_until = NULL WHERE id = ?2")
            .and_then(|mut s| s.execute(params![due, stream]))
            .map_err(sql)?;
    }
    if let Some(u) = &commit.user {
        upsert_user(conn, u).map_err(|e| match e.downcast::<rusqlite::Error>() {
            Ok(e) => classify(e, stream),
            Err(e) => CommitError::Database(e),
        })?;
    }
    if let Some((record, bytes)) = &commit.module {
        let doc = json(record)?;
        conn.prepare_cached("INSERT INTO modules (sha256, record, bytes) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![record.sha256, doc, bytes]))
            .map_err(sql)?;
    }
    if let Some((version, rule_set)) = &commit.rule_set {
        let version = int(*version)?;
        conn.prepare_cached("INSERT INTO rule_sets (version, rule_set) VALUES (?1, ?2)")
            .and_then(|mut s| s.execute(params![version, rule_set.to_string()]))
            .map_err(sql)?;
    }
    if let Some(r) = &commit.idempotency {
        conn.prepare_cached(
            "INSERT INTO idempotency (actor, key, request_hash, status, body) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| s.execute(params![r.actor, r.key, r.request_hash, r.status, r.body]))
        .map_err(sql)?;
    }
    Ok(positions)
}

/// Creates or replaces a user account.
pub(super) fn upsert_user(conn: &Connection, u: &UserRecord) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT INTO users (id, username, name, permission, team_roles, available, max_open_tickets, password_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET username = excluded.username, name = excluded.name,
           permission = excluded.permission, team_roles = excluded.team_roles, available = excluded.available,
           max_open_tickets = excluded.max_open_tickets, password_hash = excluded.password_hash",
    )?
    .execute(params![
        u.id,
        u.username,
        u.name,
        u.permission.as_str(),
        serde_json::to_string(&u.team_roles)?,
        u.available,
        u.max_open_tickets,
        u.password_hash
    ])?;
    Ok(())
}

/// Whether the database has a table named `name`.
pub(super) fn has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", [name], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventPayload;

    fn job(stream: &str, expected_version: u64, id: &str) -> Job {
        let payload = EventPayload::RuleEvaluationFailed {
            module_sha256: "0".repeat(64),
            trigger: "ticket.created".into(),
            reason: "test".into(),
        };
        let data = vec![json(&payload).expect("serializable")];
        let event = NewEvent {
            id: id.into(),
            payload,
            time: 1,
            actor: "automation".into(),
            correlation_id: "c".into(),
            causation_id: None,
        };
        let commit = Commit { stream: stream.into(), expected_version, events: vec![event], ..Commit::default() };
        // `write_group` only writes; the reply goes out from `flush`.
        let (reply, _) = oneshot::channel();
        Job { commit, data, doc: None, reply }
    }

    fn stored(conn: &Connection) -> Vec<(String, String, i64)> {
        let mut s = conn.prepare("SELECT id, stream, version FROM events ORDER BY position").expect("prepare");
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).expect("query").map(|r| r.expect("row")).collect()
    }

    #[test]
    fn a_refused_commit_leaves_nothing_and_the_rest_of_its_group_stands() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = Connection::open(dir.path().join("db.sqlite")).expect("open");
        configure(&conn).expect("configure");
        conn.execute_batch(super::super::SCHEMA).expect("schema");
        super::super::migrate(&mut conn).expect("migrate");

        // The second commit decided on the same version of `a` as the first: it lost the race.
        let group = [job("a", 0, "e1"), job("a", 0, "e2"), job("b", 0, "e3")];
        let results = write_group(&mut conn, &group).expect("the group is written");
        assert!(matches!(results[0], Ok(ref p) if p.len() == 1), "{:?}", results[0]);
        assert!(matches!(results[1], Err(CommitError::VersionConflict(ref s)) if s == "a"), "{:?}", results[1]);
        assert!(matches!(results[2], Ok(ref p) if p.len() == 1), "{:?}", results[2]);
        assert_eq!(stored(&conn), [("e1".into(), "a".into(), 1), ("e3".into(), "b".into(), 1)]);

        // A group without refusals is written in one pass, in order.
        let group = [job("a", 1, "e4"), job("b", 1, "e5")];
        let results = write_group(&mut conn, &group).expect("the group is written");
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        let ids: Vec<String> = stored(&conn).into_iter().map(|(id, ..)| id).collect();
        assert_eq!(ids, ["e1", "e3", "e4", "e5"]);
    }
}
