//! Worker databases for the workers tests: real SQLite files in the seed's format (`worker_<id>.db` with a
//! `job_meta(skey, svalue)` table), and a fingerprint to prove a file was left untouched.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rusqlite::{Connection, params};

/// Create `{dir}/worker_{stem}.db` with `meta` in `job_meta` and `setup` run after.
pub fn write_worker(dir: &Path, stem: &str, meta: &[(&str, &str)], setup: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create the workers dir");
    let path = dir.join(format!("worker_{stem}.db"));
    let conn = Connection::open(&path).expect("create a worker database");
    conn.execute_batch("CREATE TABLE job_meta (skey TEXT PRIMARY KEY, svalue TEXT)").expect("create job_meta");
    for (key, value) in meta {
        conn.execute("INSERT INTO job_meta (skey, svalue) VALUES (?1, ?2)", params![key, value]).expect("insert meta");
    }
    conn.execute_batch(setup).expect("run the setup SQL");
    path
}

/// A file's bytes and modification time, to compare before and after.
#[must_use]
pub fn fingerprint(path: &Path) -> (Vec<u8>, SystemTime) {
    let bytes = std::fs::read(path).expect("read the worker file");
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).expect("the file has a modification time");
    (bytes, modified)
}

/// The files in a folder, sorted by name.
#[must_use]
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list the folder")
        .map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
