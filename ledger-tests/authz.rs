//! The authorization matrix: every RPC called as every role and as no one, against
//! the table in docs/AUTHORIZATION.md, parsed at test time so that the page and
//! the code cannot drift. Allowed calls carry valid arguments and must succeed;
//! `own` cells are also tried on another participant's record.

use crate::common;
use common::wire;

use common::programme::{Life, at, plain_terms};
use common::{Backend, InProcess, new_key};
use dbond::client::{Client, CommandKind as K, SeriesAction};
use dbond::proto as pb;
use dbond_testkit::day;
use ed25519_dalek::SigningKey;
use std::collections::BTreeMap;
use tonic::Code;

/// The columns of the table, in order.
const COLUMNS: [&str; 6] = ["admin", "treasury", "bank", "auditor", "engine", "no one"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cell {
    Allowed,
    Own,
    Denied,
    Unauthenticated,
    /// Allowed on a rehearsal server only; this suite's server is a production
    /// one, which answers FAILED_PRECONDITION.
    Rehearsal,
    /// Allowed on a server waiting for an emergency replacement of the ledger
    /// key only; this suite's server holds the key in force, and answers
    /// FAILED_PRECONDITION.
    Emergency,
}

/// rpc -> column -> cell, from the one table of docs/AUTHORIZATION.md.
fn matrix() -> BTreeMap<String, BTreeMap<String, Cell>> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/AUTHORIZATION.md"
    ))
    .expect("read docs/AUTHORIZATION.md");
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let mut lines = text.lines().skip_while(|l| !l.starts_with("| RPC |"));
    let header = cells(
        lines
            .next()
            .expect("a table whose header starts with | RPC |"),
    );
    assert_eq!(header[1..], COLUMNS, "the table's columns");
    let mut out = BTreeMap::new();
    for line in lines.skip(1).take_while(|l| l.starts_with('|')) {
        let row = cells(line);
        assert_eq!(row.len(), header.len(), "row {line}");
        let rpc = row[0]
            .trim_matches('`')
            .rsplit('.')
            .next()
            .unwrap()
            .to_string();
        let service = row[0].trim_matches('`').split('.').next().unwrap();
        assert_eq!(service, wire::service_of(&rpc), "service of {rpc}");
        let by_role = COLUMNS
            .iter()
            .zip(&row[1..])
            .map(|(col, cell)| {
                let cell = match cell.as_str() {
                    "allowed" => Cell::Allowed,
                    "own" => Cell::Own,
                    "PERMISSION_DENIED" => Cell::Denied,
                    "UNAUTHENTICATED" => Cell::Unauthenticated,
                    "rehearsal" => Cell::Rehearsal,
                    "emergency" => Cell::Emergency,
                    other => panic!("{rpc} / {col}: unknown cell {other:?}"),
                };
                (col.to_string(), cell)
            })
            .collect();
        assert!(out.insert(rpc.clone(), by_role).is_none(), "{rpc} twice");
    }
    out
}

/// Early series sell in December 2026 and pay their first coupon in July 2027;
/// late ones sell in July 2027, when the matrix runs.
fn terms(id: &str, late: bool) -> pb::SeriesTerms {
    let life = if late {
        Life {
            opens: at(2027, 7, 1),
            closes: at(2027, 8, 1),
            settlement_deadline: at(2027, 8, 5),
            issue: day("2027-08-10"),
            maturity: day("2029-08-10"),
        }
    } else {
        Life::december_2026(2)
    };
    plain_terms(id, life)
}

fn order(series: &str, investor: &str, key: &str) -> pb::SubmitSubscription {
    pb::SubmitSubscription {
        series_id: series.into(),
        investor_ref: investor.into(),
        category: pb::DiasporaCategory::CitizenAbroad as i32,
        country: "DE".into(),
        units: "10".into(),
        idempotency_key: key.into(),
        registration: None,
    }
}

const BOND_JSON: &str = r#"{"face": "1000", "coupon_rate": "0.05", "frequency": "semiannual",
    "day_count": "ACT/ACT ICMA", "issue_date": "2026-03-15", "maturity_date": "2031-03-15",
    "first_coupon_date": null, "business_day_convention": "following", "calendar": "weekends_only",
    "end_of_month": false, "date_generation": "backward", "accrual_dates": "unadjusted",
    "payment_lag_days": 0}"#;

/// One participant per column (and, for RotateKey, one more per role that
/// rotates its own key), and a registry where every RPC has something valid to
/// act on.
pub(crate) struct World {
    pub(crate) server: InProcess,
    pub(crate) by_role: BTreeMap<&'static str, Client>,
    /// Participants that rotate their own keys, by role.
    rotators: BTreeMap<&'static str, Client>,
    unknown: Client,
    /// bank-a's and bank-b's subscriptions to L-OPEN (submitted).
    sub_a: u64,
    sub_b: u64,
    /// bank-a's and bank-b's allotments in E-SETTLE, awaiting settlement.
    settle_a: u64,
    settle_b: u64,
    /// The engine's next due event on E-ISSUED.
    due_event: String,
    /// Pending transfers in E-LIFE: two delivered by bank-a (one to confirm,
    /// one to refuse), one delivered by bank-b to bank-a, and one between
    /// bank-b and rot-bank (bank-a on neither side).
    t_confirm: u64,
    t_refuse: u64,
    t_other_confirm: u64,
    t_other_refuse: u64,
    /// The public key of the next ledger key the server holds.
    next_ledger_key: [u8; 32],
}

/// E-LIFE: sold with the early series, a zero coupon (nothing falls due before
/// maturity, so holdings may change in July), moves and gifts allowed, early
/// redemption on request without lock-up.
fn life_terms() -> pb::SeriesTerms {
    let mut t = terms("E-LIFE", false);
    t.coupon = Some(pb::Coupon {
        kind: Some(pb::coupon::Kind::Zero(pb::ZeroCoupon {})),
    });
    t.transfers = pb::Transfers::Gifts as i32;
    t.early_redemption = Some(pb::EarlyRedemption {
        on_request: true,
        ..Default::default()
    });
    t
}

fn move_of(from_bank: &str, investor: &str) -> pb::RequestTransfer {
    pb::RequestTransfer {
        kind: pb::TransferKind::Move as i32,
        series_id: "E-LIFE".into(),
        from_bank_id: from_bank.into(),
        from_investor_ref: investor.into(),
        to_investor_ref: investor.into(),
        units: "2".into(),
        ..Default::default()
    }
}

pub(crate) async fn world(backend: Backend) -> World {
    let server = InProcess::start_on(at(2026, 12, 2), backend).await;
    let admin = server.admin().await;
    let register = async |id: &str, role: pb::Role| -> Client {
        let key: SigningKey = new_key();
        admin
            .register(id, role, &key.verifying_key(), id)
            .await
            .unwrap();
        admin.as_key(key)
    };
    let treasury = register("treasury", pb::Role::Treasury).await;
    let bank_a = register("bank-a", pb::Role::Bank).await;
    let bank_b = register("bank-b", pb::Role::Bank).await;
    let auditor = register("auditor", pb::Role::Auditor).await;
    let engine = register("engine", pb::Role::Engine).await;
    register("rot-target", pb::Role::Bank).await;
    register("victim", pb::Role::Bank).await;
    let mut rotators = BTreeMap::new();
    for (col, role) in [
        ("treasury", pb::Role::Treasury),
        ("bank", pb::Role::Bank),
        ("auditor", pb::Role::Auditor),
        ("engine", pb::Role::Engine),
    ] {
        let id = format!("rot-{}", col);
        rotators.insert(col, register(&id, role).await);
    }

    // December 2026: early series through their window.
    let id = |r: pb::SubscriptionResponse| r.subscription.unwrap().subscription_id;
    for s in ["E-ISSUED", "E-TOISSUE", "E-RELEASE", "E-SETTLE", "E-PAID"] {
        treasury.create_series(terms(s, false)).await.unwrap();
        treasury.series_action(SeriesAction::Open, s).await.unwrap();
    }
    // E-PAID: issued, its first coupon paid in July and one payment reported
    // undeliverable (for the tax report, the unclaimed list, claims, reopenings).
    let mut paid_subs = Vec::new();
    for (bank, investor) in [(&bank_a, "inv-a"), (&bank_a, "inv-a2"), (&bank_b, "inv-b")] {
        let r = bank
            .submit(order("E-PAID", investor, &format!("E-PAID-{investor}")))
            .await
            .unwrap();
        paid_subs.push((bank.clone(), r.subscription.unwrap().subscription_id));
    }
    treasury
        .series_action(SeriesAction::Close, "E-PAID")
        .await
        .unwrap();
    treasury
        .series_action(SeriesAction::Allot, "E-PAID")
        .await
        .unwrap();
    for (bank, sub) in paid_subs {
        bank.settle(sub).await.unwrap();
    }
    treasury
        .series_action(SeriesAction::Issue, "E-PAID")
        .await
        .unwrap();
    treasury
        .set_withholding_table(
            "E-PAID",
            "2027-01-01",
            "0.15",
            &[("DE".into(), "0.05".into())],
        )
        .await
        .unwrap();
    let mut settle_now = Vec::new();
    for s in ["E-ISSUED", "E-TOISSUE", "E-RELEASE", "E-SETTLE"] {
        let a = id(bank_a
            .submit(order(s, "inv-a", &format!("{s}-a")))
            .await
            .unwrap());
        if s == "E-ISSUED" || s == "E-TOISSUE" {
            settle_now.push((bank_a.clone(), a));
        }
        if s == "E-ISSUED" || s == "E-SETTLE" {
            let b = id(bank_b
                .submit(order(s, "inv-b", &format!("{s}-b")))
                .await
                .unwrap());
            if s == "E-ISSUED" {
                settle_now.push((bank_b.clone(), b));
            }
        }
        treasury
            .series_action(SeriesAction::Close, s)
            .await
            .unwrap();
        treasury
            .series_action(SeriesAction::Allot, s)
            .await
            .unwrap();
    }
    for (bank, sub) in settle_now {
        bank.settle(sub).await.unwrap();
    }
    treasury
        .series_action(SeriesAction::Issue, "E-ISSUED")
        .await
        .unwrap();
    treasury.create_series(life_terms()).await.unwrap();
    treasury
        .series_action(SeriesAction::Open, "E-LIFE")
        .await
        .unwrap();
    let mut life = Vec::new();
    for (bank, investor) in [(&bank_a, "inv-a"), (&bank_a, "dec-a"), (&bank_b, "inv-b")] {
        let sub = id(bank
            .submit(order("E-LIFE", investor, &format!("E-LIFE-{investor}")))
            .await
            .unwrap());
        life.push((bank.clone(), sub));
    }
    for action in [SeriesAction::Close, SeriesAction::Allot] {
        treasury.series_action(action, "E-LIFE").await.unwrap();
    }
    for (bank, sub) in life {
        bank.settle(sub).await.unwrap();
    }
    treasury
        .series_action(SeriesAction::Issue, "E-LIFE")
        .await
        .unwrap();
    let in_settle = auditor.all_subscriptions("E-SETTLE").await.unwrap();
    let of = |bank: &str| {
        in_settle
            .iter()
            .find(|s| s.bank_id == bank)
            .unwrap()
            .subscription_id
    };
    let (settle_a, settle_b) = (of("bank-a"), of("bank-b"));

    // July 2027: E-ISSUED's first record date has passed; late series in their window.
    server.set_time(at(2027, 7, 10));
    for s in [
        "L-DRAFT", "L-TOOPEN", "L-CANCEL", "L-CLOSE", "L-ALLOT", "L-OPEN",
    ] {
        treasury.create_series(terms(s, true)).await.unwrap();
    }
    for s in ["L-CLOSE", "L-ALLOT", "L-OPEN"] {
        treasury.series_action(SeriesAction::Open, s).await.unwrap();
    }
    bank_a
        .submit(order("L-ALLOT", "inv-a", "L-ALLOT-a"))
        .await
        .unwrap();
    treasury
        .series_action(SeriesAction::Close, "L-ALLOT")
        .await
        .unwrap();
    let sub_a = id(bank_a
        .submit(order("L-OPEN", "inv-a", "L-OPEN-a"))
        .await
        .unwrap());
    let sub_b = id(bank_b
        .submit(order("L-OPEN", "inv-b", "L-OPEN-b"))
        .await
        .unwrap());
    // Late July: E-PAID's first coupon is paid; bank-a reports inv-a's undeliverable.
    server.set_time(at(2027, 7, 20));
    loop {
        let due = engine.list_due("").await.unwrap();
        let Some(next) = due.due.iter().find(|d| d.series_id == "E-PAID") else {
            break;
        };
        engine.post_accrual("E-PAID", &next.event_id).await.unwrap();
    }
    bank_a
        .report_undeliverable("E-PAID/coupon/0", "inv-a")
        .await
        .unwrap();
    let due = engine.list_due("").await.unwrap();
    let due_event = due
        .due
        .iter()
        .find(|d| d.series_id == "E-ISSUED")
        .expect("E-ISSUED has an event due")
        .event_id
        .clone();
    let transfer = async |bank: &Client, from_bank: &str, investor: &str| -> u64 {
        bank.request_transfer(move_of(from_bank, investor))
            .await
            .unwrap()
            .transfer
            .unwrap()
            .transfer_id
    };
    let t_confirm = transfer(&bank_b, "bank-a", "inv-a").await;
    let t_refuse = transfer(&bank_b, "bank-a", "inv-a").await;
    let t_other_confirm = transfer(&bank_a, "bank-b", "inv-b").await;
    let t_other_refuse = transfer(&rotators["bank"], "bank-b", "inv-b").await;
    let unknown = admin.as_key(new_key());
    let by_role = BTreeMap::from([
        ("admin", admin),
        ("treasury", treasury),
        ("bank", bank_a),
        ("auditor", auditor),
        ("engine", engine),
    ]);
    World {
        next_ledger_key: server.next_ledger_key.verifying_key().to_bytes(),
        server,
        by_role,
        rotators,
        unknown,
        sub_a,
        sub_b,
        settle_a,
        settle_b,
        due_event,
        t_confirm,
        t_refuse,
        t_other_confirm,
        t_other_refuse,
    }
}

/// A valid command for `rpc`: what an allowed caller in column `col` sends.
fn valid(w: &World, rpc: &str, col: &str) -> K {
    let s = |x: &str| x.to_string();
    let series = |id: &str| s(id);
    match rpc {
        "RegisterParticipant" => K::RegisterParticipant(pb::RegisterParticipant {
            participant_id: s("newcomer"),
            role: pb::Role::Bank as i32,
            public_key: new_key().verifying_key().to_bytes().to_vec(),
            display_name: s("Newcomer"),
        }),
        "RotateKey" => K::RotateKey(pb::RotateKey {
            participant_id: if col == "admin" {
                s("rot-target")
            } else {
                format!("rot-{col}")
            },
            new_public_key: new_key().verifying_key().to_bytes().to_vec(),
        }),
        "RevokeParticipant" => K::RevokeParticipant(pb::RevokeParticipant {
            participant_id: s("victim"),
            reason: s("left the programme"),
        }),
        "ListParticipants" => K::ListParticipants(pb::ListParticipants {}),
        "SetRecoveryQuorum" => K::SetRecoveryQuorum(pb::SetRecoveryQuorum {
            threshold: 1,
            recovery_public_keys: vec![new_key().verifying_key().to_bytes().to_vec()],
        }),
        // Valid in form; the suite's server holds the key in force, so it waits
        // for no replacement.
        "EmergencyRotateLedgerKey" => K::EmergencyRotateLedgerKey(pb::EmergencyRotateLedgerKey {
            new_public_key: new_key().verifying_key().to_bytes().to_vec(),
            after_size: 1,
            approvals: vec![pb::RecoveryApproval {
                recovery_public_key: new_key().verifying_key().to_bytes().to_vec(),
                signature: vec![1; 64],
            }],
        }),
        // The in-process server holds a next ledger key: the admin hands over to it.
        "RotateLedgerKey" => K::RotateLedgerKey(pb::RotateLedgerKey {
            new_public_key: w.next_ledger_key.to_vec(),
        }),
        // The envelope alone: an empty batch (what its requests may do is each
        // request's own row; ledger_server.rs batches every role's writes).
        "SubmitBatch" => K::SubmitBatch(pb::SubmitBatch { request_count: 0 }),
        "GetEntry" => K::GetEntry(pb::GetEntry { index: w.sub_a }),
        "StreamEntries" => K::StreamEntries(pb::StreamEntries { start: 0, end: 0 }),
        "GetCheckpoint" => K::GetCheckpoint(pb::GetCheckpoint {}),
        "GetInclusionProof" => K::GetInclusionProof(pb::GetInclusionProof {
            index: w.sub_a,
            tree_size: 0,
        }),
        "AdvanceClock" => K::AdvanceClock(pb::AdvanceClock {
            to: dbond_testkit::ts(at(2028, 1, 1)),
        }),
        "GetConsistencyProof" => K::GetConsistencyProof(pb::GetConsistencyProof {
            old_size: 1,
            new_size: 0,
        }),
        "GetReceipt" => K::GetReceipt(pb::GetReceipt {
            target: Some(pb::get_receipt::Target::SubscriptionId(w.sub_a)),
        }),
        "CreateSeries" => K::CreateSeries(pb::CreateSeries {
            terms: Some(terms("L-NEW", true)),
        }),
        "AmendSeries" => K::AmendSeries(pb::AmendSeries {
            terms: Some(terms("L-DRAFT", true)),
        }),
        "OpenSeries" => K::OpenSeries(pb::OpenSeries {
            series_id: series("L-TOOPEN"),
        }),
        "CloseSeries" => K::CloseSeries(pb::CloseSeries {
            series_id: series("L-CLOSE"),
        }),
        "CancelSeries" => K::CancelSeries(pb::CancelSeries {
            series_id: series("L-CANCEL"),
            reason: s("market conditions"),
        }),
        "AllotSeries" => K::AllotSeries(pb::AllotSeries {
            series_id: series("L-ALLOT"),
        }),
        "ReleaseUnsettled" => K::ReleaseUnsettled(pb::ReleaseUnsettled {
            series_id: series("E-RELEASE"),
        }),
        "IssueSeries" => K::IssueSeries(pb::IssueSeries {
            series_id: series("E-TOISSUE"),
        }),
        "PublishFixing" => K::PublishFixing(pb::PublishFixing {
            reference_rate: s("AUTHZ-RATE"),
            fixing_date: s("2027-07-01"),
            rate: s("0.03"),
        }),
        "ListDueEvents" => K::ListDueEvents(pb::ListDueEvents { through: s("") }),
        "PostAccrualEvent" => K::PostAccrualEvent(pb::PostAccrualEvent {
            series_id: series("E-ISSUED"),
            event_id: w.due_event.clone(),
        }),
        "SubmitSubscription" => K::SubmitSubscription(order("L-OPEN", "inv-a-2", "L-OPEN-a-2")),
        "WithdrawSubscription" => K::WithdrawSubscription(pb::WithdrawSubscription {
            subscription_id: w.sub_a,
        }),
        "ConfirmSettlement" => K::ConfirmSettlement(pb::ConfirmSettlement {
            subscription_id: w.settle_a,
        }),
        "GetSeries" => K::GetSeries(pb::GetSeries {
            series_id: series("L-DRAFT"),
        }),
        "ListSeries" => K::ListSeries(pb::ListSeries {}),
        "GetSubscription" => K::GetSubscription(pb::GetSubscription {
            subscription_id: w.sub_a,
        }),
        "ListSubscriptions" => K::ListSubscriptions(pb::ListSubscriptions::default()),
        "GetInvestorHoldings" => K::GetInvestorHoldings(pb::GetInvestorHoldings {
            investor_ref: s("inv-a"),
            bank_id: s("bank-a"),
        }),
        "ListHolders" => K::ListHolders(pb::ListHolders {
            series_id: series("E-ISSUED"),
            ..Default::default()
        }),
        "GetAccrued" => K::GetAccrued(pb::GetAccrued {
            series_id: series("E-ISSUED"),
            as_of: s(""),
        }),
        "GetInvestorStatement" => K::GetInvestorStatement(pb::GetInvestorStatement {
            investor_ref: s("inv-a"),
            bank_id: s("bank-a"),
            as_of: s(""),
        }),
        "GetDebtService" => K::GetDebtService(pb::GetDebtService {
            series_id: series("E-ISSUED"),
        }),
        "ListFixings" => K::ListFixings(pb::ListFixings::default()),
        "Schedule" => K::PriceSchedule(pb::PriceSchedule {
            terms_json: s(BOND_JSON),
        }),
        "PriceFromYield" => K::PriceFromYield(pb::PriceFromYield {
            terms_json: s(BOND_JSON),
            settle: s("2027-07-10"),
            r#yield: s("0.05"),
        }),
        "YieldFromPrice" => K::YieldFromPrice(pb::YieldFromPrice {
            terms_json: s(BOND_JSON),
            settle: s("2027-07-10"),
            clean_price: s("99.5"),
        }),
        "PatrioticPricing" => K::PatrioticPricing(pb::PatrioticPricing {
            terms_json: s(BOND_JSON),
            settle: s("2027-07-10"),
            reference_yield: s("0.065"),
            discount_bps: s("150"),
        }),
        "SetWithholdingTable" => K::SetWithholdingTable(pb::SetWithholdingTable {
            series_id: series("E-PAID"),
            effective_from: s("2028-01-01"),
            default_rate: s("0.1"),
            treaty_rates: vec![pb::TreatyRateEntry {
                country: s("US"),
                rate: s("0.1"),
            }],
        }),
        "RecordResidence" => K::RecordResidence(pb::RecordResidence {
            investor_ref: s("inv-a"),
            country: s("GB"),
            effective_from: s("2027-09-01"),
        }),
        "ReportUndeliverable" => K::ReportUndeliverable(pb::ReportUndeliverable {
            event_id: s("E-PAID/coupon/0"),
            investor_ref: s("inv-a2"),
        }),
        "RecordClaim" => K::RecordClaim(pb::RecordClaim {
            event_id: s("E-PAID/coupon/0"),
            investor_ref: s("inv-a"),
            reference: s("PAY-0001"),
        }),
        "ReopenSeries" => {
            let ts = |t| Some(dbond::codec::timestamp_to_pb(t));
            K::ReopenSeries(pb::ReopenSeries {
                series_id: series("E-PAID"),
                window_opens_at: ts(at(2027, 7, 20)),
                window_closes_at: ts(at(2027, 8, 1)),
                settlement_date: s("2027-08-10"),
                settlement_deadline: ts(at(2027, 8, 5)),
                reference_yield: s("0.06"),
                discount_bps: s("100"),
                cap_units: s("10"),
            })
        }
        "GetTaxReport" => K::GetTaxReport(pb::GetTaxReport {
            series_id: series("E-PAID"),
            year: 2027,
        }),
        "ListUnclaimed" => K::ListUnclaimed(pb::ListUnclaimed::default()),
        "GetWithholdingTables" => K::GetWithholdingTables(pb::GetWithholdingTables {
            series_id: series("E-PAID"),
        }),
        "ChangeRegistration" => K::ChangeRegistration(pb::ChangeRegistration {
            series_id: series("E-LIFE"),
            investor_ref: s("inv-a"),
            bank_id: s(""),
            registration: Some(pb::Registration {
                form: Some(pb::registration::Form::Beneficiary(
                    pb::BeneficiaryRegistration {
                        beneficiaries: vec![s("kid-a")],
                    },
                )),
            }),
        }),
        "RequestTransfer" => K::RequestTransfer(pb::RequestTransfer {
            units: s("1"),
            ..move_of("bank-b", "inv-b")
        }),
        "ConfirmTransfer" => K::ConfirmTransfer(pb::ConfirmTransfer {
            transfer_id: w.t_confirm,
        }),
        "RefuseTransfer" => K::RefuseTransfer(pb::RefuseTransfer {
            transfer_id: w.t_refuse,
            reason: s("client withdrew"),
        }),
        "FileDeathNotice" => K::FileDeathNotice(pb::FileDeathNotice {
            owner_ref: s("dec-a"),
            date_of_death: s("2027-07-01"),
            document_hash: vec![0xd0; 32],
            estate_ref: s("dec-a-estate"),
        }),
        "RedeemEarly" => K::RedeemEarly(pb::RedeemEarly {
            series_id: series("E-LIFE"),
            investor_ref: s("inv-a"),
            bank_id: s(""),
            units: s("1"),
            reason: pb::RedemptionReason::OnRequest as i32,
            document_hash: vec![],
        }),
        "ListTransfers" => K::ListTransfers(pb::ListTransfers::default()),
        other => panic!("no valid command for {other}"),
    }
}

/// For `own` cells: the same call naming another participant's record, which
/// must be refused with PERMISSION_DENIED. `None` where `own` means a filtered
/// list (checked on the reply instead).
fn another_ones(w: &World, rpc: &str) -> Option<K> {
    let s = |x: &str| x.to_string();
    Some(match rpc {
        "RotateKey" => K::RotateKey(pb::RotateKey {
            participant_id: s("bank-b"),
            new_public_key: new_key().verifying_key().to_bytes().to_vec(),
        }),
        "GetEntry" => K::GetEntry(pb::GetEntry { index: w.sub_b }),
        "GetReceipt" => K::GetReceipt(pb::GetReceipt {
            target: Some(pb::get_receipt::Target::SubscriptionId(w.sub_b)),
        }),
        "WithdrawSubscription" => K::WithdrawSubscription(pb::WithdrawSubscription {
            subscription_id: w.sub_b,
        }),
        "ConfirmSettlement" => K::ConfirmSettlement(pb::ConfirmSettlement {
            subscription_id: w.settle_b,
        }),
        "GetSubscription" => K::GetSubscription(pb::GetSubscription {
            subscription_id: w.sub_b,
        }),
        "GetInvestorHoldings" => K::GetInvestorHoldings(pb::GetInvestorHoldings {
            investor_ref: s("inv-b"),
            bank_id: s("bank-b"),
        }),
        "GetInvestorStatement" => K::GetInvestorStatement(pb::GetInvestorStatement {
            investor_ref: s("inv-b"),
            bank_id: s("bank-b"),
            as_of: s(""),
        }),
        "ChangeRegistration" => K::ChangeRegistration(pb::ChangeRegistration {
            series_id: s("E-LIFE"),
            investor_ref: s("inv-b"),
            bank_id: s("bank-b"),
            registration: None,
        }),
        "ConfirmTransfer" => K::ConfirmTransfer(pb::ConfirmTransfer {
            transfer_id: w.t_other_confirm,
        }),
        "RefuseTransfer" => K::RefuseTransfer(pb::RefuseTransfer {
            transfer_id: w.t_other_refuse,
            reason: s("not ours"),
        }),
        "RedeemEarly" => K::RedeemEarly(pb::RedeemEarly {
            series_id: s("E-LIFE"),
            investor_ref: s("inv-b"),
            bank_id: s("bank-b"),
            units: s("1"),
            reason: pb::RedemptionReason::OnRequest as i32,
            document_hash: vec![],
        }),
        "ListSubscriptions" | "ListTransfers" => return None,
        other => panic!("{other} has an `own` cell the test does not know how to try"),
    })
}

impl World {
    /// Who calls `rpc` for column `col` (RotateKey's non-admins rotate their own
    /// participant's key, so the column's main participant keeps its key).
    fn caller(&self, rpc: &str, col: &str) -> &Client {
        match (rpc, col) {
            (_, "no one") => &self.unknown,
            ("RotateKey", c) if c != "admin" => &self.rotators[c],
            (_, c) => &self.by_role[c],
        }
    }
}

/// Where the matrix is called: the server itself, or a mirror of it.
#[derive(Clone, Copy)]
pub(crate) enum Via<'a> {
    Server,
    /// A mirror's channel, and the source it names when it refuses a write.
    Mirror(&'a tonic::transport::Channel, &'a str),
}

impl<'a> Via<'a> {
    async fn call(
        self,
        client: &Client,
        rpc: &str,
        command: Option<K>,
    ) -> Result<Vec<Vec<u8>>, tonic::Status> {
        self.send(client, rpc, command.map(|c| client.sign(c)))
            .await
    }

    async fn send(
        self,
        client: &Client,
        rpc: &str,
        signed: Option<pb::SignedRequest>,
    ) -> Result<Vec<Vec<u8>>, tonic::Status> {
        let channel = match self {
            Via::Server => client.channel(),
            Via::Mirror(channel, _) => channel,
        };
        wire::call(channel, rpc, signed).await
    }

    /// The source a mirror names, when `rpc` is a write sent to one.
    fn refuses(self, rpc: &str) -> Option<&'a str> {
        match self {
            Via::Mirror(_, source)
                if dbond::service::rpc::write_roles(rpc).is_some() || rpc == "SubmitBatch" =>
            {
                Some(source)
            }
            _ => None,
        }
    }
}

fn auth_refusal(code: Code) -> bool {
    matches!(code, Code::PermissionDenied | Code::Unauthenticated)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_as_every_role_matches_docs_authorization_md() {
    let w = world(Backend::Sled).await;
    check_matrix(&w, Via::Server).await;
    drop(w.server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_as_every_role_matches_docs_authorization_md_on_postgres() {
    let w = world(Backend::Postgres).await;
    check_matrix(&w, Via::Server).await;
    drop(w.server);
}

/// Calls every RPC as every role through `via`, against the table. Through a
/// mirror, reads answer as the table says and every write is refused with
/// FAILED_PRECONDITION naming the source.
pub(crate) async fn check_matrix(w: &World, via: Via<'_>) {
    let table = matrix();
    let in_proto = wire::rpcs_in_proto();
    let documented: Vec<&String> = table.keys().collect();
    let mut expected: Vec<&String> = in_proto.iter().collect();
    expected.sort();
    assert_eq!(
        documented, expected,
        "docs/AUTHORIZATION.md has one row per RPC of services.proto"
    );
    let mut failures = Vec::new();
    let mut checked = 0;
    for (_, rpc) in wire::RPCS {
        for col in COLUMNS {
            let cell = table[rpc][col];
            let client = w.caller(rpc, col);
            let label = format!("{rpc} as {col} ({cell:?})");
            let refused_by = via.refuses(rpc);
            // GetLedgerInfo takes no command; the others a valid one for the column.
            let command = (rpc != wire::UNSIGNED_RPC).then(|| valid(w, rpc, col));
            // Another's record first: a valid RotateKey retires the caller's key.
            let others = if cell == Cell::Own {
                another_ones(w, rpc)
            } else {
                None
            };
            if let Some(other) = others.clone() {
                checked += 1;
                match via.call(client, rpc, Some(other)).await {
                    Err(e) if refused_by.is_none() && e.code() == Code::PermissionDenied => {}
                    Err(e) if refused_by.is_some() && e.code() == Code::FailedPrecondition => {}
                    outcome => failures.push(format!(
                        "{label}: another's record must be {}, got {:?}",
                        if refused_by.is_some() {
                            "FAILED_PRECONDITION"
                        } else {
                            "PERMISSION_DENIED"
                        },
                        outcome.err()
                    )),
                }
            }
            let mut outcomes = vec![(label.clone(), via.call(client, rpc, command.clone()).await)];
            if col == "no one" {
                outcomes.push((
                    format!("{label}, unsigned"),
                    via.send(client, rpc, None).await,
                ));
            }
            for (label, outcome) in outcomes {
                checked += 1;
                if let Some(source) = refused_by {
                    match &outcome {
                        Err(e)
                            if e.code() == Code::FailedPrecondition
                                && e.message().contains(source) => {}
                        other => failures.push(format!(
                            "{label}: a mirror refuses writes with FAILED_PRECONDITION naming {source}, got {:?}",
                            other.as_ref().err()
                        )),
                    }
                    continue;
                }
                let fail = match (cell, &outcome) {
                    (Cell::Allowed | Cell::Own, Ok(_)) => None,
                    (Cell::Allowed | Cell::Own, Err(e)) => Some(if auth_refusal(e.code()) {
                        format!("refused: {e:?}")
                    } else {
                        format!("allowed, but the valid call failed: {e:?}")
                    }),
                    (Cell::Denied, Err(e)) if e.code() == Code::PermissionDenied => None,
                    (Cell::Unauthenticated, Err(e)) if e.code() == Code::Unauthenticated => None,
                    (Cell::Rehearsal, Err(e)) if e.code() == Code::FailedPrecondition => None,
                    (Cell::Emergency, Err(e))
                        if e.code() == Code::FailedPrecondition
                            && e.message().contains("--emergency-rotation") =>
                    {
                        None
                    }
                    (_, other) => {
                        Some(format!("expected {cell:?}, got {:?}", other.as_ref().err()))
                    }
                };
                if let Some(f) = fail {
                    failures.push(format!("{label}: {f}"));
                }
            }
            // An `own` list is filtered to the caller's records.
            if cell == Cell::Own && others.is_none() {
                checked += 1;
                let reply = via.call(client, rpc, command).await.expect("own list");
                let bank = "bank-a";
                // (bank, bank) per record: the record is the caller's when
                // either names it.
                let sides: Vec<(String, String)> = if rpc == "ListTransfers" {
                    let list: pb::ListTransfersResponse = wire::one(&reply);
                    list.transfers
                        .into_iter()
                        .map(|t| (t.from_bank_id, t.to_bank_id))
                        .collect()
                } else {
                    let list: pb::ListSubscriptionsResponse = wire::one(&reply);
                    list.subscriptions
                        .into_iter()
                        .map(|s| (s.bank_id.clone(), s.bank_id))
                        .collect()
                };
                if sides.is_empty() || sides.iter().any(|(x, y)| x != bank && y != bank) {
                    failures.push(format!(
                        "{label}: expected {bank}'s records only, got {sides:?}"
                    ));
                }
            }
        }
    }
    // The filter is a filter: an overseer's list holds the other bank's too.
    let all: pb::ListSubscriptionsResponse = wire::one(
        &via.call(
            &w.by_role["auditor"],
            "ListSubscriptions",
            Some(K::ListSubscriptions(Default::default())),
        )
        .await
        .unwrap(),
    );
    assert!(all.subscriptions.iter().any(|s| s.bank_id == "bank-b"));
    let all: pb::ListTransfersResponse = wire::one(
        &via.call(
            &w.by_role["auditor"],
            "ListTransfers",
            Some(K::ListTransfers(Default::default())),
        )
        .await
        .unwrap(),
    );
    assert!(
        all.transfers
            .iter()
            .any(|t| t.from_bank_id != "bank-a" && t.to_bank_id != "bank-a")
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} calls disagree with docs/AUTHORIZATION.md:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
