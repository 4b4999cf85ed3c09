//! The call gate: at most `max_running` tool calls at once, at most `max_waiting` queued behind them; beyond
//! that a call is refused at once with `overloaded` (503) instead of piling up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ErrorCode, GatewayError};

#[derive(Debug)]
pub struct CallGate {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// Holds a running slot until dropped.
#[derive(Debug)]
pub struct Slot(#[expect(dead_code, reason = "held for its Drop, which frees the slot")] OwnedSemaphorePermit);

impl CallGate {
    #[must_use]
    pub fn new(max_running: usize, max_waiting: usize) -> Self {
        Self { slots: Arc::new(Semaphore::new(max_running)), waiting: AtomicUsize::new(0), max_waiting }
    }

    /// Wait for a slot, or fail at once when the queue is full.
    pub async fn enter(&self) -> Result<Slot, GatewayError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(Slot(permit));
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(GatewayError::new(
                ErrorCode::Overloaded,
                "the gateway is at its concurrent-call limit; retry shortly",
            ));
        }
        let permit = self.slots.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        permit.map(Slot).map_err(|_| GatewayError::new(ErrorCode::Overloaded, "the gateway is shutting down"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_queue_refuses_with_overloaded() {
        let gate = Arc::new(CallGate::new(1, 1));
        let first = gate.enter().await.unwrap();
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.enter().await.map(|_| ()) })
        };
        // Poll until the waiter is queued (bounded).
        for _ in 0..1000 {
            if gate.waiting.load(Ordering::Acquire) == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(gate.enter().await.unwrap_err().code, ErrorCode::Overloaded);
        drop(first);
        assert!(waiter.await.unwrap().is_ok(), "the queued call runs once the slot frees");
    }
}
