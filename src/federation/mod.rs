//! Federation: upstream MCP servers whose tools the gateway serves as its own.
//!
//! An `upstream` spec ([`crate::tools::upstream_spec`]) names a server and how to reach it. For each, an
//! [`link::UpstreamLink`] keeps a [`connection::Connection`] over a [`wire::Wire`] (Streamable HTTP, the
//! legacy SSE transport, or a supervised child process on stdio), lists the upstream's tools, holds back those
//! whose pinned definition changed ([`pins`]), shapes the rest into gateway tools ([`shape`]) and hands them to
//! the registry ([`crate::tools::RegistryHandle::set_upstream_tools`]). From there every upstream tool goes
//! through the same pipeline as a declared one.

pub mod connection;
pub mod dial;
pub mod http_wire;
pub mod link;
pub mod pins;
pub mod shape;
pub mod sse_decoder;
pub mod sse_wire;
pub mod stdio_wire;
pub mod view;
pub mod wire;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::error::{ErrorCode, GatewayError};
use crate::tools::RegistryHandle;
use crate::tools::upstream_spec::UpstreamSpec;
use dial::Dialer;
use link::{Status, UpstreamLink};
use pins::Pins;

/// How often approvals made by another process are looked for, while some change is held.
const APPROVALS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Every upstream of the current specs, each kept by its link.
#[derive(Debug)]
pub struct Federation {
    registry: Arc<RegistryHandle>,
    dialer: Dialer,
    pins_path: PathBuf,
    pins: Mutex<Option<Arc<Pins>>>,
    links: Mutex<Vec<Arc<UpstreamLink>>>,
}

impl Federation {
    /// Start a link for each upstream the specs declare, and follow the specs as they reload; everything stops
    /// when `shutdown` is cancelled. Pins live in `pins_path` (opened when an upstream first needs it).
    pub fn start(
        registry: Arc<RegistryHandle>,
        dialer: Dialer,
        pins_path: PathBuf,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let federation = Arc::new(Self {
            registry: registry.clone(),
            dialer,
            pins_path,
            pins: Mutex::new(None),
            links: Mutex::new(Vec::new()),
        });
        federation.sync();
        let mut specs = registry.subscribe_specs();
        let follower = federation.clone();
        tokio::spawn(async move {
            let mut approvals = tokio::time::interval(APPROVALS_EVERY);
            let mut seen = None;
            loop {
                tokio::select! {
                    changed = specs.changed() => {
                        if changed.is_err() { break }
                        follower.sync();
                    }
                    _ = approvals.tick() => follower.notice_approvals(&mut seen).await,
                    () = shutdown.cancelled() => break,
                }
            }
            follower.stop_all().await;
        });
        federation
    }

    /// Approvals recorded by another process (`mcp-gateway upstream approve`): upstreams holding changes list
    /// their tools again when the store's approval count moves.
    async fn notice_approvals(&self, seen: &mut Option<i64>) {
        let holding: Vec<Arc<UpstreamLink>> =
            self.lock_links().iter().filter(|l| !l.status().held.is_empty()).cloned().collect();
        if holding.is_empty() {
            return;
        }
        let Ok(pins) = self.pins() else { return };
        let now = match tokio::task::spawn_blocking(move || pins.approvals_generation()).await {
            Ok(Ok(now)) => now,
            _ => return,
        };
        // The first look lists once: an approval may have come before it.
        if seen.replace(now).is_none_or(|before| before != now) {
            for link in holding {
                link.refresh();
            }
        }
    }

    fn lock_links(&self) -> std::sync::MutexGuard<'_, Vec<Arc<UpstreamLink>>> {
        self.links.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The pins store, opened on first use; `None` (logged) when it cannot be opened: every tool is then served
    /// as offered would be unsafe, so pinned upstreams serve nothing until it opens.
    fn pins(&self) -> Result<Arc<Pins>, String> {
        let mut pins = self.pins.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(pins) = pins.as_ref() {
            return Ok(pins.clone());
        }
        let opened = Arc::new(Pins::open(&self.pins_path)?);
        *pins = Some(opened.clone());
        Ok(opened)
    }

    /// Links for the upstreams of the current specs: unchanged ones kept, changed or removed ones stopped, new
    /// ones started.
    fn sync(&self) {
        let declared = self.registry.declared();
        let wanted: Vec<Arc<UpstreamSpec>> = declared.upstreams().to_vec();
        let mut links = self.lock_links();
        let (kept, gone): (Vec<_>, Vec<_>) =
            links.drain(..).partition(|link| wanted.iter().any(|spec| **spec == *link.spec));
        for link in gone {
            tracing::info!(upstream = %link.spec.name, "upstream removed or changed; stopping its link");
            tokio::spawn(async move { link.stop().await });
        }
        *links = kept;
        for spec in wanted {
            if links.iter().any(|link| *link.spec == *spec) {
                continue;
            }
            let pins = if spec.pin {
                match self.pins() {
                    Ok(pins) => Some(pins),
                    Err(e) => {
                        tracing::error!(upstream = %spec.name, error = %e, "cannot open the pins store; the upstream's tools are not served");
                        continue;
                    }
                }
            } else {
                None
            };
            let link = UpstreamLink::new(spec, self.dialer.clone(), self.registry.clone(), pins);
            tokio::spawn(link.clone().run());
            links.push(link);
        }
    }

    /// Each upstream with its spec and state, by name.
    #[must_use]
    pub fn statuses(&self) -> Vec<(Arc<UpstreamSpec>, Status)> {
        let mut all: Vec<_> = self.lock_links().iter().map(|l| (l.spec.clone(), l.status())).collect();
        all.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        all
    }

    /// Every upstream as operators see it ([`view::upstream`]), by name.
    #[must_use]
    pub fn views(&self) -> Vec<serde_json::Value> {
        self.statuses().iter().map(|(spec, status)| view::upstream(spec, status)).collect()
    }

    /// Approve the held changes of `upstream` (all, or `tools`), and serve them before answering.
    pub async fn approve(&self, upstream: &str, tools: Option<Vec<String>>) -> Result<Vec<String>, GatewayError> {
        let link = self.lock_links().iter().find(|l| l.spec.name == upstream).cloned();
        let Some(link) = link else {
            return Err(GatewayError::new(ErrorCode::NotFound, format!("no upstream is named `{upstream}`")));
        };
        let pins = self.pins().map_err(|e| GatewayError::internal("opening the pins store", &e))?;
        let name = upstream.to_owned();
        let approved = tokio::task::spawn_blocking(move || pins.approve(&name, tools.as_deref()))
            .await
            .map_err(|e| GatewayError::internal("approving pinned definitions", &e))?
            .map_err(|e| GatewayError::internal("approving pinned definitions", &e))?;
        link.relist().await;
        Ok(approved)
    }

    async fn stop_all(&self) {
        let links: Vec<_> = self.lock_links().drain(..).collect();
        for link in links {
            link.stop().await;
        }
    }
}
