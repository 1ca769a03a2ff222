//! Bond series: ids and the ISO country table (`ids`), terms and their bounds
//! (`terms`), the figures and schedule derived from them with the bond-math
//! library (`define`), and the lifecycle draft → open → closed → allotted →
//! issued (→ matured), with cancellation possible before issue (`lifecycle`).

mod define;
mod ids;
mod lifecycle;
mod terms;

pub use define::define;
pub use ids::{Country, SeriesId};
pub use lifecycle::{AllotmentLine, HoldingUnits, SeriesTransition};
pub(super) use lifecycle::{apply, decide_amend, decide_create, decide_transition};
pub use terms::*;

use super::{RegistryError, State};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Items per entry for allotment, refund, release, holding and payment lists: one,
/// so that each subscription's allotment, each holding and each payment is its own
/// entry, and a receipt of one (entry + inclusion proof + checkpoint) carries no
/// other investor's data. A request still writes all its entries in one atomic
/// batch.
pub const ITEMS_PER_ENTRY: usize = 1;

/// Where a series is in its life. Named in snake case (serde, `Display`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SeriesStatus {
    Draft,
    Open,
    Closed,
    Allotted,
    Issued,
    Matured,
    Cancelled,
}

impl SeriesStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A series as persisted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Series {
    pub terms: SeriesTerms,
    pub figures: SeriesFigures,
    pub schedule: Vec<ScheduledFlow>,
    pub status: SeriesStatus,
    pub created_at_index: u64,
    /// Money raised at issue (settled units × price per unit).
    pub amount_raised: Decimal,
    /// Coupons and the redemption paid so far, in order.
    #[serde(default)]
    pub paid: Vec<super::coupons::PaidFlow>,
    /// Index of the `SeriesIssued` entry; its holdings follow it, one per entry,
    /// in (investor, bank) order (receipts find a holding's entry from it).
    #[serde(default)]
    pub issued_at_index: Option<u64>,
    /// Reopenings (taps), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tranches: Vec<super::reopening::Tranche>,
    /// Units redeemed early and retired (written only when some are).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub early_redeemed_units: u64,
    /// Early redemptions paid, summed per date, in date order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub early_redemptions: Vec<crate::registry::holdings::redemption::EarlyPaid>,
    /// Units redeemed by hardship puts, per calendar year (for the quota).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub hardship_units: std::collections::BTreeMap<i32, u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Parameters of a series creation or amendment, fully derived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesDefined {
    pub terms: SeriesTerms,
    pub figures: SeriesFigures,
    pub schedule: Vec<ScheduledFlow>,
}

/// The series `id`, or the refusal that it does not exist.
pub(super) fn series<'a>(state: &'a State, id: &SeriesId) -> Result<&'a Series, RegistryError> {
    state
        .series
        .get(id)
        .ok_or_else(|| RegistryError::SeriesNotFound { series: id.clone() })
}
