//! The live registry: an atomically swapped snapshot, reloads that never leave a half-built state, and a
//! generation counter that open streams watch to send `notifications/tools/list_changed`.
//!
//! A failed reload keeps the previous registry, and its problems stay visible through [`RegistryHandle::status`]
//! until a reload succeeds. Locks here are std locks held only for a pointer swap, never across `.await`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;

use super::registry::{Registry, Tool};
use super::spec::SpecProblem;
use super::upstream_binding::UpstreamCatalog;
use crate::config::TemplateEnv;
use crate::error::{ErrorCode, GatewayError};

/// The outcome of the last reload, for `/ready` and logs.
#[derive(Debug, Clone, Default)]
pub struct ReloadStatus {
    /// Problems of the last failed reload; empty when the current registry is the newest good one.
    pub problems: Vec<String>,
}

/// Shared, swappable access to the current registry.
#[derive(Debug)]
pub struct RegistryHandle {
    dir: PathBuf,
    env: TemplateEnv,
    current: RwLock<Arc<Registry>>,
    /// The registry as loaded from the specs folder, and each upstream's tools, by upstream name.
    parts: Mutex<Parts>,
    status: RwLock<ReloadStatus>,
    generation: watch::Sender<u64>,
    /// Changes each time the specs folder is loaded anew.
    specs: watch::Sender<u64>,
    reloading: Mutex<()>,
}

#[derive(Debug, Default)]
struct Parts {
    declared: Arc<Registry>,
    upstreams: BTreeMap<String, (Vec<Arc<Tool>>, UpstreamCatalog)>,
}

impl Parts {
    fn compose(&self) -> Registry {
        self.declared.with_upstreams(
            self.upstreams.values().flat_map(|(tools, _)| tools.iter().cloned()),
            self.upstreams.values().map(|(_, catalog)| catalog),
        )
    }
}

impl RegistryHandle {
    /// Load the specs folder once; any problem fails the whole load. Reloads read the same folder with the
    /// same `env` rules.
    pub fn load(dir: &Path, env: TemplateEnv) -> Result<Self, Vec<SpecProblem>> {
        let registry = Arc::new(Registry::load(dir, &env)?);
        Ok(Self {
            dir: dir.to_path_buf(),
            env,
            current: RwLock::new(registry.clone()),
            parts: Mutex::new(Parts { declared: registry, upstreams: BTreeMap::new() }),
            status: RwLock::new(ReloadStatus::default()),
            generation: watch::channel(0).0,
            specs: watch::channel(0).0,
            reloading: Mutex::new(()),
        })
    }

    /// The current registry. Cheap: one `Arc` clone.
    #[must_use]
    pub fn snapshot(&self) -> Arc<Registry> {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Reload from disk (blocking I/O: call from a blocking context). On success the new registry replaces the
    /// old one and watchers are told; on failure the old one stays and the problems are recorded.
    pub fn reload(&self) -> Result<usize, Vec<SpecProblem>> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match Registry::load(&self.dir, &self.env) {
            Ok(registry) => {
                let count = registry.tools().len();
                {
                    let mut parts = self.parts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    parts.declared = Arc::new(registry);
                    *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
                        Arc::new(parts.compose());
                }
                *self.status.write().unwrap_or_else(std::sync::PoisonError::into_inner) = ReloadStatus::default();
                self.generation.send_modify(|g| *g += 1);
                self.specs.send_modify(|g| *g += 1);
                tracing::info!(tools = count, dir = %self.dir.display(), "tool registry reloaded");
                Ok(count)
            }
            Err(problems) => {
                for problem in &problems {
                    tracing::warn!(%problem, "tool spec rejected on reload; keeping the previous registry");
                }
                *self.status.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
                    ReloadStatus { problems: problems.iter().map(ToString::to_string).collect() };
                Err(problems)
            }
        }
    }

    /// Reload on the blocking pool, for async callers.
    pub async fn reload_async(self: &Arc<Self>) -> Result<usize, Vec<SpecProblem>> {
        let handle = self.clone();
        match tokio::task::spawn_blocking(move || handle.reload()).await {
            Ok(outcome) => outcome,
            Err(join) => Err(vec![SpecProblem {
                file: self.dir.display().to_string(),
                path: "$".into(),
                message: format!("reload task failed: {join}"),
            }]),
        }
    }

    #[must_use]
    pub fn status(&self) -> ReloadStatus {
        self.status.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Changes each time a reload succeeds.
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Changes each time the specs folder is loaded anew (not when upstream tools change).
    #[must_use]
    pub fn subscribe_specs(&self) -> watch::Receiver<u64> {
        self.specs.subscribe()
    }

    /// The registry as the specs folder declares it, without upstream tools.
    #[must_use]
    pub fn declared(&self) -> Arc<Registry> {
        self.parts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).declared.clone()
    }

    /// Serve `tools` and `catalog` as `upstream`'s (replacing what it served; `None`: nothing). Items whose
    /// names or URIs declared items or other upstreams already use are left out ([`Registry::with_upstreams`]).
    /// Watchers are told.
    pub fn set_upstream(&self, upstream: &str, served: Option<(Vec<Arc<Tool>>, UpstreamCatalog)>) {
        {
            let mut parts = self.parts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match served {
                None if !parts.upstreams.contains_key(upstream) => return,
                None => {
                    parts.upstreams.remove(upstream);
                }
                Some(served) => {
                    parts.upstreams.insert(upstream.to_owned(), served);
                }
            }
            *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(parts.compose());
        }
        self.generation.send_modify(|g| *g += 1);
    }

    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The error a refused reload answers: the problems, with the previous tools still in service.
#[must_use]
pub fn reload_refused(problems: &[SpecProblem]) -> GatewayError {
    let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
    GatewayError::new(
        ErrorCode::ValidationFailed,
        format!("reload refused, the previous tools stay in service: {}", listed.join("; ")),
    )
    .with_details(serde_json::json!({"problems": listed}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write_tool(dir: &Path, file: &str, name: &str) {
        let spec = json!({"name": name, "description": "d", "binding": {"kind": "builtin", "name": "ping"}});
        std::fs::write(dir.join(file), spec.to_string()).unwrap();
    }

    #[test]
    fn broken_reload_keeps_previous_registry_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        write_tool(dir.path(), "a.json", "alpha");
        let handle = RegistryHandle::load(dir.path(), TemplateEnv::default()).unwrap();
        let mut generation = handle.subscribe();

        write_tool(dir.path(), "b.json", "beta");
        assert_eq!(handle.reload().unwrap(), 2);
        assert!(generation.has_changed().unwrap());
        generation.mark_unchanged();

        std::fs::write(dir.path().join("b.json"), "{broken").unwrap();
        assert!(handle.reload().is_err());
        assert_eq!(handle.snapshot().tools().len(), 2, "previous registry kept");
        assert!(handle.status().problems[0].contains("b.json"));
        assert!(!generation.has_changed().unwrap());

        std::fs::remove_file(dir.path().join("b.json")).unwrap();
        assert_eq!(handle.reload().unwrap(), 1);
        assert!(handle.status().problems.is_empty());
    }
}
