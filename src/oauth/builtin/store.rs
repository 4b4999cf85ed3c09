//! What the built-in authorization server remembers, in SQLite (`{data_dir}/oauth.db`, WAL): registered clients
//! (and the client ID metadata documents it fetched, with when), authorization codes and refresh tokens. Codes
//! and refresh tokens are kept only as SHA-256 digests (hex), so the file cannot be replayed. Every access runs
//! on a blocking thread; expired codes and refresh tokens are deleted when new ones are saved.
//!
//! A code is taken by deleting it (single use, atomically). A refresh token is used by marking it used and
//! handing back what it grants; presenting a used one again is reported so its whole family (every token rotated
//! from the same code) can be revoked.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OptionalExtension, params};

use crate::audit::now_ms;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY,
    redirect_uris TEXT NOT NULL,
    client_name TEXT,
    created_ms INTEGER NOT NULL,
    -- set for a client ID metadata document: when it was fetched
    fetched_ms INTEGER
);
CREATE TABLE IF NOT EXISTS codes (
    digest TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    resource TEXT NOT NULL,
    key_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    digest TEXT PRIMARY KEY,
    family TEXT NOT NULL,
    client_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    key_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family);
";

/// A client the server knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub redirect_uris: Vec<String>,
    pub client_name: Option<String>,
    /// When its metadata document was fetched (`None`: registered with RFC 7591).
    pub fetched_ms: Option<i64>,
}

/// What a code or a refresh token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub client_id: String,
    pub resource: String,
    /// The API key the person signed in with.
    pub key_id: String,
    /// Space-separated scopes.
    pub scope: String,
}

/// An authorization code's binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub grant: Grant,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub expires_ms: i64,
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// Unused and unexpired: it is now used; its grant and family.
    Fresh {
        grant: Grant,
        family: String,
    },
    /// Already used (or expired): its family has been revoked.
    Reused,
    Unknown,
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Open (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, String> {
        let conn = crate::sqlite_file::open_wal(path, SCHEMA)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Run `f` on the connection, on a blocking thread.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
    }

    /// Save (or replace) a client.
    pub async fn save_client(&self, client: Client) -> Result<(), String> {
        self.run(move |db| {
            let uris = serde_json::to_string(&client.redirect_uris).unwrap_or_default();
            db.execute(
                "INSERT OR REPLACE INTO clients (client_id, redirect_uris, client_name, created_ms, fetched_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![client.client_id, uris, client.client_name, now_ms(), client.fetched_ms],
            )
            .map(drop)
        })
        .await
    }

    /// The client with this id.
    pub async fn client(&self, client_id: &str) -> Result<Option<Client>, String> {
        let id = client_id.to_owned();
        self.run(move |db| {
            db.query_row(
                "SELECT client_id, redirect_uris, client_name, fetched_ms FROM clients WHERE client_id = ?1",
                [id],
                |row| {
                    let uris: String = row.get(1)?;
                    Ok(Client {
                        client_id: row.get(0)?,
                        redirect_uris: serde_json::from_str(&uris).unwrap_or_default(),
                        client_name: row.get(2)?,
                        fetched_ms: row.get(3)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    /// How many clients registered themselves (metadata documents not counted).
    pub async fn registered_clients(&self) -> Result<i64, String> {
        self.run(|db| db.query_row("SELECT COUNT(*) FROM clients WHERE fetched_ms IS NULL", [], |row| row.get(0))).await
    }

    /// Save a code under its digest.
    pub async fn save_code(&self, digest: String, code: Code) -> Result<(), String> {
        self.run(move |db| {
            db.execute("DELETE FROM codes WHERE expires_ms < ?1", [now_ms()])?;
            let g = code.grant;
            db.execute(
                "INSERT INTO codes (digest, client_id, redirect_uri, code_challenge, resource, key_id, scope, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![digest, g.client_id, code.redirect_uri, code.code_challenge, g.resource, g.key_id, g.scope,
                    code.expires_ms],
            )
            .map(drop)
        })
        .await
    }

    /// Take the code with this digest: it is gone afterwards, whatever it held.
    pub async fn take_code(&self, digest: String) -> Result<Option<Code>, String> {
        self.run(move |db| {
            db.query_row(
                "DELETE FROM codes WHERE digest = ?1
                 RETURNING client_id, redirect_uri, code_challenge, resource, key_id, scope, expires_ms",
                [digest],
                |row| {
                    Ok(Code {
                        grant: Grant {
                            client_id: row.get(0)?,
                            resource: row.get(3)?,
                            key_id: row.get(4)?,
                            scope: row.get(5)?,
                        },
                        redirect_uri: row.get(1)?,
                        code_challenge: row.get(2)?,
                        expires_ms: row.get(6)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    /// Save a refresh token under its digest, in `family`, valid until `expires_ms`.
    pub async fn save_refresh(
        &self,
        digest: String,
        family: String,
        grant: Grant,
        expires_ms: i64,
    ) -> Result<(), String> {
        self.run(move |db| {
            db.execute("DELETE FROM refresh_tokens WHERE expires_ms < ?1", [now_ms()])?;
            db.execute(
                "INSERT INTO refresh_tokens (digest, family, client_id, resource, key_id, scope, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![digest, family, grant.client_id, grant.resource, grant.key_id, grant.scope, expires_ms],
            )
            .map(drop)
        })
        .await
    }

    /// Use the refresh token with this digest (see [`Refresh`]).
    pub async fn use_refresh(&self, digest: String) -> Result<Refresh, String> {
        self.run(move |db| {
            let tx = db.transaction()?;
            let found = tx
                .query_row(
                    "SELECT family, client_id, resource, key_id, scope, expires_ms, used FROM refresh_tokens
                     WHERE digest = ?1",
                    [&digest],
                    |row| {
                        let grant = Grant {
                            client_id: row.get(1)?,
                            resource: row.get(2)?,
                            key_id: row.get(3)?,
                            scope: row.get(4)?,
                        };
                        let live = row.get::<_, i64>(5)? >= now_ms() && row.get::<_, i64>(6)? == 0;
                        Ok((row.get::<_, String>(0)?, grant, live))
                    },
                )
                .optional()?;
            let outcome = match found {
                None => Refresh::Unknown,
                Some((family, grant, true)) => {
                    tx.execute("UPDATE refresh_tokens SET used = 1 WHERE digest = ?1", [&digest])?;
                    Refresh::Fresh { grant, family }
                }
                Some((family, _, false)) => {
                    tx.execute("DELETE FROM refresh_tokens WHERE family = ?1", [family])?;
                    Refresh::Reused
                }
            };
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant { client_id: "c".into(), resource: "r".into(), key_id: "k".into(), scope: "tools:list".into() }
    }

    #[tokio::test]
    async fn a_code_is_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("oauth.db")).unwrap();
        let code = Code {
            grant: grant(),
            redirect_uri: "https://a.example/cb".into(),
            code_challenge: "x".into(),
            expires_ms: now_ms() + 60_000,
        };
        store.save_code("d".into(), code.clone()).await.unwrap();
        assert_eq!(store.take_code("d".into()).await.unwrap(), Some(code));
        assert_eq!(store.take_code("d".into()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_reused_refresh_token_revokes_its_family() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("oauth.db")).unwrap();
        let later = now_ms() + 60_000;
        store.save_refresh("first".into(), "f".into(), grant(), later).await.unwrap();
        assert_eq!(
            store.use_refresh("first".into()).await.unwrap(),
            Refresh::Fresh { grant: grant(), family: "f".into() }
        );
        store.save_refresh("second".into(), "f".into(), grant(), later).await.unwrap();
        assert_eq!(store.use_refresh("first".into()).await.unwrap(), Refresh::Reused);
        assert_eq!(store.use_refresh("second".into()).await.unwrap(), Refresh::Unknown, "the family is gone");
    }
}
