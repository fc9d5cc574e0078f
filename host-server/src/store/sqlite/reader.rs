//! Point reads on the calling thread.
//!
//! The requests on the hot path read a handful of rows by key: the caller's session, the
//! helpdesk members with their loads, one ticket, one idempotency record. SQLite answers such a
//! read from its page cache in microseconds, less than the hand-off to a database thread and back
//! that a pooled async driver adds to every query (sqlx runs each statement on a worker thread of
//! its connection and streams rows back through a channel). So these reads run right where they
//! are asked, on a read-only rusqlite connection taken from a small idle list, with cached
//! prepared statements. Queries that scan (lists, the audit trail, replay) stay on sqlx's pool,
//! off the executor threads.
//!
//! INVARIANT: only short reads come here: rows by key, and the members (the `users` table, one
//! row per helpdesk member, read whole by `users` and `users_with_load`). Nothing that grows
//! with tickets or events. In WAL mode a reader does not wait for the writer, so they do not
//! block on other connections either.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use rusqlite::{Connection, OpenFlags};

/// Idle connections kept: one per executor thread reading at once is all that is ever used.
const KEEP_IDLE: usize = 16;

/// Read-only connections to one database file.
pub(super) struct Reader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Reader {
    /// Opens the first connection, which also checks that the file is readable. The file must
    /// exist (the writer creates it).
    pub(super) fn open(path: &Path) -> anyhow::Result<Self> {
        let first = connect(path)?;
        Ok(Self { path: path.to_owned(), idle: Mutex::new(vec![first]) })
    }

    /// Runs `f` on an idle connection (a new one when none is idle).
    pub(super) fn read<T>(&self, f: impl FnOnce(&Connection) -> anyhow::Result<T>) -> anyhow::Result<T> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => connect(&self.path)?,
        };
        let result = f(&conn);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEEP_IDLE
        {
            idle.push(conn);
        }
        result
    }
}

fn connect(path: &Path) -> anyhow::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .with_context(|| format!("opening database {} for reading", path.display()))?;
    // A reader waits only while another process recovers the WAL index after a crash.
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}
