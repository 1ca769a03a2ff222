//! The command each RPC takes and who may send it. Every command message
//! (`pb::GetEntry`, `pb::CreateSeries`, ...) names its RPC and its roles, and is
//! taken out of a payload's `pb::command::Kind` by type, so an authenticated
//! request hands its handler exactly the message that RPC reads.
//!
//! Invariant: [`WRITES`] is the one table of write RPCs and their roles; a write
//! command's roles are read from it at compile time (a write missing from it does
//! not build), and batches are checked against it at run time.

use crate::proto as pb;
use crate::registry::Role;
use pb::command::Kind;

/// A command message, as the RPC that takes it reads it.
pub trait RpcCommand: Sized {
    /// The RPC's name, which is the name `codec::command_name` gives the command.
    const RPC: &'static str;
    /// The roles that may send it.
    const ROLES: &'static [Role];
    /// The command, if `kind` carries this one.
    fn from_kind(kind: Kind) -> Option<Self>;
    /// The command as a payload carries it.
    fn into_kind(self) -> Kind;
}

/// A command the ledger records: its RPC is a row of [`WRITES`].
pub trait WriteCommand: RpcCommand {}

/// Who may read everything: the ledger's stream, every holder, the engine's view.
pub const OVERSEERS: &[Role] = &[Role::Admin, Role::Treasury, Role::Auditor, Role::Engine];

/// Every participant's role.
pub const EVERYONE: &[Role] = &Role::ALL;

/// Every write RPC (the name its command carries) and the roles that may call it:
/// the one table the unary write RPCs and batches are checked against. The
/// registry checks authority again when it decides (a treasury may not act for a
/// bank's client, a participant may rotate only its own key).
pub const WRITES: &[(&str, &[Role])] = &[
    ("RegisterParticipant", &[Role::Admin]),
    ("RotateKey", &Role::ALL),
    ("RevokeParticipant", &[Role::Admin]),
    ("RotateLedgerKey", &[Role::Admin]),
    ("SetRecoveryQuorum", &[Role::Admin]),
    ("EmergencyRotateLedgerKey", &[Role::Admin]),
    ("CreateSeries", &[Role::Treasury]),
    ("AmendSeries", &[Role::Treasury]),
    ("OpenSeries", &[Role::Treasury]),
    ("CloseSeries", &[Role::Treasury]),
    ("CancelSeries", &[Role::Treasury]),
    ("AllotSeries", &[Role::Treasury]),
    ("ReleaseUnsettled", &[Role::Treasury]),
    ("IssueSeries", &[Role::Treasury]),
    ("SubmitSubscription", &[Role::Bank]),
    ("WithdrawSubscription", &[Role::Bank]),
    ("ConfirmSettlement", &[Role::Bank]),
    ("PublishFixing", &[Role::Treasury]),
    ("PostAccrualEvent", &[Role::Engine]),
    ("SetWithholdingTable", &[Role::Treasury]),
    ("RecordResidence", &[Role::Bank]),
    ("ReportUndeliverable", &[Role::Bank]),
    ("RecordClaim", &[Role::Bank]),
    ("ReopenSeries", &[Role::Treasury]),
    ("ChangeRegistration", &[Role::Bank]),
    ("RequestTransfer", &[Role::Bank]),
    ("ConfirmTransfer", &[Role::Bank]),
    ("RefuseTransfer", &[Role::Bank]),
    ("FileDeathNotice", &[Role::Bank]),
    ("RedeemEarly", &[Role::Bank]),
];

/// The roles that may call the write RPC `rpc`; `None` if it is not a write.
pub fn write_roles(rpc: &str) -> Option<&'static [Role]> {
    WRITES
        .iter()
        .find(|(name, _)| *name == rpc)
        .map(|(_, roles)| *roles)
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The roles [`WRITES`] gives `rpc`, at compile time: a write missing from the
/// table stops the build.
const fn write_row(rpc: &str) -> &'static [Role] {
    let mut i = 0;
    while i < WRITES.len() {
        if same(WRITES[i].0, rpc) {
            return WRITES[i].1;
        }
        i += 1;
    }
    panic!("a write command is missing from WRITES")
}

macro_rules! rpc_commands {
    (
        reads { $($read:ident => $read_rpc:literal, $roles:expr;)* }
        writes { $($write:ident,)* }
    ) => {
        $(impl RpcCommand for pb::$read {
            const RPC: &'static str = $read_rpc;
            const ROLES: &'static [Role] = $roles;
            fn from_kind(kind: Kind) -> Option<Self> {
                match kind {
                    Kind::$read(c) => Some(c),
                    _ => None,
                }
            }
            fn into_kind(self) -> Kind {
                Kind::$read(self)
            }
        })*
        $(impl RpcCommand for pb::$write {
            const RPC: &'static str = stringify!($write);
            const ROLES: &'static [Role] = write_row(stringify!($write));
            fn from_kind(kind: Kind) -> Option<Self> {
                match kind {
                    Kind::$write(c) => Some(c),
                    _ => None,
                }
            }
            fn into_kind(self) -> Kind {
                Kind::$write(self)
            }
        }
        impl WriteCommand for pb::$write {})*

        /// The RPC name, roles and whether it writes, of the command `kind`
        /// carries (round-tripped through its type); `None` for a command no RPC
        /// takes.
        #[cfg(test)]
        fn typed(kind: Kind) -> Option<(&'static str, &'static [Role], bool, Kind)> {
            $(if let Some(c) = pb::$read::from_kind(kind.clone()) {
                return Some((pb::$read::RPC, pb::$read::ROLES, false, c.into_kind()));
            })*
            $(if let Some(c) = pb::$write::from_kind(kind.clone()) {
                return Some((pb::$write::RPC, pb::$write::ROLES, true, c.into_kind()));
            })*
            None
        }
    };
}

rpc_commands! {
    reads {
        ListParticipants => "ListParticipants", EVERYONE;
        GetEntry => "GetEntry", EVERYONE;
        StreamEntries => "StreamEntries", OVERSEERS;
        GetCheckpoint => "GetCheckpoint", EVERYONE;
        GetInclusionProof => "GetInclusionProof", EVERYONE;
        GetConsistencyProof => "GetConsistencyProof", EVERYONE;
        GetReceipt => "GetReceipt", EVERYONE;
        GetSeries => "GetSeries", EVERYONE;
        ListSeries => "ListSeries", EVERYONE;
        GetSubscription => "GetSubscription", EVERYONE;
        ListSubscriptions => "ListSubscriptions", EVERYONE;
        GetInvestorHoldings => "GetInvestorHoldings", EVERYONE;
        ListHolders => "ListHolders", OVERSEERS;
        PriceSchedule => "Schedule", EVERYONE;
        PriceFromYield => "PriceFromYield", EVERYONE;
        YieldFromPrice => "YieldFromPrice", EVERYONE;
        PatrioticPricing => "PatrioticPricing", EVERYONE;
        ListDueEvents => "ListDueEvents", OVERSEERS;
        GetAccrued => "GetAccrued", EVERYONE;
        GetInvestorStatement => "GetInvestorStatement", EVERYONE;
        GetDebtService => "GetDebtService", OVERSEERS;
        ListFixings => "ListFixings", EVERYONE;
        SubmitBatch => "SubmitBatch", EVERYONE;
        GetTaxReport => "GetTaxReport", OVERSEERS;
        ListUnclaimed => "ListUnclaimed", EVERYONE;
        GetWithholdingTables => "GetWithholdingTables", EVERYONE;
        AdvanceClock => "AdvanceClock", &[Role::Admin];
        ListTransfers => "ListTransfers", EVERYONE;
    }
    writes {
        RegisterParticipant,
        RotateKey,
        RevokeParticipant,
        RotateLedgerKey,
        SetRecoveryQuorum,
        EmergencyRotateLedgerKey,
        CreateSeries,
        AmendSeries,
        OpenSeries,
        CloseSeries,
        CancelSeries,
        AllotSeries,
        ReleaseUnsettled,
        IssueSeries,
        SubmitSubscription,
        WithdrawSubscription,
        ConfirmSettlement,
        PublishFixing,
        PostAccrualEvent,
        SetWithholdingTable,
        RecordResidence,
        ReportUndeliverable,
        RecordClaim,
        ReopenSeries,
        ChangeRegistration,
        RequestTransfer,
        ConfirmTransfer,
        RefuseTransfer,
        FileDeathNotice,
        RedeemEarly,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command kind, each with its fields left empty.
    fn every_kind() -> Vec<Kind> {
        vec![
            Kind::Genesis(Default::default()),
            Kind::RegisterParticipant(Default::default()),
            Kind::RotateKey(Default::default()),
            Kind::RevokeParticipant(Default::default()),
            Kind::ListParticipants(Default::default()),
            Kind::RotateLedgerKey(Default::default()),
            Kind::SetRecoveryQuorum(Default::default()),
            Kind::EmergencyRotateLedgerKey(Default::default()),
            Kind::GetEntry(Default::default()),
            Kind::StreamEntries(Default::default()),
            Kind::GetCheckpoint(Default::default()),
            Kind::GetInclusionProof(Default::default()),
            Kind::GetConsistencyProof(Default::default()),
            Kind::GetReceipt(Default::default()),
            Kind::CreateSeries(Default::default()),
            Kind::AmendSeries(Default::default()),
            Kind::OpenSeries(Default::default()),
            Kind::CloseSeries(Default::default()),
            Kind::CancelSeries(Default::default()),
            Kind::AllotSeries(Default::default()),
            Kind::ReleaseUnsettled(Default::default()),
            Kind::IssueSeries(Default::default()),
            Kind::SubmitSubscription(Default::default()),
            Kind::WithdrawSubscription(Default::default()),
            Kind::ConfirmSettlement(Default::default()),
            Kind::GetSeries(Default::default()),
            Kind::ListSeries(Default::default()),
            Kind::GetSubscription(Default::default()),
            Kind::ListSubscriptions(Default::default()),
            Kind::GetInvestorHoldings(Default::default()),
            Kind::ListHolders(Default::default()),
            Kind::PriceSchedule(Default::default()),
            Kind::PriceFromYield(Default::default()),
            Kind::YieldFromPrice(Default::default()),
            Kind::PatrioticPricing(Default::default()),
            Kind::PublishFixing(Default::default()),
            Kind::PostAccrualEvent(Default::default()),
            Kind::ListDueEvents(Default::default()),
            Kind::GetAccrued(Default::default()),
            Kind::GetInvestorStatement(Default::default()),
            Kind::GetDebtService(Default::default()),
            Kind::ListFixings(Default::default()),
            Kind::SubmitBatch(Default::default()),
            Kind::SetWithholdingTable(Default::default()),
            Kind::RecordResidence(Default::default()),
            Kind::ReportUndeliverable(Default::default()),
            Kind::RecordClaim(Default::default()),
            Kind::ReopenSeries(Default::default()),
            Kind::GetTaxReport(Default::default()),
            Kind::ListUnclaimed(Default::default()),
            Kind::GetWithholdingTables(Default::default()),
            Kind::AdvanceClock(Default::default()),
            Kind::ChangeRegistration(Default::default()),
            Kind::RequestTransfer(Default::default()),
            Kind::ConfirmTransfer(Default::default()),
            Kind::RefuseTransfer(Default::default()),
            Kind::FileDeathNotice(Default::default()),
            Kind::RedeemEarly(Default::default()),
            Kind::ListTransfers(Default::default()),
        ]
    }

    /// Every command a caller may send has its type, named as the codec names it,
    /// taken back out of a payload unchanged; only genesis (written by the server
    /// itself) has none.
    #[test]
    fn every_requestable_command_has_its_typed_rpc() {
        for kind in every_kind() {
            let name = crate::codec::command_name(&kind);
            match typed(kind.clone()) {
                Some((rpc, roles, _, back)) => {
                    assert_eq!(rpc, name, "the RPC of {name}");
                    assert_eq!(back, kind, "{name} round-trips");
                    assert!(!roles.is_empty(), "{name} admits some role");
                }
                None => assert_eq!(name, "Genesis", "{name} has no typed RPC"),
            }
        }
    }

    /// The table of writes (what batches admit, and the roles the unary writes
    /// check) holds exactly the commands the ledger records: those the codec turns
    /// into a registry command (empty fields may be refused, but for a field of
    /// their own, never as "not a change").
    #[test]
    fn the_table_of_writes_is_exactly_the_commands_that_change_the_ledger() {
        let kinds = every_kind();
        let names: std::collections::BTreeSet<&str> =
            kinds.iter().map(crate::codec::command_name).collect();
        assert_eq!(names.len(), kinds.len(), "one of each kind");
        let mut writes = 0;
        for kind in &kinds {
            let name = crate::codec::command_name(kind);
            let changes = match crate::codec::command_from_kind(kind) {
                Ok(_) => true,
                Err(e) => !e.to_string().contains("does not change the ledger"),
            };
            // Genesis is written by the server itself, never requested.
            let requestable = changes && name != "Genesis";
            assert_eq!(
                write_roles(name).is_some(),
                requestable,
                "{name}: in WRITES exactly when it is a requestable write"
            );
            if let Some((_, roles, is_write, _)) = typed(kind.clone()) {
                assert_eq!(
                    is_write, requestable,
                    "{name}: a WriteCommand exactly when a write"
                );
                if is_write {
                    assert_eq!(Some(roles), write_roles(name), "{name}: roles from WRITES");
                }
            }
            writes += usize::from(requestable);
        }
        assert_eq!(
            writes,
            WRITES.len(),
            "no row of WRITES names an unknown RPC"
        );
    }
}
