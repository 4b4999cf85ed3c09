//! Finds the workers: `worker_*.db` files in the workers folder, each read through the read-only sandbox.
//!
//! The scan is cached with a fingerprint of the folder (the names, sizes and modification times of the worker
//! files and their `-wal` journals). Each listing recomputes the fingerprint, which costs one directory read
//! and a `stat` per file, and rescans only when it changed, so new, removed and edited workers show up on the
//! next request. An unreadable or corrupt database is skipped with a warning; it never fails the listing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::meta::Worker;
use super::sandbox::Sandbox;

/// How long reading one worker's metadata may take.
const META_DEADLINE: Duration = Duration::from_secs(2);

/// One file's identity for change detection: name, size, modification time.
type FileStamp = (String, u64, Option<SystemTime>);

/// The last scan and the folder fingerprint it was made from.
#[derive(Debug)]
struct Snapshot {
    stamps: Vec<FileStamp>,
    workers: Arc<Vec<Worker>>,
}

/// The cached scan of one folder.
#[derive(Debug)]
pub struct Scanner {
    dir: PathBuf,
    cache: Mutex<Option<Snapshot>>,
}

/// Whether `id` is a well-formed worker id: lower-case ASCII letters, digits, `_` and `-`, 1 to 64 long,
/// starting with a letter or digit. Ids are checked before any lookup, and only scanned files have ids.
#[must_use]
pub fn is_worker_id(id: &str) -> bool {
    id.len() <= 64
        && id.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

impl Scanner {
    #[must_use]
    pub fn new(dir: PathBuf) -> Self {
        Self { dir, cache: Mutex::new(None) }
    }

    /// The workers, sorted by name then id; rescanned when the folder changed.
    pub fn workers(&self) -> Arc<Vec<Worker>> {
        let stamps = self.stamps();
        let mut cache = match self.cache.lock() {
            Ok(cache) => cache,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(snapshot) = cache.as_ref().filter(|s| s.stamps == stamps) {
            return snapshot.workers.clone();
        }
        let workers = Arc::new(self.scan());
        *cache = Some(Snapshot { stamps, workers: workers.clone() });
        workers
    }

    /// The folder's worker files and journals with their sizes and times, sorted by name.
    fn stamps(&self) -> Vec<FileStamp> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut stamps: Vec<FileStamp> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let relevant = name.starts_with("worker_") && (name.ends_with(".db") || name.ends_with(".db-wal"));
                let meta = entry.metadata().ok().filter(|_| relevant)?;
                Some((name, meta.len(), meta.modified().ok()))
            })
            .collect();
        stamps.sort();
        stamps
    }

    fn scan(&self) -> Vec<Worker> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            tracing::debug!(dir = %self.dir.display(), "the workers folder does not exist; no workers");
            return Vec::new();
        };
        let mut files: Vec<(String, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let id = name.strip_prefix("worker_")?.strip_suffix(".db")?.to_lowercase();
                Some((id, entry.path()))
            })
            .collect();
        files.sort();
        let mut workers: Vec<Worker> = Vec::with_capacity(files.len());
        for (id, path) in files {
            if !is_worker_id(&id) {
                tracing::warn!(file = %path.display(), "worker file name is not a usable id; skipped");
                continue;
            }
            if workers.iter().any(|w| w.id == id) {
                tracing::warn!(file = %path.display(), id, "another file already has this worker id; skipped");
                continue;
            }
            match read_worker(id, &path) {
                Ok(worker) => workers.push(worker),
                Err(e) => tracing::warn!(file = %path.display(), error = %e, "unreadable worker database; skipped"),
            }
        }
        workers.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then_with(|| a.id.cmp(&b.id)));
        workers
    }
}

/// Read one worker's metadata. A database without `job_meta` is a worker with default metadata.
fn read_worker(id: String, path: &Path) -> rusqlite::Result<Worker> {
    let db_size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let sandbox = Sandbox::open(path, Instant::now() + META_DEADLINE)?;
    let has_meta: bool = sandbox.conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'job_meta')",
        [],
        |row| row.get(0),
    )?;
    let mut meta = HashMap::new();
    if has_meta {
        let mut statement = sandbox.conn.prepare("SELECT skey, svalue FROM job_meta")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let key: Option<String> = row.get(0)?;
            let value = match row.get_ref(1)? {
                rusqlite::types::ValueRef::Null => continue,
                rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                rusqlite::types::ValueRef::Real(x) => x.to_string(),
                rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                    String::from_utf8_lossy(t).into_owned()
                }
            };
            if let Some(key) = key {
                meta.insert(key, value);
            }
        }
    } else {
        tracing::warn!(worker = %id, "worker database has no job_meta table; default metadata");
    }
    Ok(Worker::from_meta(id, path.to_path_buf(), db_size, &meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_ids_refuse_path_tricks() {
        for good in ["alain", "sales-2", "a_b"] {
            assert!(is_worker_id(good), "{good}");
        }
        for bad in ["", "../etc", "a/b", "a\\b", "a\0b", "/abs", "Alain", ".hidden", "a.b", &"x".repeat(65)] {
            assert!(!is_worker_id(bad), "{bad:?}");
        }
    }
}
