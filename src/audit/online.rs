//! Verifying a running server: stream its ledger, verify every entry, check its
//! signed checkpoint and the auditor's saved ones, then replay everything into
//! balances and compare them with what the server reports, as of one ledger size.
//!
//! Invariant: the comparison is made only when the server's size did not move
//! between the checkpoint the entries were verified against and the end of the
//! queries; otherwise the new entries are verified too and the queries repeated.

use super::source::{EntrySource, RegistrySource};
use super::{Verified, Verifier, VerifyFailure, export, witness};
use crate::codec::{self, bonds as cb};
use crate::ledger::checkpoint::Checkpoint;
use crate::limits;
use crate::proto as pb;
use crate::registry::State;
use tokio_stream::StreamExt;

/// Attempts at catching a busy server at one size before giving up.
const SETTLE_ATTEMPTS_MAX: usize = 8;

/// What an online verification established.
#[derive(Debug)]
pub struct OnlineVerified {
    pub verified: Verified,
    pub checkpoint: Checkpoint,
    /// What was compared with the server: participants, series, subscriptions, holdings.
    pub compared: Compared,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Compared {
    pub participants: usize,
    pub series: usize,
    pub subscriptions: usize,
    pub holdings: usize,
}

/// Pulls and verifies entries until the verifier holds `end` of them.
async fn pull(
    source: &impl EntrySource,
    verifier: &mut Verifier,
    end: u64,
    total: u64,
    progress: &mut impl FnMut(u64, u64),
) -> anyhow::Result<()> {
    while verifier.size() < end {
        let start = verifier.size();
        let stop = end.min(start + limits::STREAM_ENTRIES_PER_CALL_MAX);
        let mut stream = source.entries(start, stop).await?;
        while let Some(item) = stream.next().await.transpose()? {
            if item.index != verifier.size() {
                return Err(VerifyFailure {
                    index: verifier.size(),
                    reason: format!(
                        "the server sent entry {} where entry {} belongs",
                        item.index,
                        verifier.size()
                    ),
                }
                .into());
            }
            verifier.push(&item.bytes)?;
            if item.index % 4096 == 0 {
                progress(item.index, total);
            }
        }
        if verifier.size() != stop {
            return Err(anyhow::anyhow!(
                "the server's stream ended at entry {} of {start}..{stop}",
                verifier.size()
            ));
        }
    }
    progress(verifier.size(), total);
    Ok(())
}

/// Verifies the ledger of the server `server` stands for (for a client, a
/// participant that may stream entries and read the registry: an auditor).
pub async fn verify_server(
    server: &(impl EntrySource + RegistrySource),
    saved: &[String],
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<OnlineVerified> {
    let mut verifier = Verifier::new();
    for size in witness::sizes_of(saved)? {
        verifier.want_root_at(size);
    }
    let mut head = server.head().await?;
    for _ in 0..SETTLE_ATTEMPTS_MAX {
        pull(
            server,
            &mut verifier,
            head.tree_size,
            head.tree_size,
            &mut progress,
        )
        .await?;
        let verified = verifier.checkpoint_here()?;
        let checkpoint = export::check_against(&verified, &head.checkpoint, &[])?;
        let reported = Reported::fetch(server, &verified.state).await?;
        let after = server.head().await?;
        if after.tree_size != head.tree_size {
            // The ledger grew while we read the registry: catch up and ask again.
            head = after;
            continue;
        }
        let compared = reported.compare(&verified.state)?;
        witness::check_saved(&verified, saved)?;
        return Ok(OnlineVerified {
            verified,
            checkpoint,
            compared,
        });
    }
    Err(anyhow::anyhow!(
        "every entry up to {} verifies, but the ledger kept growing while the registry was read ({SETTLE_ATTEMPTS_MAX} attempts): balances were not compared; try again when it is quieter",
        verifier.size()
    ))
}

/// What the server reports about its registry.
struct Reported {
    participants: Vec<pb::Participant>,
    series: Vec<pb::Series>,
    subscriptions: Vec<pb::Subscription>,
    holdings: Vec<pb::Holding>,
}

impl Reported {
    async fn fetch(server: &impl RegistrySource, state: &State) -> anyhow::Result<Reported> {
        let participants = server.participants().await?;
        let series = server.series().await?;
        let mut subscriptions = Vec::new();
        let mut holdings = Vec::new();
        // Every series either side knows of.
        let mut ids: Vec<String> = series
            .iter()
            .filter_map(|s| s.terms.as_ref().map(|t| t.series_id.clone()))
            .collect();
        ids.extend(state.all_series().map(|s| s.terms.series_id.to_string()));
        ids.sort();
        ids.dedup();
        for id in &ids {
            subscriptions.extend(server.subscriptions(id).await?);
            holdings.extend(server.holders(id).await?);
        }
        Ok(Reported {
            participants,
            series,
            subscriptions,
            holdings,
        })
    }

    /// Compares with the replay, item by item; the first difference is the error.
    fn compare(&self, state: &State) -> anyhow::Result<Compared> {
        let mut participants: Vec<pb::Participant> =
            state.participants().map(codec::participant_to_pb).collect();
        let mut reported_participants = self.participants.clone();
        participants.sort_by(|a, b| a.participant_id.cmp(&b.participant_id));
        reported_participants.sort_by(|a, b| a.participant_id.cmp(&b.participant_id));
        same("participant", &participants, &reported_participants, |p| {
            p.participant_id.clone()
        })?;

        let mut series: Vec<pb::Series> = state
            .all_series()
            .map(|s| cb::series_view(state, s))
            .collect();
        let mut reported_series = self.series.clone();
        let series_key = |s: &pb::Series| {
            s.terms
                .as_ref()
                .map(|t| t.series_id.clone())
                .unwrap_or_default()
        };
        series.sort_by_key(series_key);
        reported_series.sort_by_key(series_key);
        same("series", &series, &reported_series, series_key)?;

        let mut subscriptions: Vec<pb::Subscription> = state
            .all_series()
            .flat_map(|s| {
                state
                    .book(&s.terms.series_id)
                    .map(|sub| cb::subscription_to_pb(sub, s.terms.currency))
            })
            .collect();
        let mut reported_subscriptions = self.subscriptions.clone();
        subscriptions.sort_by_key(|s| s.subscription_id);
        reported_subscriptions.sort_by_key(|s| s.subscription_id);
        same(
            "subscription",
            &subscriptions,
            &reported_subscriptions,
            |s| s.subscription_id.to_string(),
        )?;

        let mut holdings: Vec<pb::Holding> = state
            .all_series()
            .flat_map(|s| state.series_holdings(&s.terms.series_id, None))
            .map(cb::holding_to_pb)
            .collect();
        let mut reported_holdings = self.holdings.clone();
        let holding_key =
            |h: &pb::Holding| format!("{}/{}/{}", h.series_id, h.investor_ref, h.bank_id);
        holdings.sort_by_key(holding_key);
        reported_holdings.sort_by_key(holding_key);
        same("holding", &holdings, &reported_holdings, holding_key)?;

        Ok(Compared {
            participants: participants.len(),
            series: series.len(),
            subscriptions: subscriptions.len(),
            holdings: holdings.len(),
        })
    }
}

/// Both lists sorted by `key`; says which item differs, and how.
fn same<T: PartialEq + std::fmt::Debug>(
    what: &str,
    replay: &[T],
    reported: &[T],
    key: impl Fn(&T) -> String,
) -> anyhow::Result<()> {
    let mut i = 0;
    let mut j = 0;
    while i < replay.len() || j < reported.len() {
        match (replay.get(i), reported.get(j)) {
            (Some(a), Some(b)) if key(a) == key(b) => {
                if a != b {
                    return Err(anyhow::anyhow!(
                        "{what} {} differs: the ledger's replay gives {a:?}, the server reports {b:?}",
                        key(a)
                    ));
                }
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if key(a) < key(b) => {
                return Err(anyhow::anyhow!(
                    "{what} {} is on the ledger but the server does not report it (next reported: {})",
                    key(a),
                    key(b)
                ));
            }
            (Some(a), None) => {
                return Err(anyhow::anyhow!(
                    "{what} {} is on the ledger but the server does not report it",
                    key(a)
                ));
            }
            (_, Some(b)) => {
                return Err(anyhow::anyhow!(
                    "the server reports {what} {} that the ledger does not hold",
                    key(b)
                ));
            }
            (None, None) => break,
        }
    }
    Ok(())
}
