//! The gateway's own SQLite files (the audit log, the job store, the OAuth store, federation pins): created with their
//! folder, in WAL mode with `synchronous = NORMAL`, and their schema applied, with errors that name the file. The
//! connection opened here (each store's writer) keeps a 512 KiB page cache.

use std::path::Path;

use rusqlite::Connection;

/// Open (creating) the database at `path` in WAL mode and run `schema` (idempotent `CREATE ... IF NOT EXISTS`).
pub fn open_wal(path: &Path, schema: &str) -> Result<Connection, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let conn = Connection::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    // The page cache: SQLite's default (2 MiB) filled up under a steady stream of audit rows, although appending
    // only touches the right edge of each B-tree; a page evicted from 512 KiB is read back from the OS's file cache.
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -512;")
        .and_then(|()| conn.execute_batch(schema))
        .map_err(|e| format!("cannot prepare {}: {e}", path.display()))?;
    Ok(conn)
}
