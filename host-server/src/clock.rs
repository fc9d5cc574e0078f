//! The server's clock, a trait so that tests drive time instead of sleeping through it.

use std::sync::atomic::{AtomicI64, Ordering};

use rules_core::model::Millis;

/// Now, in epoch milliseconds.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Millis;
}

/// The system clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// Starts at `at`.
    pub fn new(at: Millis) -> Self {
        Self(AtomicI64::new(at))
    }

    /// Moves forward by `ms`.
    pub fn advance(&self, ms: Millis) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Jumps to `at`.
    pub fn set(&self, at: Millis) {
        self.0.store(at, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}
