//! Calls that run to their end even when nobody waits for them any more (every adapter that answers on the
//! request: Streamable HTTP JSON answers and batches, REST, action envelopes).
//!
//! A dropped connection is not a cancellation (MCP: disconnection SHOULD NOT be read as cancelling), so a call
//! must not be abandoned half-done when the HTTP handler awaiting it is dropped. [`ToEnd`] polls the call in the
//! awaiting task, which costs nothing beyond one allocation; if it is dropped before the call finished, the rest of
//! the call moves to a task of its own and finishes there (its audit entry and metrics included). A task per call
//! up front would give the same guarantee, at the price of a scheduler round trip (and often a wake-up of another
//! worker thread) on every call.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::FutureExt;

/// A panic that ended a call, caught so that its transport can still answer.
#[derive(Debug)]
pub struct Panicked;

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the call panicked")
    }
}

type Call<T> = Pin<Box<dyn Future<Output = Result<T, Panicked>> + Send>>;

/// A future that finishes in a task of its own when dropped before it is ready (see the module docs).
#[must_use = "a ToEnd does nothing until awaited or dropped"]
pub struct ToEnd<T: Send + 'static> {
    call: Option<Call<T>>,
}

impl<T: Send + 'static> ToEnd<T> {
    /// Wrap a call; a panic inside it becomes `Err(Panicked)` (and is logged by the panic hook), as it would be
    /// for a spawned task.
    pub fn new(call: impl Future<Output = T> + Send + 'static) -> Self {
        Self { call: Some(Box::pin(AssertUnwindSafe(call).catch_unwind().map(|done| done.map_err(|_| Panicked)))) }
    }
}

impl<T: Send + 'static> Future for ToEnd<T> {
    type Output = Result<T, Panicked>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Polled again after it finished: nothing more will come.
        let Some(call) = self.call.as_mut() else { return Poll::Pending };
        let done = call.as_mut().poll(cx);
        if done.is_ready() {
            self.call = None;
        }
        done
    }
}

impl<T: Send + 'static> Drop for ToEnd<T> {
    fn drop(&mut self) {
        let Some(call) = self.call.take() else { return };
        // Outside a runtime (it is shutting down) there is nowhere to finish: the call ends with it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if call.await.is_err() {
                    tracing::error!("a call whose client left panicked");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn an_awaited_call_answers_in_place() {
        assert_eq!(ToEnd::new(async { 7 }).await.ok(), Some(7));
    }

    #[tokio::test]
    async fn a_dropped_call_still_runs_to_its_end() {
        let finished = Arc::new(AtomicBool::new(false));
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let flag = finished.clone();
        let mut call = Box::pin(ToEnd::new(async move {
            let _ = started_tx.send(());
            let _ = released.await;
            flag.store(true, Ordering::SeqCst);
        }));
        // Poll it until it waits half-way, then drop it, as hyper drops the handler of a closed connection.
        tokio::select! {
            _ = &mut call => panic!("the call cannot finish before it is released"),
            _ = started => {}
        }
        drop(call);
        release.send(()).unwrap();
        for _ in 0..200 {
            if finished.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the dropped call did not finish");
    }

    #[tokio::test]
    async fn a_panicking_call_is_an_error_not_a_crash() {
        let outcome = ToEnd::new(async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
        })
        .await;
        assert!(outcome.is_err());
    }
}
