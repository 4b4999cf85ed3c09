//! The read-only SQLite connection worker queries run on. Read-only by construction, in layers that do not
//! depend on recognising keywords in the SQL text:
//!
//! 1. the file is opened with `SQLITE_OPEN_READ_ONLY` (no URI parsing, no create), so SQLite itself refuses to
//!    write it;
//! 2. an authorizer, consulted by SQLite while it compiles a statement, allows only reading: `SELECT`, column
//!    reads, recursive CTEs, ordinary functions and a short list of schema-reading PRAGMAs; it refuses every
//!    write (temp tables included), schema change, transaction, ATTACH/DETACH, PRAGMAs that set or run
//!    something, and dangerous functions (`load_extension`, file access);
//! 3. attaching databases is limited to zero (`VACUUM INTO` needs an attachment too), the schema is not
//!    trusted (no functions from views or triggers of the file) and defensive mode is on; extension loading is
//!    never enabled;
//! 4. a progress handler interrupts a statement past its deadline, and values are capped in size.
//!
//! The query module adds SQLite's own `sqlite3_stmt_readonly` verdict and the one-statement rule.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::{Connection, OpenFlags};

/// The largest string or blob a query may produce or read (bytes).
const MAX_VALUE_BYTES: i32 = 4 * 1024 * 1024;
/// The longest SQL text accepted (bytes).
const MAX_SQL_BYTES: i32 = 100_000;
/// How many virtual-machine steps run between deadline checks.
const PROGRESS_STEPS: i32 = 1000;

/// PRAGMAs whose argument names a table or index to describe; they change nothing.
const DESCRIBING_PRAGMAS: &[&str] =
    &["table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list"];
/// PRAGMAs that report a setting when asked without a value (with one, they would change it).
const REPORTING_PRAGMAS: &[&str] =
    &["collation_list", "user_version", "schema_version", "page_count", "page_size", "encoding"];

/// Functions refused even in a `SELECT`: extension loading, file access, and tokenizer pointers.
const REFUSED_FUNCTIONS: &[&str] = &["load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"];

/// A read-only connection and the reason its authorizer last refused something.
pub struct Sandbox {
    pub conn: Connection,
    refusal: Arc<Mutex<Option<String>>>,
}

impl Sandbox {
    /// Open `path` read-only with every guard in place; statements stop once `deadline` passes.
    pub fn open(path: &Path, deadline: Instant) -> rusqlite::Result<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
        conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
        conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)?;
        conn.set_limit(Limit::SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_BYTES)?;
        conn.busy_timeout(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)))?;
        let refusal = Arc::new(Mutex::new(None));
        let recorded = refusal.clone();
        conn.authorizer(Some(move |context: AuthContext<'_>| match verdict(&context.action) {
            Ok(()) => Authorization::Allow,
            Err(reason) => {
                if let Ok(mut slot) = recorded.lock() {
                    slot.get_or_insert(reason);
                }
                Authorization::Deny
            }
        }))?;
        conn.progress_handler(PROGRESS_STEPS, Some(move || Instant::now() >= deadline))?;
        Ok(Self { conn, refusal })
    }

    /// Why the authorizer refused the statement being prepared, if it did (and forget it).
    pub fn take_refusal(&self) -> Option<String> {
        self.refusal.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// Whether a statement may do `action`; `Err` says why not.
fn verdict(action: &AuthAction<'_>) -> Result<(), String> {
    match action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Recursive => Ok(()),
        AuthAction::Function { function_name } => {
            if REFUSED_FUNCTIONS.iter().any(|f| f.eq_ignore_ascii_case(function_name)) {
                Err(format!("the function `{function_name}` is not allowed"))
            } else {
                Ok(())
            }
        }
        AuthAction::Pragma { pragma_name, pragma_value } if allowed_pragma(pragma_name, pragma_value.is_some()) => {
            Ok(())
        }
        AuthAction::Pragma { pragma_name, pragma_value } => Err(match pragma_value {
            Some(value) => format!("`PRAGMA {pragma_name} = {value}` changes the database or connection"),
            None => format!("`PRAGMA {pragma_name}` is not one of the schema-reading pragmas allowed"),
        }),
        // Writing SQLite's own tables is how schema changes begin.
        AuthAction::Insert { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::Delete { table_name }
            if table_name.starts_with("sqlite_") =>
        {
            Err("it would change the schema".into())
        }
        AuthAction::Insert { table_name } => Err(format!("it would insert into `{table_name}`")),
        AuthAction::Update { table_name, .. } => Err(format!("it would update `{table_name}`")),
        AuthAction::Delete { table_name } => Err(format!("it would delete from `{table_name}`")),
        AuthAction::Attach { .. } => Err("ATTACH is not allowed".into()),
        AuthAction::Detach { .. } => Err("DETACH is not allowed".into()),
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
            Err("transactions and savepoints are not allowed".into())
        }
        AuthAction::CreateTable { .. }
        | AuthAction::CreateTempTable { .. }
        | AuthAction::CreateIndex { .. }
        | AuthAction::CreateTempIndex { .. }
        | AuthAction::CreateView { .. }
        | AuthAction::CreateTempView { .. }
        | AuthAction::CreateTrigger { .. }
        | AuthAction::CreateTempTrigger { .. }
        | AuthAction::CreateVtable { .. }
        | AuthAction::DropTable { .. }
        | AuthAction::DropTempTable { .. }
        | AuthAction::DropIndex { .. }
        | AuthAction::DropTempIndex { .. }
        | AuthAction::DropView { .. }
        | AuthAction::DropTempView { .. }
        | AuthAction::DropTrigger { .. }
        | AuthAction::DropTempTrigger { .. }
        | AuthAction::DropVtable { .. }
        | AuthAction::AlterTable { .. }
        | AuthAction::Reindex { .. }
        | AuthAction::Analyze { .. } => Err("it would change the schema".into()),
        other => Err(format!("it does something other than reading ({other:?})")),
    }
}

fn allowed_pragma(name: &str, has_value: bool) -> bool {
    let listed = |list: &[&str]| list.iter().any(|p| p.eq_ignore_ascii_case(name));
    listed(DESCRIBING_PRAGMAS) || (!has_value && listed(REPORTING_PRAGMAS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reading_actions_pass() {
        assert!(verdict(&AuthAction::Select).is_ok());
        assert!(verdict(&AuthAction::Read { table_name: "t", column_name: "c" }).is_ok());
        assert!(verdict(&AuthAction::Function { function_name: "count" }).is_ok());
        assert!(verdict(&AuthAction::Function { function_name: "LOAD_EXTENSION" }).is_err());
        assert!(verdict(&AuthAction::Pragma { pragma_name: "table_info", pragma_value: Some("clients") }).is_ok());
        assert!(verdict(&AuthAction::Pragma { pragma_name: "user_version", pragma_value: Some("7") }).is_err());
        assert!(verdict(&AuthAction::Pragma { pragma_name: "journal_mode", pragma_value: None }).is_err());
        assert!(verdict(&AuthAction::Insert { table_name: "t" }).unwrap_err().contains("`t`"));
        assert!(verdict(&AuthAction::Attach { filename: ":memory:" }).is_err());
    }
}
