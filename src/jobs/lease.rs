//! Leases on shared work (`GATEWAY_REDIS_URL`): one replica at a time runs a job (polls it, generates it) or a
//! tool task, and a replica that dies lets go of its work by no longer renewing.
//!
//! A lease is the key `mcp-gateway:lease:{name}` holding the replica's random id, with an expiry of the lease
//! time (`GATEWAY_JOB_LEASE_SECS`). It is taken with `SET NX` before the work's record is saved unfinished, renewed
//! for every lease this replica holds in one script call each third of the lease time (taken back if it expired
//! meanwhile and nobody else took it: Redis was away longer than the lease), and dropped (only if still ours) when
//! the work ends. Replicas sweep the unfinished records (`Jobs::sweep`): a record whose lease two sweeps in a row
//! find free has no live runner (a live one takes its lease back within one tick), and the replica that takes it
//! finishes or fails the work.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::error::GatewayError;
use crate::redis_link::RedisLink;

/// Renew the leases KEYS of ARGV[1] for ARGV[2] ms, taking back those that expired and nobody took; answers 1
/// (ours) or 0 (another replica's) per key.
const RENEW: &str = r"
local kept = {}
for i, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if holder == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    kept[i] = 1
  elseif not holder then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    kept[i] = 1
  else
    kept[i] = 0
  end
end
return kept
";

/// Drop the lease KEYS[1] if ARGV[1] still holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// This replica's leases.
#[derive(Debug)]
pub struct Leases {
    link: RedisLink,
    replica: String,
    ttl: Duration,
    held: Mutex<HashSet<String>>,
    /// The leases the last sweep found free.
    free_last_sweep: Mutex<HashSet<String>>,
    renew: redis::Script,
    release: redis::Script,
}

fn key(name: &str) -> String {
    format!("mcp-gateway:lease:{name}")
}

impl Leases {
    /// Leases of a new replica id, each lasting `ttl` unless renewed.
    #[must_use]
    pub fn new(link: RedisLink, ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            link,
            replica: uuid::Uuid::new_v4().to_string(),
            ttl,
            held: Mutex::new(HashSet::new()),
            free_last_sweep: Mutex::new(HashSet::new()),
            renew: redis::Script::new(RENEW),
            release: redis::Script::new(RELEASE),
        })
    }

    /// How often leases are renewed and unfinished work swept.
    #[must_use]
    pub fn tick(&self) -> Duration {
        (self.ttl / 3).max(Duration::from_millis(100))
    }

    /// Take the lease `name` for this replica: `Ok(true)` when it is ours (now or already).
    pub async fn claim(&self, name: &str) -> Result<bool, GatewayError> {
        if self.holds(name) {
            return Ok(true);
        }
        let taken: Option<String> = self
            .link
            .query(
                "taking a lease",
                redis::cmd("SET").arg(key(name)).arg(&self.replica).arg("NX").arg("PX").arg(self.ttl_ms()),
            )
            .await?;
        if taken.is_some() {
            self.lock().insert(name.to_owned());
        }
        Ok(taken.is_some())
    }

    /// In a sweep: take the lease `name` if this sweep and the one before found it free (`Ok(true)`: its work is
    /// this replica's now). `free` collects the leases this sweep found free; hand it to [`Self::end_sweep`].
    pub async fn take_orphan(&self, name: &str, free: &mut HashSet<String>) -> Result<bool, GatewayError> {
        if self.holds(name) {
            return Ok(false);
        }
        let taken: bool = self.link.query("checking a lease", redis::cmd("EXISTS").arg(key(name))).await?;
        if taken {
            return Ok(false);
        }
        free.insert(name.to_owned());
        let free_before = self.free_last_sweep.lock().unwrap_or_else(PoisonError::into_inner).contains(name);
        if !free_before {
            return Ok(false);
        }
        self.claim(name).await
    }

    /// The sweep is over: what it found free is what the next one compares with.
    pub fn end_sweep(&self, free: HashSet<String>) {
        *self.free_last_sweep.lock().unwrap_or_else(PoisonError::into_inner) = free;
    }

    /// Is the lease `name` this replica's (as far as it knows: a lease it could not renew in time may be lost)?
    #[must_use]
    pub fn holds(&self, name: &str) -> bool {
        self.lock().contains(name)
    }

    /// Let go of `name` (the work ended). A lease another replica took meanwhile stays its own.
    pub async fn release(&self, name: &str) {
        if !self.lock().remove(name) {
            return;
        }
        let mut invocation = self.release.key(key(name));
        invocation.arg(&self.replica);
        let released = self.link.invoke::<i64>("dropping a lease", &invocation).await;
        if let Err(err) = released {
            // It expires by itself.
            tracing::warn!(lease = name, error = %err, "cannot drop a lease");
        }
    }

    /// Renew every lease held, in one exchange; a lease found taken by another replica is forgotten here, so its
    /// work stops on this replica. When Redis cannot answer, the leases are kept and tried again next time.
    pub async fn renew_all(&self) {
        let names: Vec<String> = self.lock().iter().cloned().collect();
        if names.is_empty() {
            return;
        }
        let mut invocation = self.renew.prepare_invoke();
        for name in &names {
            invocation.key(key(name));
        }
        invocation.arg(&self.replica).arg(self.ttl_ms());
        let kept = self.link.invoke::<Vec<i64>>("renewing leases", &invocation).await;
        match kept {
            Ok(kept) => {
                let mut held = self.lock();
                for (name, kept) in names.iter().zip(kept) {
                    if kept == 0 {
                        tracing::warn!(lease = name, "a lease was lost to another replica; its work stops here");
                        held.remove(name);
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot renew leases; trying again"),
        }
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX).max(1)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
