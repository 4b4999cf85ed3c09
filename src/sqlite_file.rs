//! The gateway's own SQLite files (the audit log, the job store): created with their folder, in WAL mode with
//! `synchronous = NORMAL`, and their schema applied, with errors that name the file.

use std::path::Path;

use rusqlite::Connection;

/// Open (creating) the database at `path` in WAL mode and run `schema` (idempotent `CREATE ... IF NOT EXISTS`).
pub fn open_wal(path: &Path, schema: &str) -> Result<Connection, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let conn = Connection::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
        .and_then(|()| conn.execute_batch(schema))
        .map_err(|e| format!("cannot prepare {}: {e}", path.display()))?;
    Ok(conn)
}
