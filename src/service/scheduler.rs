//! The in-server host of the accrual engine: on a cadence, it posts every due
//! record date, coupon and redemption, signed with the engine participant's own
//! key, through the same write path as any request. Running twice posts nothing
//! new; after downtime it catches up in date order.

use crate::clock::Clock;
use crate::ledger::keys::KeyId;
use crate::ledger::request;
use crate::metrics::Metrics;
use crate::proto as pb;
use crate::store::{Store, WriteRequest};
use ed25519_dalek::SigningKey;
use std::sync::Arc;
use std::time::Duration;

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub posted: u64,
    pub already_posted: u64,
    pub waiting: u64,
}

pub struct Scheduler {
    ledger: Store,
    clock: Arc<dyn Clock>,
    key: SigningKey,
    metrics: Option<Arc<Metrics>>,
}

impl Scheduler {
    pub fn new(ledger: Store, clock: Arc<dyn Clock>, key: SigningKey) -> Self {
        Scheduler {
            ledger,
            clock,
            key,
            metrics: None,
        }
    }

    /// The same scheduler, recording its runs in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Posts everything due today, in order.
    pub async fn run_once(&self) -> anyhow::Result<RunSummary> {
        let today = self.clock.now().date_naive();
        let due = self
            .ledger
            .read(|p| super::coupons::due_everywhere(&p.state, today))?;
        let mut summary = RunSummary {
            waiting: due.waiting.len() as u64,
            ..Default::default()
        };
        for d in due.due {
            let command = pb::command::Kind::PostAccrualEvent(pb::PostAccrualEvent {
                series_id: d.series_id.clone(),
                event_id: d.event_id.clone(),
            });
            let signed = request::sign_request(
                &self.key,
                &self.ledger.identity().origin,
                command.clone(),
                self.clock.now(),
                &request::nonce(),
            );
            let request = WriteRequest {
                key_id: KeyId::of(&self.key.verifying_key()),
                payload: signed.payload,
                signature: signed.signature,
                command: crate::codec::command_from_kind(&command)?,
            };
            let committed = self.ledger.write(request).await?;
            if committed.replayed {
                summary.already_posted += 1;
            } else {
                summary.posted += 1;
                tracing::info!(event = %d.event_id, index = committed.first_index, "accrual event posted");
            }
        }
        if let Some(metrics) = &self.metrics {
            metrics.record_accrual_run(summary.posted);
        }
        Ok(summary)
    }

    /// Runs every `interval` until `shutdown` resolves.
    pub async fn run(self, interval: Duration, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self.run_once().await {
                Ok(s) if s.posted > 0 || s.waiting > 0 => {
                    tracing::info!(posted = s.posted, waiting = s.waiting, "accrual run")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "accrual run failed; will retry"),
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = &mut shutdown => return,
            }
        }
    }
}
