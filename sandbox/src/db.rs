//! The sandbox's SQLite database, shared by the account server and the API.
//!
//! One connection behind a mutex: the sandbox serves one developer or one
//! test at a time, and SQLite serialises writers anyway. Each part owns its
//! tables and creates them in its `migrate` function.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use rusqlite::Connection;

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens (creating) the file at `path`, or an in-memory database.
    pub fn open(path: Option<&Path>) -> anyhow::Result<Db> {
        let conn = match path {
            Some(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                let conn = Connection::open(path)
                    .with_context(|| format!("opening {}", path.display()))?;
                conn.pragma_update(None, "journal_mode", "WAL")?;
                conn
            }
            None => Connection::open_in_memory()?,
        };
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection. Keep `f` short: it holds the lock.
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        // A panic while holding the lock cannot leave SQLite half-written
        // (statements are atomic), so a poisoned lock is safe to reuse.
        let mut guard = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }
}
