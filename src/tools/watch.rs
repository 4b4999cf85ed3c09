//! Hot reload: watch the specs folder and reload the registry when files change.
//!
//! File events arrive in bursts (an editor writes, renames, touches), so they are coalesced: after the first
//! event the watcher waits a short quiet period, drains the rest, and reloads once. The returned guard stops the
//! watcher when dropped.

use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::handle::RegistryHandle;

/// How long to wait for a burst of file events to settle before reloading.
const SETTLE: Duration = Duration::from_millis(200);

/// Keeps the file watcher alive.
pub struct WatchGuard {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for WatchGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WatchGuard")
    }
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Start watching `handle`'s folder. Must be called inside a tokio runtime.
pub fn spawn(handle: Arc<RegistryHandle>) -> notify::Result<WatchGuard> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            // The receiver is gone only during shutdown.
            let _ = tx.send(());
        }
    })?;
    watcher.watch(handle.dir(), RecursiveMode::Recursive)?;
    tracing::info!(dir = %handle.dir().display(), "watching tool specs for changes");
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            tokio::time::sleep(SETTLE).await;
            while rx.try_recv().is_ok() {}
            // Outcomes are logged and recorded in the handle's status by `reload` itself.
            let _ = handle.reload_async().await;
        }
    });
    Ok(WatchGuard { _watcher: watcher, task })
}
