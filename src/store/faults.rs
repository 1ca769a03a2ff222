//! Planned failures, for tests of the fail-stop path. Only the library API sets
//! them (`StoreOptions::faults`): no configuration key, environment variable or
//! flag reaches them.

/// Where in a group commit a planned storage failure strikes. An engine maps each
/// point to its own steps; the sled engine's are named here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPoint {
    /// Handing the group to the engine (sled: its first batch): nothing of the
    /// group is written.
    BatchWrite,
    /// Flushing after the group was applied in memory (sled: its flush).
    Flush,
    /// Making the flushed group durable (sled: `fdatasync` of the data file after
    /// its flush succeeded).
    Sync,
    /// The middle of a group the engine writes in several steps (sled: its second
    /// batch; the first, with the pending marker, is written and flushed), as after
    /// a crash in the middle of a large group. An engine that writes a group in one
    /// transaction fails that transaction: nothing of the group is written.
    LaterBatch,
    /// Not storage: a bug. The writer panics after deciding and sealing the group,
    /// before writing it.
    Panic,
}

/// A planned storage failure: the `commit`-th group commit that writes entries
/// after the store was opened (counting from 1) fails at `point` with an I/O error,
/// as a full disk or a failing drive would make it fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultPlan {
    pub commit: u64,
    pub point: FaultPoint,
}

impl FaultPlan {
    /// `plan` if it strikes group commit `commit`.
    pub(crate) fn for_commit(plan: Option<FaultPlan>, commit: u64) -> Option<FaultPlan> {
        plan.filter(|p| p.commit == commit)
    }

    /// The I/O error this plan stands in for, if it strikes at `point`.
    pub(crate) fn strikes(plan: Option<FaultPlan>, point: FaultPoint) -> Option<String> {
        plan.filter(|p| p.point == point).map(|p| {
            format!(
                "injected I/O error ({point:?}) at group commit {}",
                p.commit
            )
        })
    }
}
