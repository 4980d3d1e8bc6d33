//! Fault injection for tests: added latency, a share of 429/500 answers, and
//! watches cut after a number of events. Changeable while the server runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;

use super::error::ApiError;

/// What to inject into resource requests (discovery is never disturbed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// Added before every resource request is handled.
    pub latency: Duration,
    /// Share (0.0–1.0) of resource requests answered 429 TooManyRequests.
    pub throttle_share: f64,
    /// Share (0.0–1.0) of resource requests answered 500 InternalError.
    pub error_share: f64,
    /// End every watch after this many events (bookmarks not counted).
    pub cut_watches_after: Option<usize>,
}

/// A shared handle: clone it into tests and change faults while the server runs.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    config: Arc<Mutex<FaultConfig>>,
    injected_errors: Arc<AtomicU64>,
    cut_watches: Arc<AtomicU64>,
}

impl Faults {
    pub fn new(config: FaultConfig) -> Self {
        Self {
            config: Arc::new(Mutex::new(config)),
            ..Self::default()
        }
    }

    pub fn config(&self) -> FaultConfig {
        self.config
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn set(&self, config: FaultConfig) {
        *self
            .config
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = config;
    }

    pub fn update(&self, change: impl FnOnce(&mut FaultConfig)) {
        change(
            &mut self
                .config
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
    }

    pub fn clear(&self) {
        self.set(FaultConfig::default());
    }

    /// How many 429/500 answers were injected so far.
    pub fn injected_errors(&self) -> u64 {
        self.injected_errors.load(Ordering::Relaxed)
    }

    /// How many watches were cut so far.
    pub fn cut_watches(&self) -> u64 {
        self.cut_watches.load(Ordering::Relaxed)
    }

    pub(crate) fn note_cut_watch(&self) {
        self.cut_watches.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits the configured latency, then maybe answers with an injected error.
    pub(crate) async fn before_request(&self) -> Result<(), ApiError> {
        let config = self.config();
        if !config.latency.is_zero() {
            tokio::time::sleep(config.latency).await;
        }
        let roll: f64 = rand::rng().random();
        if roll < config.throttle_share {
            self.injected_errors.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::too_many_requests(1));
        }
        if roll < config.throttle_share + config.error_share {
            self.injected_errors.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::internal("injected fault: internal error"));
        }
        Ok(())
    }
}
