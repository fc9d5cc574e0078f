//! The embedded default store: one SQLite file in WAL mode with `synchronous = FULL`, so an
//! acknowledged commit has reached the disk.
//!
//! Writes go through one writer thread ([`writer`]) that commits in groups — one disk sync for
//! many requests, without relaxing durability. Point reads by key run on the calling thread
//! ([`reader`]); queries that scan use a pool of read-only sqlx connections.

mod reader;
mod writer;

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use rules_core::model::Millis;
use rusqlite::OptionalExtension;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{Row, SqlitePool};

use self::reader::Reader;
use self::writer::Writer;
use super::{
    Commit, CommitError, EventQuery, EventStore, IdempotencyRecord, ModuleRecord, Permission, Scheduled, StoredEvent,
    TicketFilter, UserRecord,
};
use crate::domain::{EventPayload, PUBLIC_STREAMS, TicketState};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS events (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    stream         TEXT NOT NULL,
    version        INTEGER NOT NULL,
    type           TEXT NOT NULL,
    time           INTEGER NOT NULL,
    actor          TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    causation_id   TEXT,
    data           TEXT NOT NULL,
    requester      TEXT,
    UNIQUE (stream, version)
);
CREATE INDEX IF NOT EXISTS events_by_type ON events (type, position);
CREATE INDEX IF NOT EXISTS events_by_correlation ON events (correlation_id);
CREATE INDEX IF NOT EXISTS events_by_actor ON events (actor, position);
CREATE INDEX IF NOT EXISTS events_by_requester ON events (requester, position);
CREATE TABLE IF NOT EXISTS tickets (
    id          TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL UNIQUE,
    number      TEXT NOT NULL UNIQUE,
    status      TEXT NOT NULL,
    priority    TEXT,
    category    TEXT NOT NULL,
    assignee    TEXT,
    requester   TEXT NOT NULL,
    title       TEXT NOT NULL,
    description TEXT NOT NULL,
    open        INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    doc         TEXT NOT NULL,
    due_at        INTEGER,
    claimed_until INTEGER
);
CREATE INDEX IF NOT EXISTS tickets_by_assignee ON tickets (assignee, open);
CREATE INDEX IF NOT EXISTS tickets_by_requester ON tickets (requester, seq);
CREATE INDEX IF NOT EXISTS tickets_by_status ON tickets (status, seq);
CREATE TABLE IF NOT EXISTS transition_keys (
    key    TEXT PRIMARY KEY,
    stream TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS modules (
    sha256 TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    bytes  BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS rule_sets (
    version  INTEGER PRIMARY KEY,
    rule_set TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS round_robin (
    role      TEXT NOT NULL,
    counter   INTEGER NOT NULL,
    PRIMARY KEY (role, counter)
);
CREATE TABLE IF NOT EXISTS users (
    id               TEXT PRIMARY KEY,
    username         TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    permission       TEXT NOT NULL,
    team_roles       TEXT NOT NULL,
    available        INTEGER NOT NULL,
    max_open_tickets INTEGER,
    password_hash    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    actor        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT NOT NULL,
    PRIMARY KEY (actor, key)
);
"#;

/// Columns added after the first release, for databases created before them.
const ADDED_COLUMNS: [(&str, &str, &str); 2] =
    [("tickets", "due_at", "INTEGER"), ("tickets", "claimed_until", "INTEGER")];

fn migrate(conn: &mut rusqlite::Connection) -> anyhow::Result<()> {
    for (table, column, kind) in ADDED_COLUMNS {
        let present = conn
            .query_row(&format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"), [column], |_| Ok(()))
            .optional()?;
        if present.is_none() {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    // The due-time index: a scheduler tick reads only the tickets that are due.
    conn.execute_batch("CREATE INDEX IF NOT EXISTS tickets_by_due ON tickets (due_at, id) WHERE due_at IS NOT NULL")?;
    if !writer::has_table(conn, "open_by_assignee")? {
        // One transaction: the table, its triggers (the table alone may have been dropped: its
        // triggers live on `tickets`), and its first rows from the tickets as they are.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(&format!(
            "{OPEN_BY_ASSIGNEE}
             INSERT INTO open_by_assignee (assignee, open)
               SELECT assignee, COUNT(*) FROM tickets WHERE open = 1 AND assignee IS NOT NULL GROUP BY assignee;"
        ))?;
        tx.commit()?;
    }
    Ok(())
}

/// Open tickets per assignee, kept by triggers in the transaction that changes a ticket: the
/// rule module needs every member's load on every decision, and counting it from `tickets`
/// costs a scan of every assigned ticket (it grew with the table: 10,000 tickets in a load run).
/// A projection like `tickets`, so a replay that rebuilds `tickets` rebuilds it too.
const OPEN_BY_ASSIGNEE: &str = "
DROP TRIGGER IF EXISTS open_by_assignee_insert;
DROP TRIGGER IF EXISTS open_by_assignee_update_leave;
DROP TRIGGER IF EXISTS open_by_assignee_update_enter;
DROP TRIGGER IF EXISTS open_by_assignee_delete;
CREATE TABLE open_by_assignee (
    assignee TEXT PRIMARY KEY,
    open     INTEGER NOT NULL
);
CREATE TRIGGER open_by_assignee_insert AFTER INSERT ON tickets
WHEN NEW.open = 1 AND NEW.assignee IS NOT NULL BEGIN
    INSERT INTO open_by_assignee (assignee, open) VALUES (NEW.assignee, 1)
      ON CONFLICT (assignee) DO UPDATE SET open = open + 1;
END;
CREATE TRIGGER open_by_assignee_update_leave AFTER UPDATE OF assignee, open ON tickets
WHEN OLD.open = 1 AND OLD.assignee IS NOT NULL BEGIN
    UPDATE open_by_assignee SET open = open - 1 WHERE assignee = OLD.assignee;
END;
CREATE TRIGGER open_by_assignee_update_enter AFTER UPDATE OF assignee, open ON tickets
WHEN NEW.open = 1 AND NEW.assignee IS NOT NULL BEGIN
    INSERT INTO open_by_assignee (assignee, open) VALUES (NEW.assignee, 1)
      ON CONFLICT (assignee) DO UPDATE SET open = open + 1;
END;
CREATE TRIGGER open_by_assignee_delete AFTER DELETE ON tickets
WHEN OLD.open = 1 AND OLD.assignee IS NOT NULL BEGIN
    UPDATE open_by_assignee SET open = open - 1 WHERE assignee = OLD.assignee;
END;
";

/// The SQLite store.
pub struct SqliteStore {
    pool: SqlitePool,
    /// Point reads by key.
    reader: Reader,
    /// Every write.
    writer: Writer,
}

fn options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::from_str("sqlite://")
        .unwrap_or_default()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true)
        .read_only(true)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and starts the writer thread.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let owned = path.to_owned();
        let (writer, reader) = tokio::task::spawn_blocking(move || {
            Ok::<_, anyhow::Error>((Writer::start(&owned)?, Reader::open(&owned)?))
        })
        .await??;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options(path))
            .await
            .context("opening read connections")?;
        Ok(Self { pool, reader, writer })
    }
}

fn event_from_row(row: &SqliteRow) -> anyhow::Result<StoredEvent> {
    let kind: String = row.try_get("type")?;
    let data: String = row.try_get("data")?;
    let payload: EventPayload =
        serde_json::from_str(&data).with_context(|| format!("event of type `{kind}` does not parse"))?;
    let version: i64 = row.try_get("version")?;
    Ok(StoredEvent {
        position: row.try_get("position")?,
        id: row.try_get("id")?,
        stream: row.try_get("stream")?,
        version: u64::try_from(version)?,
        time: row.try_get("time")?,
        actor: row.try_get("actor")?,
        correlation_id: row.try_get("correlation_id")?,
        causation_id: row.try_get("causation_id")?,
        payload,
    })
}

/// The columns of `users`, in the order [`user_from_row`] reads them. A macro, so that the
/// queries that select them are constants (`concat!`), not strings formatted on every read.
macro_rules! user_columns {
    () => {
        "users.id, users.username, users.name, users.permission, users.team_roles, users.available, \
         users.max_open_tickets, users.password_hash"
    };
}

fn user_from_row(row: &rusqlite::Row<'_>) -> anyhow::Result<UserRecord> {
    let permission: String = row.get(3)?;
    let roles: String = row.get(4)?;
    let cap: Option<i64> = row.get(6)?;
    Ok(UserRecord {
        id: row.get(0)?,
        username: row.get(1)?,
        name: row.get(2)?,
        permission: Permission::parse(&permission).with_context(|| format!("unknown permission `{permission}`"))?,
        team_roles: serde_json::from_str(&roles)?,
        available: row.get(5)?,
        max_open_tickets: cap.map(u32::try_from).transpose()?,
        password_hash: row.get(7)?,
    })
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn commit(&self, commit: Commit) -> Result<Vec<StoredEvent>, CommitError> {
        self.writer.commit(commit).await
    }

    async fn ticket(&self, id: &str) -> anyhow::Result<Option<TicketState>> {
        self.reader.read(|conn| {
            let doc: Option<String> = conn
                .prepare_cached("SELECT doc FROM tickets WHERE id = ?1")?
                .query_row([id], |row| row.get(0))
                .optional()?;
            doc.map(|d| serde_json::from_str(&d).context("ticket projection does not parse")).transpose()
        })
    }

    async fn tickets(
        &self,
        filter: &TicketFilter,
        requester: Option<&str>,
    ) -> anyhow::Result<(Vec<TicketState>, Option<String>)> {
        let limit = filter.limit.unwrap_or(50).clamp(1, 200);
        let mut sql = String::from("SELECT seq, doc FROM tickets WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        for (column, value) in [
            ("status", &filter.status),
            ("priority", &filter.priority),
            ("category", &filter.category),
            ("assignee", &filter.assignee),
            ("requester", &filter.requester),
        ] {
            if let Some(v) = value {
                sql.push_str(&format!(" AND {column} = ?"));
                binds.push(v.clone());
            }
        }
        if let Some(r) = requester {
            sql.push_str(" AND requester = ?");
            binds.push(r.to_owned());
        }
        if let Some(q) = filter.q.as_deref().filter(|q| !q.trim().is_empty()) {
            sql.push_str(" AND (number = ? OR title LIKE ? ESCAPE '\\' OR description LIKE ? ESCAPE '\\')");
            let like = format!("%{}%", q.trim().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            binds.extend([q.trim().to_owned(), like.clone(), like]);
        }
        let cursor = match &filter.cursor {
            Some(c) => Some(c.parse::<i64>().map_err(|_| anyhow::anyhow!("bad cursor"))?),
            None => None,
        };
        if cursor.is_some() {
            sql.push_str(" AND seq < ?");
        }
        sql.push_str(" ORDER BY seq DESC LIMIT ?");
        let mut query = sqlx::query(&sql);
        for b in &binds {
            query = query.bind(b);
        }
        if let Some(c) = cursor {
            query = query.bind(c);
        }
        let rows = query.bind(i64::from(limit) + 1).fetch_all(&self.pool).await?;
        let mut tickets = Vec::with_capacity(rows.len());
        let mut last_seq = None;
        for row in rows.iter().take(limit as usize) {
            let doc: String = row.try_get("doc")?;
            tickets.push(serde_json::from_str(&doc)?);
            last_seq = Some(row.try_get::<i64, _>("seq")?);
        }
        let next = if rows.len() > limit as usize { last_seq.map(|s| s.to_string()) } else { None };
        Ok((tickets, next))
    }

    async fn events(&self, q: &EventQuery) -> anyhow::Result<Vec<StoredEvent>> {
        let mut sql = String::from("SELECT * FROM events WHERE position > ?");
        let mut text: Vec<String> = Vec::new();
        if !q.types.is_empty() {
            sql.push_str(&format!(" AND type IN ({})", vec!["?"; q.types.len()].join(", ")));
            text.extend(q.types.iter().cloned());
        }
        for (column, value) in [("stream", &q.stream), ("actor", &q.actor), ("correlation_id", &q.correlation_id)] {
            if let Some(v) = value {
                sql.push_str(&format!(" AND {column} = ?"));
                text.push(v.clone());
            }
        }
        if let Some(requester) = &q.requester {
            let public = vec!["?"; PUBLIC_STREAMS.len()].join(", ");
            sql.push_str(&format!(" AND (requester = ? OR stream IN ({public}))"));
            text.push(requester.clone());
            text.extend(PUBLIC_STREAMS.iter().map(|s| (*s).to_owned()));
        }
        if q.from.is_some() {
            sql.push_str(" AND time >= ?");
        }
        if q.to.is_some() {
            sql.push_str(" AND time < ?");
        }
        sql.push_str(" ORDER BY position LIMIT ?");
        let mut query = sqlx::query(&sql).bind(q.after);
        for t in &text {
            query = query.bind(t);
        }
        for bound in [q.from, q.to].into_iter().flatten() {
            query = query.bind(bound);
        }
        let rows = query.bind(i64::from(q.limit.clamp(1, 10_000))).fetch_all(&self.pool).await?;
        rows.iter().map(event_from_row).collect()
    }

    async fn head(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events").fetch_one(&self.pool).await?)
    }

    async fn users(&self) -> anyhow::Result<Vec<UserRecord>> {
        self.reader.read(|conn| {
            let mut statement = conn.prepare_cached(concat!("SELECT ", user_columns!(), " FROM users ORDER BY id"))?;
            let mut rows = statement.query([])?;
            let mut users = Vec::new();
            while let Some(row) = rows.next()? {
                users.push(user_from_row(row)?);
            }
            Ok(users)
        })
    }

    async fn put_user(&self, u: &UserRecord) -> anyhow::Result<()> {
        // Seeding writes users directly; the API writes them with their event (`Commit::user`).
        let u = u.clone();
        self.writer.run(move |conn| writer::upsert_user(conn, &u)).await
    }

    async fn put_session(&self, token_hash: &str, user_id: &str, expires_at: Millis) -> anyhow::Result<()> {
        let (token_hash, user_id) = (token_hash.to_owned(), user_id.to_owned());
        self.writer
            .run(move |conn| {
                conn.prepare_cached("INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)")?
                    .execute(rusqlite::params![token_hash, user_id, expires_at])?;
                Ok(())
            })
            .await
    }

    async fn session_user(&self, token_hash: &str, now: Millis) -> anyhow::Result<Option<UserRecord>> {
        self.reader.read(|conn| {
            let mut statement = conn.prepare_cached(concat!(
                "SELECT ",
                user_columns!(),
                " FROM sessions JOIN users ON users.id = sessions.user_id
                 WHERE sessions.token_hash = ?1 AND sessions.expires_at > ?2"
            ))?;
            let mut rows = statement.query(rusqlite::params![token_hash, now])?;
            rows.next()?.map(user_from_row).transpose()
        })
    }

    async fn delete_session(&self, token_hash: &str) -> anyhow::Result<()> {
        let token_hash = token_hash.to_owned();
        self.writer
            .run(move |conn| {
                conn.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?.execute([token_hash])?;
                Ok(())
            })
            .await
    }

    async fn idempotency(&self, actor: &str, key: &str) -> anyhow::Result<Option<IdempotencyRecord>> {
        self.reader.read(|conn| {
            let mut statement = conn
                .prepare_cached("SELECT request_hash, status, body FROM idempotency WHERE actor = ?1 AND key = ?2")?;
            let mut rows = statement.query([actor, key])?;
            let Some(row) = rows.next()? else { return Ok(None) };
            Ok(Some(IdempotencyRecord {
                actor: actor.to_owned(),
                key: key.to_owned(),
                request_hash: row.get(0)?,
                status: u16::try_from(row.get::<_, i64>(1)?)?,
                body: row.get(2)?,
            }))
        })
    }

    async fn max_counter(&self, role: &str) -> anyhow::Result<u64> {
        let max: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(counter), 0) FROM round_robin WHERE role = ?")
            .bind(role)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(max)?)
    }

    async fn max_ticket_number(&self, day: &str) -> anyhow::Result<u64> {
        let prefix = format!("TKT-{day}-");
        let max: Option<String> =
            sqlx::query_scalar("SELECT MAX(number) FROM tickets WHERE number >= ? AND number < ?")
                .bind(&prefix)
                .bind(format!("TKT-{day}."))
                .fetch_one(&self.pool)
                .await?;
        Ok(max.and_then(|n| n.strip_prefix(&prefix).and_then(|s| s.parse().ok())).unwrap_or(0))
    }

    async fn active_rule_set(&self) -> anyhow::Result<Option<(u64, serde_json::Value)>> {
        let row = sqlx::query("SELECT version, rule_set FROM rule_sets ORDER BY version DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| -> anyhow::Result<(u64, serde_json::Value)> {
            Ok((u64::try_from(r.try_get::<i64, _>("version")?)?, serde_json::from_str(r.try_get("rule_set")?)?))
        })
        .transpose()
    }

    async fn open_ticket_counts(&self) -> anyhow::Result<HashMap<String, u32>> {
        let rows = sqlx::query("SELECT assignee, open AS n FROM open_by_assignee WHERE open > 0")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("assignee")?, u32::try_from(r.try_get::<i64, _>("n")?)?))).collect()
    }

    async fn users_with_load(&self) -> anyhow::Result<Vec<(UserRecord, u32)>> {
        self.reader.read(|conn| {
            let mut statement = conn.prepare_cached(concat!(
                "SELECT ",
                user_columns!(),
                ", COALESCE(load.open, 0)
                 FROM users LEFT JOIN open_by_assignee AS load ON load.assignee = users.id
                 ORDER BY users.id"
            ))?;
            let mut rows = statement.query([])?;
            let mut users = Vec::new();
            while let Some(row) = rows.next()? {
                users.push((user_from_row(row)?, u32::try_from(row.get::<_, i64>(8)?.max(0))?));
            }
            Ok(users)
        })
    }

    async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.context("read connections")?;
        self.reader.read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?)).context("point reads")?;
        // Writes have one way in: an instance whose writer thread is gone cannot take any.
        self.writer.run(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?)).await.context("the writer")
    }

    async fn stream_version(&self, stream: &str) -> anyhow::Result<u64> {
        let v: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM events WHERE stream = ?")
            .bind(stream)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(v)?)
    }

    async fn has_key(&self, key: &str) -> anyhow::Result<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM transition_keys WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    async fn claim_due(&self, now: Millis, limit: usize, lease_until: Millis) -> anyhow::Result<Vec<Scheduled>> {
        // A claim writes, so it goes through the writer: as a second writing connection it
        // waited for SQLite's write lock behind back-to-back group commits (1.4 s under
        // saturation), and the deadlines it serves slipped. One statement, so the claim is atomic
        // against other instances sharing the file.
        let limit = i64::try_from(limit)?;
        self.writer
            .run(move |conn| {
                let mut claim = conn.prepare_cached(
                    "UPDATE tickets SET claimed_until = ?1
                     WHERE id IN (SELECT id FROM tickets
                                  WHERE due_at <= ?2 AND (claimed_until IS NULL OR claimed_until <= ?2)
                                  ORDER BY due_at, id LIMIT ?3)
                     RETURNING id, due_at, version",
                )?;
                let mut due = claim
                    .query_map(rusqlite::params![lease_until, now, limit], |row| {
                        Ok(Scheduled { ticket: row.get(0)?, due_at: row.get(1)?, version: row.get(2)? })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                due.sort_by(|a, b| (a.due_at, &a.ticket).cmp(&(b.due_at, &b.ticket)));
                Ok(due)
            })
            .await
    }

    async fn scheduled(
        &self,
        before: Millis,
        after: Option<(Millis, String)>,
        limit: usize,
    ) -> anyhow::Result<Vec<Scheduled>> {
        let (due, id) = after.unwrap_or((Millis::MIN, String::new()));
        let rows = sqlx::query(
            "SELECT id, due_at, version FROM tickets
             WHERE due_at IS NOT NULL AND due_at < ?1 AND (due_at > ?2 OR (due_at = ?2 AND id > ?3))
             ORDER BY due_at, id LIMIT ?4",
        )
        .bind(before)
        .bind(due)
        .bind(id)
        .bind(i64::try_from(limit)?)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(scheduled_from_row).collect()
    }

    async fn reschedule_open(&self, at: Millis) -> anyhow::Result<u64> {
        self.writer
            .run(move |conn| {
                let changed = conn.execute(
                    "UPDATE tickets SET due_at = MIN(COALESCE(due_at, ?1), ?1), claimed_until = NULL WHERE open = 1",
                    [at],
                )?;
                Ok(u64::try_from(changed)?)
            })
            .await
    }

    async fn modules(&self) -> anyhow::Result<Vec<ModuleRecord>> {
        let docs: Vec<String> =
            sqlx::query_scalar("SELECT record FROM modules ORDER BY rowid").fetch_all(&self.pool).await?;
        docs.iter().map(|d| serde_json::from_str(d).context("module record does not parse")).collect()
    }

    async fn module(&self, sha256: &str) -> anyhow::Result<Option<(ModuleRecord, Vec<u8>)>> {
        let row = sqlx::query("SELECT record, bytes FROM modules WHERE sha256 = ?")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| -> anyhow::Result<(ModuleRecord, Vec<u8>)> {
            let doc: String = r.try_get("record")?;
            Ok((serde_json::from_str(&doc).context("module record does not parse")?, r.try_get("bytes")?))
        })
        .transpose()
    }

    async fn tickets_page(&self, after_seq: i64, limit: u32) -> anyhow::Result<Vec<(i64, TicketState)>> {
        let rows = sqlx::query("SELECT seq, doc FROM tickets WHERE seq > ? ORDER BY seq LIMIT ?")
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| -> anyhow::Result<(i64, TicketState)> {
                let doc: String = r.try_get("doc")?;
                Ok((r.try_get("seq")?, serde_json::from_str(&doc).context("ticket projection does not parse")?))
            })
            .collect()
    }
}

fn scheduled_from_row(row: &SqliteRow) -> anyhow::Result<Scheduled> {
    Ok(Scheduled {
        ticket: row.try_get("id")?,
        due_at: row.try_get("due_at")?,
        version: u64::try_from(row.try_get::<i64, _>("version")?)?,
    })
}
