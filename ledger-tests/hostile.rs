//! Hostile input against a real `dbond serve`: every RPC of services.proto gets
//! malformed, oversized, out-of-range and forged requests. Each case must be refused
//! with its precise status code and a message that names the field or the problem,
//! must leave the ledger and the registry exactly as they were, and must leave the
//! server alive and answering. One table of cases, one `check`.

use crate::common;
use common::wire;

use chrono::{Duration, Utc};
use common::programme::{Life, Terms, ts};
use common::{Backend, Server, new_key};
use dbond::client::{CommandKind as K, SeriesAction};
use dbond::ledger::keys::{self, KeyId, REQUEST_CONTEXT};
use dbond::limits;
use dbond::proto as pb;
use ed25519_dalek::SigningKey;
use futures::FutureExt;
use prost::Message;
use std::panic::AssertUnwindSafe;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

/// Who signs a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Admin,
    Treasury,
    BankA,
    BankB,
    Auditor,
    Engine,
    /// A bank whose participant was revoked.
    Revoked,
    /// A bank's old key, rotated out.
    Retired,
    /// A key the ledger has never seen.
    Unknown,
}

/// What is done to an otherwise well-formed signed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tamper {
    None,
    /// No `signed` field at all.
    Unsigned,
    KeyIdGarbage,
    /// A key id of 100 000 characters (quoted back in the refusal).
    KeyIdHuge,
    FlippedSignature,
    EmptySignature,
    /// A good signature, by another participant's key than the key id names.
    ForeignSignature,
    /// Payload bytes that are not a RequestPayload, correctly signed.
    GarbagePayload,
    OtherOrigin,
    Stale,
    Future,
    NoIssuedAt,
    BadNanos,
    ShortNonce,
    LongNonce,
    NoCommand,
    /// A payload beyond REQUEST_PAYLOAD_BYTES_MAX (but inside the gRPC limit).
    OversizePayload,
    /// A request message beyond GRPC_MESSAGE_BYTES_MAX.
    GiantMessage,
    /// 500 000 bytes of a field RequestPayload does not have, inside the limit.
    UnknownFields,
    /// A command whose kind this server does not know.
    UnknownCommand,
    IssuedAtBeyondRange,
    /// Issued 250 000 years ago.
    IssuedAtAncient,
}

enum Sending {
    Signed(Who, K, Tamper),
    /// The same signed request twice; the second is the one checked. The first
    /// must pass authentication, and succeed when the flag says so.
    Replay(Who, K, bool),
    /// Raw request-message bytes, not a protobuf of the request at all.
    Raw(Vec<u8>),
}

struct Case {
    label: String,
    rpc: &'static str,
    send: Sending,
    expect: Code,
    /// Words the status message must contain.
    says: Vec<String>,
    /// The BadRequest field violation the status must carry.
    field: Option<&'static str>,
}

impl Case {
    fn field(mut self, f: &'static str) -> Case {
        self.field = Some(f);
        self
    }
}

fn case(
    rpc: &'static str,
    label: impl Into<String>,
    send: Sending,
    expect: Code,
    says: &[&str],
) -> Case {
    Case {
        label: label.into(),
        rpc,
        send,
        expect,
        says: says.iter().map(|s| s.to_string()).collect(),
        field: None,
    }
}

/// A case signed by `who` with `command`, untampered.
fn as_(who: Who, rpc: &'static str, label: &str, command: K, expect: Code, says: &[&str]) -> Case {
    case(
        rpc,
        label,
        Sending::Signed(who, command, Tamper::None),
        expect,
        says,
    )
}

struct Fx {
    server: Server,
    channel: Channel,
    origin: String,
    admin: SigningKey,
    treasury: SigningKey,
    bank_a: SigningKey,
    bank_b: SigningKey,
    auditor: SigningKey,
    engine: SigningKey,
    revoked: SigningKey,
    retired: SigningKey,
    unknown: SigningKey,
    /// bank-a's subscription to HX-OPEN, submitted.
    sub_a: u64,
    /// bank-b's subscription to HX-OPEN, submitted.
    sub_b: u64,
    /// bank-a's withdrawn subscription.
    sub_withdrawn: u64,
    /// bank-a's request for units of inv-b-1 at bank-b in HX-LIFE, pending.
    transfer_b: u64,
}

/// Valid terms of a series whose window is open now (the fixture creates HX-DRAFT
/// from them, which proves them valid; cases break one field at a time).
fn terms(series_id: &str) -> pb::SeriesTerms {
    Terms::new(series_id, Life::selling_now(Duration::hours(1), 36))
        .name(format!("Hostile {series_id}"))
        .countries_barred(&["IR", "KP"])
        .build()
}

fn submit(investor: &str, key: &str, units: &str) -> pb::SubmitSubscription {
    pb::SubmitSubscription {
        series_id: "HX-OPEN".into(),
        investor_ref: investor.into(),
        category: pb::DiasporaCategory::CitizenAbroad as i32,
        country: "DE".into(),
        units: units.into(),
        idempotency_key: key.into(),
        registration: None,
    }
}

/// Bond terms JSON for the pricing calculators (docs/BONDMATH.md).
const BOND_JSON: &str = r#"{"face": "1000", "coupon_rate": "0.05", "frequency": "semiannual",
    "day_count": "ACT/ACT ICMA", "issue_date": "2026-03-15", "maturity_date": "2031-03-15",
    "first_coupon_date": null, "business_day_convention": "following", "calendar": "weekends_only",
    "end_of_month": false, "date_generation": "backward", "accrual_dates": "unadjusted",
    "payment_lag_days": 0}"#;

fn bond_json_with(key: &str, value: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(BOND_JSON).unwrap();
    v[key] = serde_json::Value::String(value.into());
    v.to_string()
}

async fn fixture() -> Fx {
    fixture_on(Backend::Sled).await
}

async fn fixture_on(backend: Backend) -> Fx {
    let server = Server::start_on_backend(backend);
    let admin = server.admin().await;
    let keys_of = [
        ("treasury", pb::Role::Treasury),
        ("bank-a", pb::Role::Bank),
        ("bank-b", pb::Role::Bank),
        ("auditor", pb::Role::Auditor),
        ("engine", pb::Role::Engine),
        ("bank-gone", pb::Role::Bank),
        ("bank-rotated", pb::Role::Bank),
    ];
    let mut k = Vec::new();
    for (id, role) in keys_of {
        let key = new_key();
        admin
            .register(id, role, &key.verifying_key(), id)
            .await
            .unwrap();
        k.push(key);
    }
    admin
        .revoke("bank-gone", "left the programme")
        .await
        .unwrap();
    admin
        .rotate("bank-rotated", &new_key().verifying_key())
        .await
        .unwrap();
    let treasury = admin.as_key(k[0].clone());
    let bank_a = admin.as_key(k[1].clone());
    let bank_b = admin.as_key(k[2].clone());
    treasury.create_series(terms("HX-DRAFT")).await.unwrap();
    treasury.create_series(terms("HX-OPEN")).await.unwrap();
    treasury
        .series_action(SeriesAction::Open, "HX-OPEN")
        .await
        .unwrap();
    let id = |r: pb::SubscriptionResponse| r.subscription.unwrap().subscription_id;
    let sub_a = id(bank_a
        .submit(submit("inv-a-1", "hx-a-1", "10"))
        .await
        .unwrap());
    let sub_b = id(bank_b
        .submit(submit("inv-b-1", "hx-b-1", "10"))
        .await
        .unwrap());
    let sub_withdrawn = id(bank_a
        .submit(submit("inv-a-2", "hx-a-2", "10"))
        .await
        .unwrap());
    bank_a.withdraw(sub_withdrawn).await.unwrap();
    treasury
        .publish_fixing("HX-RATE", "2026-01-02", "0.03")
        .await
        .unwrap();
    // Issued series: HX-LIFE allows moves and gifts and early redemption
    // after a lock-up of six months; HX-STILL allows neither.
    let life = Terms::new("HX-LIFE", Life::selling_now(Duration::hours(1), 36))
        .transfers(pb::Transfers::Gifts)
        .early_redemption(pb::EarlyRedemption {
            on_request: true,
            lockup_months: 6,
            penalty_months: 3,
            death_put: true,
            hardship_put: false,
            hardship_quota: String::new(),
        })
        .build();
    treasury.create_series(life).await.unwrap();
    treasury.create_series(terms("HX-STILL")).await.unwrap();
    for series in ["HX-LIFE", "HX-STILL"] {
        treasury
            .series_action(SeriesAction::Open, series)
            .await
            .unwrap();
        let order = |investor: &str| pb::SubmitSubscription {
            series_id: series.into(),
            ..submit(investor, &format!("{series}-{investor}"), "10")
        };
        let a = id(bank_a.submit(order("inv-a-1")).await.unwrap());
        let b = id(bank_b.submit(order("inv-b-1")).await.unwrap());
        for action in [SeriesAction::Close, SeriesAction::Allot] {
            treasury.series_action(action, series).await.unwrap();
        }
        bank_a.settle(a).await.unwrap();
        bank_b.settle(b).await.unwrap();
        treasury
            .series_action(SeriesAction::Issue, series)
            .await
            .unwrap();
    }
    let transfer_b = bank_a
        .request_transfer(pb::RequestTransfer {
            kind: pb::TransferKind::Move as i32,
            series_id: "HX-LIFE".into(),
            from_bank_id: "bank-b".into(),
            from_investor_ref: "inv-b-1".into(),
            to_investor_ref: "inv-b-1".into(),
            units: "2".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .transfer
        .unwrap()
        .transfer_id;
    Fx {
        channel: admin.channel().clone(),
        origin: admin.origin().to_string(),
        admin: server.admin_key(),
        treasury: k[0].clone(),
        bank_a: k[1].clone(),
        bank_b: k[2].clone(),
        auditor: k[3].clone(),
        engine: k[4].clone(),
        revoked: k[5].clone(),
        retired: k[6].clone(),
        unknown: new_key(),
        sub_a,
        sub_b,
        sub_withdrawn,
        transfer_b,
        server,
    }
}

impl Fx {
    fn key(&self, who: Who) -> &SigningKey {
        match who {
            Who::Admin => &self.admin,
            Who::Treasury => &self.treasury,
            Who::BankA => &self.bank_a,
            Who::BankB => &self.bank_b,
            Who::Auditor => &self.auditor,
            Who::Engine => &self.engine,
            Who::Revoked => &self.revoked,
            Who::Retired => &self.retired,
            Who::Unknown => &self.unknown,
        }
    }

    /// A signed request as `who`, with `tamper` applied.
    fn sign(&self, who: Who, command: K, tamper: Tamper) -> Option<pb::SignedRequest> {
        let key = self.key(who);
        let now = Utc::now();
        let mut payload = pb::RequestPayload {
            ledger_origin: self.origin.clone(),
            issued_at: ts(now),
            nonce: dbond::client::nonce().to_vec(),
            command: Some(pb::Command {
                kind: Some(command),
            }),
        };
        match tamper {
            Tamper::OtherOrigin => payload.ledger_origin = "evil.example/dbond".into(),
            Tamper::Stale => payload.issued_at = ts(now - Duration::hours(1)),
            Tamper::Future => payload.issued_at = ts(now + Duration::hours(1)),
            Tamper::NoIssuedAt => payload.issued_at = None,
            Tamper::BadNanos => {
                payload.issued_at = Some(prost_types::Timestamp {
                    seconds: now.timestamp(),
                    nanos: -1,
                })
            }
            Tamper::ShortNonce => payload.nonce = vec![7; limits::NONCE_BYTES_MIN - 1],
            Tamper::LongNonce => payload.nonce = vec![7; limits::NONCE_BYTES_MAX + 1],
            Tamper::NoCommand | Tamper::UnknownCommand => payload.command = None,
            Tamper::IssuedAtBeyondRange => {
                payload.issued_at = Some(prost_types::Timestamp {
                    seconds: i64::MAX,
                    nanos: 0,
                })
            }
            Tamper::IssuedAtAncient => {
                payload.issued_at = Some(prost_types::Timestamp {
                    seconds: -8_000_000_000_000,
                    nanos: 0,
                })
            }
            _ => {}
        }
        let mut bytes = payload.encode_to_vec();
        match tamper {
            // Not a protobuf: 0xff starts a field with the invalid wire type 7.
            Tamper::GarbagePayload => bytes = vec![0xff; 64],
            // An unknown field makes the payload too large but still well formed.
            Tamper::OversizePayload => prost::encoding::bytes::encode(
                99,
                &vec![0u8; limits::REQUEST_PAYLOAD_BYTES_MAX],
                &mut bytes,
            ),
            Tamper::UnknownFields => {
                prost::encoding::bytes::encode(99, &vec![0u8; 500_000], &mut bytes)
            }
            // Command { 999: 1 }: a oneof case from some future version.
            Tamper::UnknownCommand => {
                let mut command = Vec::new();
                prost::encoding::uint64::encode(999, &1, &mut command);
                prost::encoding::bytes::encode(4, &command, &mut bytes);
            }
            _ => {}
        }
        let mut signed = pb::SignedRequest {
            signature: keys::sign(key, REQUEST_CONTEXT, &bytes).to_bytes().to_vec(),
            key_id: KeyId::of(&key.verifying_key()).to_string(),
            payload: bytes,
        };
        match tamper {
            Tamper::Unsigned => return None,
            Tamper::KeyIdGarbage => signed.key_id = "not-a-key-id".into(),
            Tamper::KeyIdHuge => signed.key_id = "k".repeat(100_000),
            Tamper::FlippedSignature => signed.signature[10] ^= 1,
            Tamper::EmptySignature => signed.signature.clear(),
            Tamper::ForeignSignature => {
                let other = if who == Who::BankB {
                    &self.bank_a
                } else {
                    &self.bank_b
                };
                signed.signature = keys::sign(other, REQUEST_CONTEXT, &signed.payload)
                    .to_bytes()
                    .to_vec();
            }
            Tamper::GiantMessage => signed.signature = vec![0; limits::GRPC_MESSAGE_BYTES_MAX + 1],
            _ => {}
        }
        Some(signed)
    }

    async fn read<M: Message + Default>(&self, who: Who, rpc: &str, command: K) -> M {
        let signed = self.sign(who, command, Tamper::None);
        let replies = wire::call(&self.channel, rpc, signed)
            .await
            .unwrap_or_else(|e| panic!("{rpc} as {who:?}: {e:?}"));
        wire::one(&replies)
    }

    /// Everything a refusal must not change: the ledger's size and root (from
    /// GetLedgerInfo and GetCheckpoint) and the registry as its queries show it.
    async fn snapshot(&self) -> Snapshot {
        let info: pb::GetLedgerInfoResponse = wire::one(
            &wire::call(&self.channel, "GetLedgerInfo", None)
                .await
                .expect("GetLedgerInfo answers"),
        );
        let cp: pb::GetCheckpointResponse = self
            .read(
                Who::Auditor,
                "GetCheckpoint",
                K::GetCheckpoint(pb::GetCheckpoint {}),
            )
            .await;
        let participants: pb::ListParticipantsResponse = self
            .read(
                Who::Auditor,
                "ListParticipants",
                K::ListParticipants(pb::ListParticipants {}),
            )
            .await;
        let series: pb::ListSeriesResponse = self
            .read(Who::Auditor, "ListSeries", K::ListSeries(pb::ListSeries {}))
            .await;
        let subscriptions: pb::ListSubscriptionsResponse = self
            .read(
                Who::Auditor,
                "ListSubscriptions",
                K::ListSubscriptions(pb::ListSubscriptions {
                    series_id: String::new(),
                    after_subscription_id: 0,
                    page_size: limits::PAGE_SIZE_MAX,
                }),
            )
            .await;
        assert_eq!(subscriptions.next_after_subscription_id, 0, "one page");
        let fixings: pb::ListFixingsResponse = self
            .read(
                Who::Auditor,
                "ListFixings",
                K::ListFixings(pb::ListFixings {
                    reference_rate: String::new(),
                }),
            )
            .await;
        Snapshot {
            tree_size: info.tree_size,
            checkpoint_size: cp.tree_size,
            root: cp.root_hash,
            registry: vec![
                participants.encode_to_vec(),
                series.encode_to_vec(),
                subscriptions.encode_to_vec(),
                fixings.encode_to_vec(),
            ],
        }
    }

    fn server_alive(&mut self) -> bool {
        let child = self.server.child.as_mut().expect("server child");
        child.try_wait().expect("try_wait").is_none()
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    tree_size: u64,
    checkpoint_size: u64,
    root: Vec<u8>,
    registry: Vec<Vec<u8>>,
}

/// Sends the case and checks: the precise code, a message naming the problem (and
/// the BadRequest field), no state change, and a server still alive and answering.
async fn check(fx: &mut Fx, case: &Case) {
    let mut before = fx.snapshot().await;
    let label = format!("{} / {}", case.rpc, case.label);
    let result = match &case.send {
        Sending::Signed(who, command, tamper) => {
            let signed = fx.sign(*who, command.clone(), *tamper);
            wire::call(&fx.channel, case.rpc, signed).await
        }
        Sending::Replay(who, command, must_succeed) => {
            let signed = fx.sign(*who, command.clone(), Tamper::None);
            let first = wire::call(&fx.channel, case.rpc, signed.clone()).await;
            if let Err(e) = &first {
                assert!(
                    !*must_succeed
                        && !matches!(e.code(), Code::Unauthenticated | Code::PermissionDenied),
                    "{label}: the first sending must pass authentication{}: {e:?}",
                    if *must_succeed { " and succeed" } else { "" }
                );
            }
            // What the first sending did (a write may succeed) is not the replay's.
            before = fx.snapshot().await;
            wire::call(&fx.channel, case.rpc, signed).await
        }
        Sending::Raw(bytes) => wire::call_raw(&fx.channel, case.rpc, bytes.clone()).await,
    };
    match (&result, case.expect) {
        (Ok(_), Code::Ok) => {}
        (Ok(_), expected) => panic!("{label}: expected {expected:?}, the call succeeded"),
        (Err(status), expected) => {
            assert_eq!(
                status.code(),
                expected,
                "{label}: wrong code; message: {}",
                status.message()
            );
            for word in &case.says {
                assert!(
                    status.message().contains(word.as_str()),
                    "{label}: message {:?} does not say {word:?}",
                    status.message()
                );
            }
            if let Some(field) = case.field {
                let violations = status
                    .get_details_bad_request()
                    .map(|b| b.field_violations)
                    .unwrap_or_default();
                assert!(
                    violations.iter().any(|v| v.field == field),
                    "{label}: expected a BadRequest violation of {field}, found {violations:?} ({})",
                    status.message()
                );
            }
        }
    }
    assert!(fx.server_alive(), "{label}: the server process died");
    let after = fx.snapshot().await;
    assert_eq!(before, after, "{label}: the state changed");
}

fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// The signer an RPC accepts, so that a tampered request is refused for the
/// tampering and not for the role.
fn signer(rpc: &str) -> Who {
    match wire::service_of(rpc) {
        "ParticipantService" | "ClockService" => Who::Admin,
        "TreasuryService" => Who::Treasury,
        "BankService" => Who::BankA,
        "HoldingsService" if rpc != "ListTransfers" => Who::BankA,
        _ if rpc == "PostAccrualEvent" => Who::Engine,
        _ if matches!(rpc, "SetWithholdingTable" | "ReopenSeries") => Who::Treasury,
        _ if matches!(
            rpc,
            "RecordResidence" | "ReportUndeliverable" | "RecordClaim"
        ) =>
        {
            Who::BankA
        }
        _ => Who::Auditor,
    }
}

/// A command each RPC accepts from its signer and answers without changing the
/// ledger (reads, or writes that the registry refuses for their content).
fn harmless(fx: &Fx, rpc: &str) -> K {
    let id = |s: &str| s.to_string();
    match rpc {
        "RegisterParticipant" => K::RegisterParticipant(pb::RegisterParticipant {
            participant_id: id("bank-a"),
            role: pb::Role::Bank as i32,
            public_key: new_key().verifying_key().to_bytes().to_vec(),
            display_name: id("again"),
        }),
        "SubmitBatch" => K::SubmitBatch(pb::SubmitBatch { request_count: 0 }),
        // The fixture runs on the system clock: refused, nothing moves.
        "AdvanceClock" => K::AdvanceClock(pb::AdvanceClock {
            to: ts(Utc::now() + Duration::days(30)),
        }),
        "RotateKey" => K::RotateKey(pb::RotateKey {
            participant_id: id("nobody"),
            new_public_key: new_key().verifying_key().to_bytes().to_vec(),
        }),
        "RevokeParticipant" => K::RevokeParticipant(pb::RevokeParticipant {
            participant_id: id("nobody"),
            reason: id("test"),
        }),
        // The fixture's server holds no next ledger key: refused, nothing moves.
        "RotateLedgerKey" => K::RotateLedgerKey(pb::RotateLedgerKey {
            new_public_key: new_key().verifying_key().to_bytes().to_vec(),
        }),
        // A threshold of none: refused, nothing moves.
        "SetRecoveryQuorum" => K::SetRecoveryQuorum(pb::SetRecoveryQuorum {
            threshold: 0,
            recovery_public_keys: vec![new_key().verifying_key().to_bytes().to_vec()],
        }),
        // The fixture's server holds the key in force: refused, nothing moves.
        "EmergencyRotateLedgerKey" => K::EmergencyRotateLedgerKey(pb::EmergencyRotateLedgerKey {
            new_public_key: new_key().verifying_key().to_bytes().to_vec(),
            after_size: 1,
            approvals: vec![],
        }),
        "ListParticipants" => K::ListParticipants(pb::ListParticipants {}),
        "GetLedgerInfo" => K::GetCheckpoint(pb::GetCheckpoint {}),
        "GetEntry" => K::GetEntry(pb::GetEntry { index: 0 }),
        "StreamEntries" => K::StreamEntries(pb::StreamEntries { start: 0, end: 1 }),
        "GetCheckpoint" => K::GetCheckpoint(pb::GetCheckpoint {}),
        "GetInclusionProof" => K::GetInclusionProof(pb::GetInclusionProof {
            index: 0,
            tree_size: 0,
        }),
        "GetConsistencyProof" => K::GetConsistencyProof(pb::GetConsistencyProof {
            old_size: 1,
            new_size: 0,
        }),
        "GetReceipt" => K::GetReceipt(pb::GetReceipt {
            target: Some(pb::get_receipt::Target::Index(0)),
        }),
        "CreateSeries" => K::CreateSeries(pb::CreateSeries {
            terms: Some(terms("HX-DRAFT")),
        }),
        "AmendSeries" => K::AmendSeries(pb::AmendSeries {
            terms: Some(terms("NOPE")),
        }),
        "OpenSeries" => K::OpenSeries(pb::OpenSeries {
            series_id: id("NOPE"),
        }),
        "CloseSeries" => K::CloseSeries(pb::CloseSeries {
            series_id: id("NOPE"),
        }),
        "CancelSeries" => K::CancelSeries(pb::CancelSeries {
            series_id: id("NOPE"),
            reason: id("test"),
        }),
        "AllotSeries" => K::AllotSeries(pb::AllotSeries {
            series_id: id("NOPE"),
        }),
        "ReleaseUnsettled" => K::ReleaseUnsettled(pb::ReleaseUnsettled {
            series_id: id("NOPE"),
        }),
        "IssueSeries" => K::IssueSeries(pb::IssueSeries {
            series_id: id("NOPE"),
        }),
        "PublishFixing" => K::PublishFixing(pb::PublishFixing {
            reference_rate: id("HX-RATE"),
            fixing_date: id("2026-01-02"),
            rate: id("0.03"),
        }),
        "ListDueEvents" => K::ListDueEvents(pb::ListDueEvents {
            through: String::new(),
        }),
        "PostAccrualEvent" => K::PostAccrualEvent(pb::PostAccrualEvent {
            series_id: id("NOPE"),
            event_id: id("NOPE/redemption"),
        }),
        "SubmitSubscription" => K::SubmitSubscription(pb::SubmitSubscription {
            series_id: id("NOPE"),
            ..submit("inv-x", "hx-harmless", "10")
        }),
        "WithdrawSubscription" => K::WithdrawSubscription(pb::WithdrawSubscription {
            subscription_id: u64::MAX,
        }),
        "ConfirmSettlement" => K::ConfirmSettlement(pb::ConfirmSettlement {
            subscription_id: u64::MAX,
        }),
        "GetSeries" => K::GetSeries(pb::GetSeries {
            series_id: id("HX-DRAFT"),
        }),
        "ListSeries" => K::ListSeries(pb::ListSeries {}),
        "GetSubscription" => K::GetSubscription(pb::GetSubscription {
            subscription_id: fx.sub_a,
        }),
        "ListSubscriptions" => K::ListSubscriptions(pb::ListSubscriptions::default()),
        "GetInvestorHoldings" => K::GetInvestorHoldings(pb::GetInvestorHoldings {
            investor_ref: id("inv-a-1"),
            bank_id: id("bank-a"),
        }),
        "ListHolders" => K::ListHolders(pb::ListHolders {
            series_id: id("HX-OPEN"),
            ..Default::default()
        }),
        "GetAccrued" => K::GetAccrued(pb::GetAccrued {
            series_id: id("NOPE"),
            as_of: String::new(),
        }),
        "GetInvestorStatement" => K::GetInvestorStatement(pb::GetInvestorStatement {
            investor_ref: id("inv-a-1"),
            bank_id: id("bank-a"),
            as_of: String::new(),
        }),
        "GetDebtService" => K::GetDebtService(pb::GetDebtService {
            series_id: id("HX-DRAFT"),
        }),
        "ListFixings" => K::ListFixings(pb::ListFixings::default()),
        "Schedule" => K::PriceSchedule(pb::PriceSchedule {
            terms_json: BOND_JSON.into(),
        }),
        "PriceFromYield" => K::PriceFromYield(pb::PriceFromYield {
            terms_json: BOND_JSON.into(),
            settle: id("2027-01-10"),
            r#yield: id("0.05"),
        }),
        "YieldFromPrice" => K::YieldFromPrice(pb::YieldFromPrice {
            terms_json: BOND_JSON.into(),
            settle: id("2027-01-10"),
            clean_price: id("99.5"),
        }),
        "PatrioticPricing" => K::PatrioticPricing(pb::PatrioticPricing {
            terms_json: BOND_JSON.into(),
            settle: id("2027-01-10"),
            reference_yield: id("0.065"),
            discount_bps: id("150"),
        }),
        "SetWithholdingTable" => K::SetWithholdingTable(pb::SetWithholdingTable {
            series_id: id("NOPE"),
            effective_from: id("2027-01-01"),
            default_rate: id("0.1"),
            treaty_rates: vec![],
        }),
        "RecordResidence" => K::RecordResidence(pb::RecordResidence {
            investor_ref: id("inv-nobody"),
            country: id("GB"),
            effective_from: id("2027-01-01"),
        }),
        "ReportUndeliverable" => K::ReportUndeliverable(pb::ReportUndeliverable {
            event_id: id("HX-OPEN/coupon/1"),
            investor_ref: id("inv-a-1"),
        }),
        "RecordClaim" => K::RecordClaim(pb::RecordClaim {
            event_id: id("HX-OPEN/coupon/1"),
            investor_ref: id("inv-a-1"),
            reference: id("PAY-1"),
        }),
        "ReopenSeries" => K::ReopenSeries(reopen("NOPE", "2027-02-01", "10")),
        "GetTaxReport" => K::GetTaxReport(pb::GetTaxReport {
            series_id: id("HX-OPEN"),
            year: 2027,
        }),
        "ListUnclaimed" => K::ListUnclaimed(pb::ListUnclaimed::default()),
        "GetWithholdingTables" => K::GetWithholdingTables(pb::GetWithholdingTables::default()),
        "ChangeRegistration" => K::ChangeRegistration(pb::ChangeRegistration {
            series_id: id("NOPE"),
            investor_ref: id("inv-a-1"),
            ..Default::default()
        }),
        "RequestTransfer" => K::RequestTransfer(pb::RequestTransfer {
            kind: pb::TransferKind::Move as i32,
            series_id: id("NOPE"),
            from_bank_id: id("bank-b"),
            from_investor_ref: id("inv-b-1"),
            to_investor_ref: id("inv-b-1"),
            units: id("1"),
            ..Default::default()
        }),
        "ConfirmTransfer" => K::ConfirmTransfer(pb::ConfirmTransfer {
            transfer_id: u64::MAX,
        }),
        "RefuseTransfer" => K::RefuseTransfer(pb::RefuseTransfer {
            transfer_id: u64::MAX,
            reason: id("test"),
        }),
        "FileDeathNotice" => K::FileDeathNotice(pb::FileDeathNotice {
            owner_ref: id("nobody"),
            date_of_death: id("2026-01-02"),
            document_hash: vec![7; 32],
            estate_ref: id("nobody-estate"),
        }),
        "RedeemEarly" => K::RedeemEarly(pb::RedeemEarly {
            series_id: id("NOPE"),
            investor_ref: id("inv-a-1"),
            units: id("1"),
            reason: pb::RedemptionReason::OnRequest as i32,
            ..Default::default()
        }),
        "ListTransfers" => K::ListTransfers(pb::ListTransfers::default()),
        other => panic!("no harmless command for {other}"),
    }
}

/// A reopening of `series` settling on `settlement`, its window in January 2027.
fn reopen(series: &str, settlement: &str, cap: &str) -> pb::ReopenSeries {
    let ts = |s: &str| {
        Some(dbond::codec::timestamp_to_pb(
            chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc(),
        ))
    };
    pb::ReopenSeries {
        series_id: series.into(),
        window_opens_at: ts("2027-01-02T00:00:00Z"),
        window_closes_at: ts("2027-01-20T00:00:00Z"),
        settlement_date: settlement.into(),
        settlement_deadline: ts("2027-01-25T00:00:00Z"),
        reference_yield: "0.06".into(),
        discount_bps: "100".into(),
        cap_units: cap.into(),
    }
}

/// The forged, stale, replayed and malformed-envelope cases, for every signed RPC.
#[rustfmt::skip] // One case a line: a table reads better than rustfmt's layout.
fn envelope_cases(fx: &Fx) -> Vec<Case> {
    use Tamper as T;
    let mut out = Vec::new();
    for (_, rpc) in wire::RPCS {
        if rpc == wire::UNSIGNED_RPC {
            continue;
        }
        let who = signer(rpc);
        let h = || harmless(fx, rpc);
        let signed = |w: Who, t: Tamper| Sending::Signed(w, h(), t);
        let mismatch = format!("carries a Genesis command but was sent to {rpc}");
        let other = if rpc == "ListSeries" {
            ("GetCheckpoint", K::GetCheckpoint(pb::GetCheckpoint {}))
        } else {
            ("ListSeries", K::ListSeries(pb::ListSeries {}))
        };
        let mismatch_other = format!("carries a {} command but was sent to {rpc}", other.0);
        let too_big = format!("the limit is {}", limits::REQUEST_PAYLOAD_BYTES_MAX);
        let nonce_bounds = format!(
            "nonce must be {} to {} bytes",
            limits::NONCE_BYTES_MIN,
            limits::NONCE_BYTES_MAX
        );
        let u = Code::Unauthenticated;
        let ia = Code::InvalidArgument;
        out.extend([
            case(rpc, "unsigned", signed(who, T::Unsigned), u, &["not signed"]),
            case(rpc, "key id garbage", signed(who, T::KeyIdGarbage), u, &["is not a key id"]),
            case(rpc, "key id of 100 000", signed(who, T::KeyIdHuge), u, &["is not a key id", "(100000 bytes)"]),
            case(rpc, "unknown key", signed(Who::Unknown, T::None), u, &["not registered"]),
            case(rpc, "revoked participant", signed(Who::Revoked, T::None), u, &["revoked"]),
            case(rpc, "rotated-out key", signed(Who::Retired, T::None), u, &["rotated out"]),
            case(rpc, "flipped signature bit", signed(who, T::FlippedSignature), u, &["signature does not verify"]),
            case(rpc, "empty signature", signed(who, T::EmptySignature), u, &["signature does not verify"]),
            case(rpc, "signed by another key", signed(who, T::ForeignSignature), u, &["signature does not verify"]),
            case(rpc, "garbage payload", signed(who, T::GarbagePayload), ia, &["payload is not a RequestPayload"]),
            case(rpc, "other ledger origin", signed(who, T::OtherOrigin), u, &["signed for ledger \"evil.example/dbond\""]),
            case(rpc, "stale issued_at", signed(who, T::Stale), u, &["stale"]),
            case(rpc, "future issued_at", signed(who, T::Future), u, &["in the future"]),
            case(rpc, "no issued_at", signed(who, T::NoIssuedAt), ia, &["issued_at", "required"]).field("issued_at"),
            case(rpc, "negative nanos", signed(who, T::BadNanos), ia, &["issued_at", "nanos"]).field("issued_at"),
            case(rpc, "short nonce", signed(who, T::ShortNonce), ia, &[&nonce_bounds]),
            case(rpc, "long nonce", signed(who, T::LongNonce), ia, &[&nonce_bounds]),
            case(rpc, "no command", signed(who, T::NoCommand), ia, &["carries no command"]),
            case(rpc, "unknown command", signed(who, T::UnknownCommand), ia, &["carries no command (or one this server does not know)"]),
            case(rpc, "unknown fields", signed(who, T::UnknownFields), ia, &["sign exactly the RequestPayload"]),
            case(rpc, "issued_at beyond the time range", signed(who, T::IssuedAtBeyondRange), ia, &["issued_at", "out of range"]).field("issued_at"),
            case(rpc, "issued 250 000 years ago", signed(who, T::IssuedAtAncient), u, &["stale"]),
            case(rpc, "genesis command", Sending::Signed(who, K::Genesis(pb::Genesis::default()), T::None), ia, &[&mismatch]),
            case(rpc, "another RPC's command", Sending::Signed(who, other.1, T::None), ia, &[&mismatch_other]),
            case(rpc, "payload over the limit", signed(who, T::OversizePayload), ia, &["signed payload is", &too_big]),
            // tonic says OUT_OF_RANGE; the server rewrites it to gRPC's usual code.
            case(rpc, "message over the gRPC limit", signed(who, T::GiantMessage), Code::ResourceExhausted, &["larger than this server accepts", "message_bytes_max", "message length too large"]),
            case(rpc, "replayed nonce", Sending::Replay(who, h(), false), u, &["replayed request"]),
            case(rpc, "request message not a protobuf", Sending::Raw(vec![0xff; 16]), Code::Internal, &[]),
        ]);
    }
    out
}

/// Terms HX-NEW with one change (the unchanged terms are valid: see `fixture`).
fn create(change: impl FnOnce(&mut pb::SeriesTerms)) -> K {
    let mut t = terms("HX-NEW");
    change(&mut t);
    K::CreateSeries(pb::CreateSeries { terms: Some(t) })
}

fn coupon(kind: pb::coupon::Kind) -> Option<pb::Coupon> {
    Some(pb::Coupon { kind: Some(kind) })
}

fn diaspora(reference_yield: &str, discount_bps: &str) -> Option<pb::Pricing> {
    Some(pb::Pricing {
        kind: Some(pb::pricing::Kind::Diaspora(pb::DiasporaPricing {
            reference_yield: reference_yield.into(),
            discount_bps: discount_bps.into(),
            derive_par_coupon: false,
            coupon_step: String::new(),
        })),
    })
}

fn long(n: usize) -> String {
    "x".repeat(n)
}

/// Decimal strings no money, rate or unit field may take.
const NOT_DECIMALS: [&str; 14] = [
    "", "1e3", "1,000", " 1000", "1000 ", "1000.", ".5", "+5", "--1", "NaN", "Infinity", "0x10",
    "١٠٠٠", "１０",
];
/// 2^96: one more than the largest decimal.
const DECIMAL_OVERFLOW: &str = "79228162514264337593543950336";
/// The largest decimal: parses, and must then be refused by range checks.
const DECIMAL_MAX: &str = "79228162514264337593543950335";
/// 29 decimal places: more than a decimal holds.
const ABSURD_PRECISION: &str = "0.00000000000000000000000000001";
/// Dates that are not YYYY-MM-DD days.
const NOT_DATES: [(&str, &str); 7] = [
    ("2026-02-30", "is not a valid date"),
    ("2026-13-01", "is not a valid date"),
    ("", "expected a date as YYYY-MM-DD"),
    ("26-1-1", "expected a date as YYYY-MM-DD"),
    ("2026-1-01", "expected a date as YYYY-MM-DD"),
    ("2026/01/01", "expected a date as YYYY-MM-DD"),
    ("２０２６-01-01", "expected a date as YYYY-MM-DD"),
];

/// Malformed, out-of-range and absurd arguments, RPC by RPC, properly signed.
#[rustfmt::skip] // One case a line: a table reads better than rustfmt's layout.
fn argument_cases(fx: &Fx) -> Vec<Case> {
    use Code::{
        AlreadyExists as AE, FailedPrecondition as FP, InvalidArgument as IA, NotFound as NF,
        Ok as OK, OutOfRange as OOR, PermissionDenied as PD,
    };
    use Who::{Admin, Auditor, BankA, BankB, Engine, Treasury};
    let s = |x: &str| x.to_string();
    let mut out = Vec::new();

    // Participants.
    let register = |id: &str, role: i32, key: Vec<u8>, name: &str| {
        K::RegisterParticipant(pb::RegisterParticipant {
            participant_id: s(id),
            role,
            public_key: key,
            display_name: s(name),
        })
    };
    let fresh = || new_key().verifying_key().to_bytes().to_vec();
    let bank = pb::Role::Bank as i32;
    let r = "RegisterParticipant";
    out.extend([
        as_(Admin, r, "empty id", register("", bank, fresh(), "x"), IA, &["participant_id", "1 to 64"]).field("participant_id"),
        as_(Admin, r, "id with capitals and space", register("Bank A", bank, fresh(), "x"), IA, &["lowercase letters"]).field("participant_id"),
        as_(Admin, r, "id of 65", register(&"a".repeat(65), bank, fresh(), "x"), IA, &["1 to 64 characters, found 65"]).field("participant_id"),
        as_(Admin, r, "id of 100 000", register(&"a".repeat(100_000), bank, fresh(), "x"), IA, &["found 100000"]).field("participant_id"),
        as_(Admin, r, "role 99", register("new-one", 99, fresh(), "x"), IA, &["unknown role value 99"]).field("role"),
        as_(Admin, r, "role -1", register("new-one", -1, fresh(), "x"), IA, &["unknown role value -1"]).field("role"),
        as_(Admin, r, "role unspecified", register("new-one", 0, fresh(), "x"), IA, &["role is required"]).field("role"),
        as_(Admin, r, "key of 31 bytes", register("new-one", bank, vec![1; 31], "x"), IA, &["public_key"]).field("public_key"),
        as_(Admin, r, "empty key", register("new-one", bank, vec![], "x"), IA, &["public_key"]).field("public_key"),
        as_(Admin, r, "empty display name", register("new-one", bank, fresh(), ""), IA, &["display_name", "1 to 128"]).field("display_name"),
        as_(Admin, r, "display name of 129", register("new-one", bank, fresh(), &long(129)), IA, &["found 129"]).field("display_name"),
        as_(Admin, r, "control character", register("new-one", bank, fresh(), "a\nb"), IA, &["control characters"]).field("display_name"),
        as_(Admin, r, "display name of 900 000", register("new-one", bank, fresh(), &long(900_000)), IA, &["found 900000"]).field("display_name"),
        as_(Admin, r, "display name of 2 MiB", register("new-one", bank, fresh(), &long(2 << 20)), IA, &["signed payload is"]),
        as_(Admin, r, "display name of 5 MiB", register("new-one", bank, fresh(), &long(5 << 20)), Code::ResourceExhausted, &["larger than this server accepts", "message length too large"]),
        as_(Admin, r, "existing participant", register("bank-a", bank, fresh(), "x"), AE, &["bank-a is already registered"]),
        as_(Admin, r, "existing key", register("new-one", bank, fx.bank_a.verifying_key().to_bytes().to_vec(), "x"), AE, &["every participant needs its own key"]),
    ]);
    let rotate = |id: &str, key: Vec<u8>| {
        K::RotateKey(pb::RotateKey {
            participant_id: s(id),
            new_public_key: key,
        })
    };
    let r = "RotateKey";
    out.extend([
        as_(Admin, r, "unknown participant", rotate("nobody", fresh()), NF, &["nobody is not registered"]),
        as_(Admin, r, "revoked participant", rotate("bank-gone", fresh()), FP, &["bank-gone is revoked"]),
        as_(Admin, r, "empty id", rotate("", fresh()), IA, &["participant_id"]).field("participant_id"),
        as_(Admin, r, "empty key", rotate("bank-a", vec![]), IA, &["new_public_key"]).field("new_public_key"),
        as_(Admin, r, "key already registered", rotate("bank-a", fx.bank_b.verifying_key().to_bytes().to_vec()), AE, &["already registered"]),
        as_(BankA, r, "another participant's key", rotate("bank-b", fresh()), PD, &["only the admin or bank-b itself"]),
    ]);
    let rotate_ledger = |key: Vec<u8>| K::RotateLedgerKey(pb::RotateLedgerKey { new_public_key: key });
    let r = "RotateLedgerKey";
    out.extend([
        as_(Admin, r, "empty key", rotate_ledger(vec![]), IA, &["new_public_key"]).field("new_public_key"),
        as_(Admin, r, "key of 33 bytes", rotate_ledger(vec![7; 33]), IA, &["new_public_key"]).field("new_public_key"),
        as_(Admin, r, "no next key on the server", rotate_ledger(fresh()), FP, &["no next ledger key", "--next-ledger-key"]),
        as_(BankA, r, "by a bank", rotate_ledger(fresh()), PD, &["admin"]),
    ]);
    let quorum = |threshold: u32, keys: Vec<Vec<u8>>| {
        K::SetRecoveryQuorum(pb::SetRecoveryQuorum {
            threshold,
            recovery_public_keys: keys,
        })
    };
    let same = fresh();
    let r = "SetRecoveryQuorum";
    out.extend([
        as_(Admin, r, "no keys", quorum(1, vec![]), IA, &["recovery_public_keys", "1 to 16"]).field("recovery_public_keys"),
        as_(Admin, r, "threshold 0", quorum(0, vec![fresh()]), IA, &["threshold", "found 0"]).field("threshold"),
        as_(Admin, r, "threshold above the keys", quorum(3, vec![fresh(), fresh()]), IA, &["threshold", "found 3"]).field("threshold"),
        as_(Admin, r, "a key twice", quorum(1, vec![same.clone(), same]), IA, &["named twice"]).field("recovery_public_keys"),
        as_(Admin, r, "17 keys", quorum(1, (0..17).map(|_| fresh()).collect()), IA, &["at most 16"]).field("recovery_public_keys"),
        as_(Admin, r, "a key of 31 bytes", quorum(1, vec![vec![1; 31]]), IA, &["recovery_public_keys"]).field("recovery_public_keys"),
        as_(Admin, r, "a weak key", quorum(1, vec![vec![0; 32]]), IA, &["recovery_public_keys"]).field("recovery_public_keys"),
        as_(BankA, r, "by a bank", quorum(1, vec![fresh()]), PD, &["admin"]),
    ]);
    let replace = |key: Vec<u8>, signature: Vec<u8>| {
        K::EmergencyRotateLedgerKey(pb::EmergencyRotateLedgerKey {
            new_public_key: key,
            after_size: 1,
            approvals: vec![pb::RecoveryApproval {
                recovery_public_key: fresh(),
                signature,
            }],
        })
    };
    let r = "EmergencyRotateLedgerKey";
    out.extend([
        as_(Admin, r, "empty key", replace(vec![], vec![1; 64]), IA, &["new_public_key"]).field("new_public_key"),
        as_(Admin, r, "approval of 63 bytes", replace(fresh(), vec![1; 63]), IA, &["must be 64 bytes, found 63"]).field("approvals.signature"),
        as_(Admin, r, "on a server holding the key in force", replace(fresh(), vec![1; 64]), FP, &["key in force", "--emergency-rotation"]),
        as_(BankA, r, "by a bank", replace(fresh(), vec![1; 64]), PD, &["admin"]),
    ]);
    // The rehearsal clock: a production server refuses it whatever it says.
    let advance = |to| K::AdvanceClock(pb::AdvanceClock { to });
    let r = "AdvanceClock";
    out.extend([
        as_(Admin, r, "on a production server", advance(ts(Utc::now() + Duration::days(1))), FP, &["system clock", "--clock simulated"]),
        as_(Admin, r, "back in time, on a production server", advance(ts(Utc::now() - Duration::days(1))), FP, &["system clock"]),
        as_(Admin, r, "no time, on a production server", advance(None), FP, &["system clock"]),
    ]);
    let revoke = |id: &str, reason: &str| {
        K::RevokeParticipant(pb::RevokeParticipant {
            participant_id: s(id),
            reason: s(reason),
        })
    };
    let r = "RevokeParticipant";
    out.extend([
        as_(Admin, r, "empty reason", revoke("bank-a", ""), IA, &["reason", "1 to 256"]).field("reason"),
        as_(Admin, r, "reason of 257", revoke("bank-a", &long(257)), IA, &["found 257"]).field("reason"),
        as_(Admin, r, "unknown participant", revoke("nobody", "x"), NF, &["nobody is not registered"]),
        as_(Admin, r, "already revoked", revoke("bank-gone", "x"), FP, &["bank-gone is revoked"]),
        as_(Admin, r, "the last admin", revoke("admin", "x"), FP, &["last active admin"]),
        as_(Admin, r, "malformed id", revoke("BAD ID", "x"), IA, &["participant_id"]).field("participant_id"),
    ]);

    // Ledger reads.
    let r = "GetEntry";
    out.extend([
        as_(Auditor, r, "index u64::MAX", K::GetEntry(pb::GetEntry { index: u64::MAX }), NF, &["does not exist"]),
        as_(BankA, r, "another bank's entry", K::GetEntry(pb::GetEntry { index: fx.sub_b }), PD, &["banks read only their own entries"]),
    ]);
    let stream = |start, end| K::StreamEntries(pb::StreamEntries { start, end });
    let r = "StreamEntries";
    out.extend([
        as_(Auditor, r, "start u64::MAX", stream(u64::MAX, 0), OOR, &["outside the ledger"]),
        as_(Auditor, r, "end u64::MAX", stream(0, u64::MAX), OOR, &["outside the ledger"]),
        as_(Auditor, r, "start after end", stream(5, 3), OOR, &["range 5..3"]),
    ]);
    let inclusion = |index, tree_size| K::GetInclusionProof(pb::GetInclusionProof { index, tree_size });
    let r = "GetInclusionProof";
    out.extend([
        as_(Auditor, r, "index u64::MAX", inclusion(u64::MAX, 0), OOR, &["is not in a tree of size"]),
        as_(Auditor, r, "tree size u64::MAX", inclusion(0, u64::MAX), OOR, &["beyond the ledger size"]),
        as_(Auditor, r, "index beyond tree size", inclusion(5, 3), OOR, &["entry 5 is not in a tree of size 3"]),
    ]);
    let consistency = |old_size, new_size| K::GetConsistencyProof(pb::GetConsistencyProof { old_size, new_size });
    let r = "GetConsistencyProof";
    out.extend([
        as_(Auditor, r, "old size 0", consistency(0, 0), IA, &["old size must be 1 to"]),
        as_(Auditor, r, "old size u64::MAX", consistency(u64::MAX, 0), IA, &["old size must be 1 to"]),
        as_(Auditor, r, "new size u64::MAX", consistency(1, u64::MAX), OOR, &["beyond the ledger size"]),
    ]);

    use pb::get_receipt::Target;
    let receipt = |target: Option<Target>| K::GetReceipt(pb::GetReceipt { target });
    let holding = |series: &str, investor: &str, bank: &str| receipt(Some(Target::Holding(pb::HoldingRef { series_id: s(series), investor_ref: s(investor), bank_id: s(bank) })));
    let payment = |event: &str, investor: &str, bank: &str| receipt(Some(Target::Payment(pb::PaymentRef { event_id: s(event), investor_ref: s(investor), bank_id: s(bank) })));
    let r = "GetReceipt";
    out.extend([
        as_(Auditor, r, "no target", receipt(None), IA, &["name the entry to prove"]),
        as_(Auditor, r, "index u64::MAX", receipt(Some(Target::Index(u64::MAX))), NF, &["does not exist"]),
        as_(Auditor, r, "subscription u64::MAX", receipt(Some(Target::SubscriptionId(u64::MAX))), NF, &["does not exist"]),
        as_(BankA, r, "another bank's subscription", receipt(Some(Target::SubscriptionId(fx.sub_b))), PD, &["another bank"]),
        as_(BankA, r, "another bank's entry", receipt(Some(Target::Index(fx.sub_b))), PD, &["banks get receipts only for their own"]),
        as_(Auditor, r, "holding of an empty series", holding("", "inv-a-1", "bank-a"), IA, &["1 to 40 upper-case letters"]).field("series_id"),
        as_(Auditor, r, "holding of an investor by name", holding("HX-OPEN", "John Smith", "bank-a"), IA, &["no personal data"]).field("holding.investor_ref"),
        as_(Auditor, r, "holding without a bank", holding("HX-OPEN", "inv-a-1", ""), IA, &["1 to 64 characters, found 0"]).field("bank_id"),
        as_(Auditor, r, "holding of an unknown series", holding("NOPE", "inv-a-1", "bank-a"), NF, &["series NOPE does not exist"]),
        as_(Auditor, r, "holding of a series not issued", holding("HX-OPEN", "inv-a-1", "bank-a"), FP, &["is not issued"]),
        as_(BankA, r, "holding at another bank", holding("HX-OPEN", "inv-b-1", "bank-b"), PD, &["bank-a gets receipts only for its own clients"]),
        as_(BankA, r, "holding at a bank of 100 000", holding("HX-OPEN", "inv-b-1", &long(100_000)), PD, &["bank-a gets receipts only for its own clients", "(100000 bytes)"]),
        as_(Auditor, r, "payment not posted", payment("HX-OPEN/coupon/1", "inv-a-1", "bank-a"), NF, &["has not been posted"]),
        as_(Auditor, r, "payment of an event of 100 000", payment(&long(100_000), "inv-a-1", "bank-a"), NF, &["has not been posted", "(100000 bytes)"]),
        as_(Auditor, r, "payment to an investor by name", payment("HX-OPEN/coupon/1", "John Smith", "bank-a"), IA, &["no personal data"]).field("payment.investor_ref"),
    ]);

    // Series terms, one broken field at a time.
    let r = "CreateSeries";
    let mut cs = vec![
        as_(Treasury, r, "no terms", K::CreateSeries(pb::CreateSeries { terms: None }), IA, &["series terms are required"]).field("terms"),
        as_(Treasury, r, "existing series", create(|t| t.series_id = s("HX-DRAFT")), AE, &["HX-DRAFT already exists"]),
        as_(Treasury, r, "existing series, negative face", create(|t| { t.series_id = s("HX-DRAFT"); t.face_value = s("-1"); }), IA, &["must be positive"]).field("face_value"),
        as_(Treasury, r, "empty name", create(|t| t.name = s("")), IA, &["name", "1 to 128"]).field("name"),
        as_(Treasury, r, "name of 129", create(|t| t.name = long(129)), IA, &["found 129"]).field("name"),
        as_(Treasury, r, "name with NUL", create(|t| t.name = s("a\0b")), IA, &["control characters"]).field("name"),
        as_(Treasury, r, "name of 5 MiB", create(|t| t.name = long(5 << 20)), Code::ResourceExhausted, &["larger than this server accepts", "message length too large"]),
        as_(Treasury, r, "negative face", create(|t| t.face_value = s("-1000")), IA, &["must be positive, found -1000"]).field("face_value"),
        as_(Treasury, r, "zero face", create(|t| t.face_value = s("0")), IA, &["must be positive"]).field("face_value"),
        as_(Treasury, r, "face in tenths of a cent", create(|t| t.face_value = s("1000.001")), IA, &["more decimals than USD allows"]).field("face_value"),
        as_(Treasury, r, "face of 41 digits", create(|t| t.face_value = "1".repeat(41)), IA, &["at most 40"]).field("terms.face_value"),
        as_(Treasury, r, "face beyond a decimal", create(|t| t.face_value = s(DECIMAL_OVERFLOW)), IA, &[DECIMAL_OVERFLOW]).field("terms.face_value"),
        as_(Treasury, r, "face of absurd precision", create(|t| t.face_value = s(ABSURD_PRECISION)), IA, &[ABSURD_PRECISION]).field("terms.face_value"),
        as_(Treasury, r, "face the largest decimal", create(|t| t.face_value = s(DECIMAL_MAX)), IA, &["face", "larger than"]),
        as_(Treasury, r, "minimum -1", create(|t| t.min_units_per_investor = s("-1")), IA, &["cannot be negative"]).field("terms.min_units_per_investor"),
        as_(Treasury, r, "minimum 1.5", create(|t| t.min_units_per_investor = s("1.5")), IA, &["must be whole"]).field("terms.min_units_per_investor"),
        as_(Treasury, r, "minimum 0", create(|t| t.min_units_per_investor = s("0")), IA, &["must be 1 to"]).field("min_units_per_investor"),
        as_(Treasury, r, "cap above the unit bound", create(|t| t.cap_units = s("1000000000001")), IA, &["at most 1000000000000 units"]).field("terms.cap_units"),
        as_(Treasury, r, "cap of 26 digits", create(|t| t.cap_units = "9".repeat(26)), IA, &["at most 1000000000000 units"]).field("terms.cap_units"),
        as_(Treasury, r, "cap the largest decimal", create(|t| t.cap_units = s(DECIMAL_MAX)), IA, &["at most 1000000000000 units"]).field("terms.cap_units"),
        as_(Treasury, r, "minimum above maximum", create(|t| t.min_units_per_investor = s("101")), IA, &["above the maximum"]).field("min_units_per_investor"),
        as_(Treasury, r, "maximum above cap", create(|t| t.max_units_per_investor = s("10001")), IA, &["above the series cap"]).field("max_units_per_investor"),
        as_(Treasury, r, "no coupon", create(|t| t.coupon = None), IA, &["a coupon", "is required"]).field("terms.coupon"),
        as_(Treasury, r, "coupon rate 5%", create(|t| t.coupon = coupon(pb::coupon::Kind::Fixed(pb::FixedCoupon { rate: s("5%") }))), IA, &["5%"]).field("terms.coupon.fixed.rate"),
        as_(Treasury, r, "accumulating without rate", create(|t| t.coupon = coupon(pb::coupon::Kind::Accumulating(pb::AccumulatingCoupon { rate: s("") }))), IA, &["is required"]).field("terms.coupon.accumulating.rate"),
        as_(Treasury, r, "step-up without steps", create(|t| t.coupon = coupon(pb::coupon::Kind::StepUp(pb::StepUpCoupon { steps: vec![] }))), IA, &["1 to 400 steps"]).field("terms.coupon.step_up.steps"),
        as_(Treasury, r, "step-up of 401 steps", create(|t| t.coupon = coupon(pb::coupon::Kind::StepUp(pb::StepUpCoupon { steps: vec![pb::RateStep { from_date: s("2027-01-01"), rate: s("0.05") }; 401] }))), IA, &["1 to 400 steps"]).field("terms.coupon.step_up.steps"),
        as_(Treasury, r, "step on 30 February", create(|t| t.coupon = coupon(pb::coupon::Kind::StepUp(pb::StepUpCoupon { steps: vec![pb::RateStep { from_date: s("2027-02-30"), rate: s("0.05") }] }))), IA, &["2027-02-30"]).field("terms.coupon.step_up.steps.from_date"),
        as_(Treasury, r, "floating reference of 65", create(|t| t.coupon = coupon(pb::coupon::Kind::Floating(pb::FloatingCoupon { reference_rate: long(65), spread: s("0.01"), floor: s("") }))), IA, &["found 65"]).field("coupon.floating.reference_rate"),
        as_(Treasury, r, "floating with diaspora pricing", create(|t| { t.coupon = coupon(pb::coupon::Kind::Floating(pb::FloatingCoupon { reference_rate: s("SOFR"), spread: s("0.01"), floor: s("") })); t.pricing = diaspora("0.065", "150"); }), IA, &["diaspora pricing needs"]).field("pricing.diaspora"),
        as_(Treasury, r, "frequency weekly", create(|t| t.frequency = s("weekly")), IA, &["weekly"]).field("terms.frequency"),
        as_(Treasury, r, "day count ACT/366", create(|t| t.day_count = s("ACT/366")), IA, &["ACT/366"]).field("terms.day_count"),
        as_(Treasury, r, "convention sideways", create(|t| t.business_day_convention = s("sideways")), IA, &["sideways"]).field("terms.business_day_convention"),
        as_(Treasury, r, "calendar mars", create(|t| t.calendar = s("mars")), IA, &["mars"]).field("terms.calendar"),
        as_(Treasury, r, "currency XXX", create(|t| t.currency = s("XXX")), IA, &["XXX"]).field("terms.currency"),
        as_(Treasury, r, "currency empty", create(|t| t.currency = s("")), IA, &["currency"]).field("terms.currency"),
        as_(Treasury, r, "maturity before issue", create(|t| t.maturity_date = s("2026-01-01")), IA, &["maturity"]).field("terms"),
        as_(Treasury, r, "maturity 9999-12-31", create(|t| t.maturity_date = s("9999-12-31")), IA, &["years"]).field("terms"),
        as_(Treasury, r, "coupon rate 1050%", create(|t| t.coupon = coupon(pb::coupon::Kind::Fixed(pb::FixedCoupon { rate: s("10.5") }))), IA, &["10.5"]).field("terms"),
        as_(Treasury, r, "coupon rate -1050%", create(|t| t.coupon = coupon(pb::coupon::Kind::Fixed(pb::FixedCoupon { rate: s("-10.5") }))), IA, &["-10.5"]).field("terms"),
        as_(Treasury, r, "first coupon 30 February", create(|t| t.first_coupon_date = s("2027-02-30")), IA, &["is not a valid date"]).field("terms.first_coupon_date"),
        as_(Treasury, r, "record date lag u32::MAX", create(|t| t.record_date_lag_days = u32::MAX), IA, &["found 4294967295"]).field("terms.record_date_lag_days"),
        as_(Treasury, r, "no window opening", create(|t| t.window_opens_at = None), IA, &["timestamp is required"]).field("terms.window_opens_at"),
        as_(Treasury, r, "negative nanos", create(|t| t.window_opens_at = Some(prost_types::Timestamp { seconds: 0, nanos: -1 })), IA, &["nanos must be 0 to 999999999"]).field("terms.window_opens_at"),
        as_(Treasury, r, "window closes at i64::MAX s", create(|t| t.window_closes_at = Some(prost_types::Timestamp { seconds: i64::MAX, nanos: 0 })), IA, &["out of range"]).field("terms.window_closes_at"),
        as_(Treasury, r, "window closes before it opens", create(|t| t.window_closes_at = t.window_opens_at), IA, &["must close after it opens"]).field("window_closes_at"),
        as_(Treasury, r, "settlement before the window closes", create(|t| t.settlement_deadline = t.window_opens_at), IA, &["settlement deadline"]).field("settlement_deadline"),
        as_(Treasury, r, "allotment rule 99", create(|t| t.allotment_rule = 99), IA, &["unknown allotment rule value 99"]).field("terms.allotment_rule"),
        as_(Treasury, r, "allotment rule unspecified", create(|t| t.allotment_rule = 0), IA, &["allotment rule is required"]).field("terms.allotment_rule"),
        as_(Treasury, r, "retail priority of abc units", create(|t| { t.allotment_rule = pb::AllotmentRule::RetailPriority as i32; t.retail_priority_units = s("abc"); }), IA, &["abc"]).field("terms.retail_priority_units"),
        as_(Treasury, r, "category 99", create(|t| t.eligibility.as_mut().unwrap().categories = vec![99]), IA, &["unknown diaspora category value 99"]).field("terms.eligibility.categories"),
        as_(Treasury, r, "no category", create(|t| t.eligibility.as_mut().unwrap().categories = vec![]), IA, &["at least one diaspora category"]).field("eligibility.categories"),
        as_(Treasury, r, "country XX", create(|t| t.eligibility.as_mut().unwrap().countries_allowed = vec![s("XX")]), IA, &["\"XX\""]).field("terms.eligibility.countries_allowed"),
        as_(Treasury, r, "country allowed and barred", create(|t| t.eligibility.as_mut().unwrap().countries_allowed = vec![s("IR")]), IA, &["IR is both allowed and barred"]).field("eligibility.countries_barred"),
        as_(Treasury, r, "no pricing", create(|t| t.pricing = None), IA, &["pricing (issue_price or diaspora) is required"]).field("terms.pricing"),
        as_(Treasury, r, "issue price 0", create(|t| t.pricing = Some(pb::Pricing { kind: Some(pb::pricing::Kind::IssuePrice(pb::FixedPrice { price: s("0") })) })), IA, &["percent of face in (0, 1000]"]).field("pricing.issue_price.price"),
        as_(Treasury, r, "issue price 1000.01", create(|t| t.pricing = Some(pb::Pricing { kind: Some(pb::pricing::Kind::IssuePrice(pb::FixedPrice { price: s("1000.01") })) })), IA, &["percent of face in (0, 1000]"]).field("pricing.issue_price.price"),
        as_(Treasury, r, "discount -5 bp", create(|t| t.pricing = diaspora("0.065", "-5")), IA, &["0 to 1000 basis points"]).field("pricing.diaspora.discount_bps"),
        as_(Treasury, r, "discount 1000.5 bp", create(|t| t.pricing = diaspora("0.065", "1000.5")), IA, &["0 to 1000 basis points"]).field("pricing.diaspora.discount_bps"),
        as_(Treasury, r, "reference yield the largest decimal", create(|t| t.pricing = diaspora(DECIMAL_MAX, "150")), IA, &[]).field("pricing.diaspora.reference_yield"),
        as_(Treasury, r, "reference yield -99%", create(|t| t.pricing = diaspora("-0.99", "150")), IA, &[]).field("pricing.diaspora.reference_yield"),
    ];
    for bad in NOT_DECIMALS {
        cs.push(as_(Treasury, r, &format!("face {bad:?}"), create(|t| t.face_value = s(bad)), IA, &[]).field("terms.face_value"));
        // An empty fixed rate is allowed on the wire (diaspora pricing derives it);
        // the registry then refuses it for a series priced at a stated price.
        cs.push(as_(Treasury, r, &format!("coupon rate {bad:?}"), create(|t| t.coupon = coupon(pb::coupon::Kind::Fixed(pb::FixedCoupon { rate: s(bad) }))), IA, &[]).field(if bad.is_empty() { "coupon.fixed.rate" } else { "terms.coupon.fixed.rate" }));
    }
    for (bad, says) in NOT_DATES {
        cs.push(as_(Treasury, r, &format!("issue date {bad:?}"), create(|t| t.issue_date = s(bad)), IA, &[says]).field("terms.issue_date"));
        cs.push(as_(Treasury, r, &format!("maturity date {bad:?}"), create(|t| t.maturity_date = s(bad)), IA, &[says]).field("terms.maturity_date"));
    }
    for bad in ["", "hx-lower", "-HX", "HX NEW", "HX_NEW", &"A".repeat(41)] {
        cs.push(as_(Treasury, r, &format!("series id {bad:?}"), create(|t| t.series_id = s(bad)), IA, &["1 to 40 upper-case letters"]).field("terms.series_id"));
    }
    out.extend(cs);

    let r = "AmendSeries";
    let amend = |id: &str, change: fn(&mut pb::SeriesTerms)| {
        let mut t = terms(id);
        change(&mut t);
        K::AmendSeries(pb::AmendSeries { terms: Some(t) })
    };
    out.extend([
        as_(Treasury, r, "unknown series", amend("NOPE", |_| {}), NF, &["series NOPE does not exist"]),
        as_(Treasury, r, "open series", amend("HX-OPEN", |_| {}), FP, &["it is open", "only a series that is draft"]),
        as_(Treasury, r, "negative face", amend("HX-DRAFT", |t| t.face_value = "-1".into()), IA, &["must be positive"]).field("face_value"),
        // Terms are judged before the series they name.
        as_(Treasury, r, "negative face, open series", amend("HX-OPEN", |t| t.face_value = "-1".into()), IA, &["must be positive"]).field("face_value"),
        as_(Treasury, r, "negative face, unknown series", amend("NOPE", |t| t.face_value = "-1".into()), IA, &["must be positive"]).field("face_value"),
        as_(Treasury, r, "no terms", K::AmendSeries(pb::AmendSeries { terms: None }), IA, &["series terms are required"]).field("terms"),
    ]);
    let open = |id: &str| K::OpenSeries(pb::OpenSeries { series_id: s(id) });
    let close = |id: &str| K::CloseSeries(pb::CloseSeries { series_id: s(id) });
    let cancel = |id: &str, reason: &str| K::CancelSeries(pb::CancelSeries { series_id: s(id), reason: s(reason) });
    let allot = |id: &str| K::AllotSeries(pb::AllotSeries { series_id: s(id) });
    let release = |id: &str| K::ReleaseUnsettled(pb::ReleaseUnsettled { series_id: s(id) });
    let issue = |id: &str| K::IssueSeries(pb::IssueSeries { series_id: s(id) });
    for (rpc, make) in [
        ("OpenSeries", &open as &dyn Fn(&str) -> K),
        ("CloseSeries", &close),
        ("AllotSeries", &allot),
        ("ReleaseUnsettled", &release),
        ("IssueSeries", &issue),
    ] {
        out.extend([
            as_(Treasury, rpc, "empty id", make(""), IA, &["series_id", "1 to 40 upper-case letters"]).field("series_id"),
            as_(Treasury, rpc, "lower-case id", make("hx-draft"), IA, &["\"hx-draft\""]).field("series_id"),
            as_(Treasury, rpc, "id of 100 000", make(&"A".repeat(100_000)), IA, &["1 to 40 upper-case letters"]).field("series_id"),
            as_(Treasury, rpc, "unknown series", make("NOPE"), NF, &["series NOPE does not exist"]),
        ]);
    }
    out.extend([
        as_(Treasury, "OpenSeries", "already open", open("HX-OPEN"), FP, &["cannot open series HX-OPEN: it is open"]),
        as_(Treasury, "CloseSeries", "a draft", close("HX-DRAFT"), FP, &["cannot close series HX-DRAFT: it is draft"]),
        as_(Treasury, "AllotSeries", "an open series", allot("HX-OPEN"), FP, &["only a series that is closed"]),
        as_(Treasury, "ReleaseUnsettled", "a draft", release("HX-DRAFT"), FP, &["only a series that is allotted"]),
        as_(Treasury, "IssueSeries", "an open series", issue("HX-OPEN"), FP, &["only a series that is allotted"]),
        as_(Treasury, "CancelSeries", "empty reason", cancel("HX-DRAFT", ""), IA, &["reason", "1 to 256"]).field("reason"),
        as_(Treasury, "CancelSeries", "reason of 257", cancel("HX-DRAFT", &long(257)), IA, &["found 257"]).field("reason"),
        as_(Treasury, "CancelSeries", "reason with a bell", cancel("HX-DRAFT", "a\u{7}"), IA, &["control characters"]).field("reason"),
        as_(Treasury, "CancelSeries", "unknown series", cancel("NOPE", "x"), NF, &["series NOPE does not exist"]),
        as_(Treasury, "CancelSeries", "unknown series, empty reason", cancel("NOPE", ""), IA, &["reason"]).field("reason"),
        as_(Treasury, "CancelSeries", "empty id", cancel("", "x"), IA, &["1 to 40 upper-case letters"]).field("series_id"),
    ]);

    // Fixings.
    let fixing = |reference: &str, date: &str, rate: &str| {
        K::PublishFixing(pb::PublishFixing {
            reference_rate: s(reference),
            fixing_date: s(date),
            rate: s(rate),
        })
    };
    let r = "PublishFixing";
    out.extend([
        as_(Treasury, r, "empty reference", fixing("", "2026-01-05", "0.03"), IA, &["reference_rate", "1 to 64"]).field("reference_rate"),
        as_(Treasury, r, "reference of 65", fixing(&long(65), "2026-01-05", "0.03"), IA, &["found 65"]).field("reference_rate"),
        as_(Treasury, r, "reference with a newline", fixing("SO\nFR", "2026-01-05", "0.03"), IA, &["control characters"]).field("reference_rate"),
        as_(Treasury, r, "rate 1.5", fixing("HX-RATE", "2026-01-05", "1.5"), IA, &["decimal fraction such as 0.0375, found 1.5"]).field("rate"),
        as_(Treasury, r, "rate -1.01", fixing("HX-RATE", "2026-01-05", "-1.01"), IA, &["found -1.01"]).field("rate"),
        as_(Treasury, r, "rate the largest decimal", fixing("HX-RATE", "2026-01-05", DECIMAL_MAX), IA, &["decimal fraction"]).field("rate"),
        as_(Treasury, r, "rate of absurd precision", fixing("HX-RATE", "2026-01-05", ABSURD_PRECISION), IA, &[ABSURD_PRECISION]).field("rate"),
        as_(Treasury, r, "rate beyond a decimal", fixing("HX-RATE", "2026-01-05", DECIMAL_OVERFLOW), IA, &[DECIMAL_OVERFLOW]).field("rate"),
        as_(Treasury, r, "fixed already", fixing("HX-RATE", "2026-01-02", "0.04"), AE, &["HX-RATE is already fixed for 2026-01-02"]),
        as_(Treasury, r, "date of 100 000", fixing("HX-RATE", &long(100_000), "0.03"), IA, &["expected a date as YYYY-MM-DD", "bytes in all)"]).field("fixing_date"),
    ]);
    for bad in NOT_DECIMALS {
        out.push(as_(Treasury, r, &format!("rate {bad:?}"), fixing("HX-RATE", "2026-01-05", bad), IA, &[]).field("rate"));
    }
    for (bad, says) in NOT_DATES {
        out.push(as_(Treasury, r, &format!("date {bad:?}"), fixing("HX-RATE", bad, "0.03"), IA, &[says]).field("fixing_date"));
    }

    // The engine.
    let due = |through: &str| K::ListDueEvents(pb::ListDueEvents { through: s(through) });
    for (bad, says) in NOT_DATES.iter().filter(|(d, _)| !d.is_empty()) {
        out.push(as_(Engine, "ListDueEvents", &format!("through {bad:?}"), due(bad), IA, &[says]).field("through"));
    }
    let post = |series: &str, event: &str| {
        K::PostAccrualEvent(pb::PostAccrualEvent {
            series_id: s(series),
            event_id: s(event),
        })
    };
    let r = "PostAccrualEvent";
    out.extend([
        as_(Engine, r, "empty series", post("", "HX-OPEN/redemption"), IA, &["1 to 40 upper-case letters"]).field("series_id"),
        as_(Engine, r, "empty event", post("HX-OPEN", ""), IA, &["event_id"]).field("event_id"),
        as_(Engine, r, "garbage event", post("HX-OPEN", "garbage"), IA, &["event_id"]).field("event_id"),
        as_(Engine, r, "flow beyond u32", post("HX-OPEN", "HX-OPEN/coupon/99999999999999999999999"), IA, &["event_id"]).field("event_id"),
        as_(Engine, r, "another series' event", post("HX-OPEN", "HX-DRAFT/coupon/1"), IA, &["is not an event of series HX-OPEN"]).field("event_id"),
        as_(Engine, r, "unknown series", post("NOPE", "NOPE/coupon/1"), NF, &["series NOPE does not exist"]),
        as_(Engine, r, "series not issued", post("HX-OPEN", "HX-OPEN/record/1"), FP, &["posted only for an issued series"]),
    ]);

    // Subscriptions.
    let sub = |change: &dyn Fn(&mut pb::SubmitSubscription)| {
        let mut c = submit("inv-hx-9", "hx-new", "10");
        change(&mut c);
        K::SubmitSubscription(c)
    };
    let r = "SubmitSubscription";
    out.extend([
        as_(BankA, r, "empty series", sub(&|c| c.series_id = s("")), IA, &["1 to 40 upper-case letters"]).field("series_id"),
        as_(BankA, r, "unknown series", sub(&|c| c.series_id = s("NOPE")), NF, &["series NOPE does not exist"]),
        as_(BankA, r, "draft series", sub(&|c| c.series_id = s("HX-DRAFT")), FP, &["is not open"]),
        as_(BankA, r, "investor by name", sub(&|c| c.investor_ref = s("John Smith")), IA, &["no personal data"]).field("investor_ref"),
        as_(BankA, r, "empty investor", sub(&|c| c.investor_ref = s("")), IA, &["1 to 64"]).field("investor_ref"),
        as_(BankA, r, "investor of 65", sub(&|c| c.investor_ref = "a".repeat(65)), IA, &["1 to 64"]).field("investor_ref"),
        as_(BankA, r, "investor of 2 MiB", sub(&|c| c.investor_ref = long(2 << 20)), IA, &["signed payload is"]),
        as_(BankA, r, "category 99", sub(&|c| c.category = 99), IA, &["unknown diaspora category value 99"]).field("category"),
        as_(BankA, r, "category -7", sub(&|c| c.category = -7), IA, &["unknown diaspora category value -7"]).field("category"),
        as_(BankA, r, "category unspecified", sub(&|c| c.category = 0), IA, &["diaspora category is required"]).field("category"),
        as_(BankA, r, "country XX", sub(&|c| c.country = s("XX")), IA, &["\"XX\""]).field("country"),
        as_(BankA, r, "country de", sub(&|c| c.country = s("de")), IA, &["\"de\""]).field("country"),
        as_(BankA, r, "country DEU", sub(&|c| c.country = s("DEU")), IA, &["\"DEU\""]).field("country"),
        as_(BankA, r, "no country", sub(&|c| c.country = s("")), IA, &["ISO 3166-1"]).field("country"),
        as_(BankA, r, "barred country", sub(&|c| c.country = s("IR")), FP, &["residents of IR may not subscribe"]),
        as_(BankA, r, "units -3", sub(&|c| c.units = s("-3")), IA, &["cannot be negative, found -3"]).field("units"),
        as_(BankA, r, "units 1.5", sub(&|c| c.units = s("1.5")), IA, &["must be whole, found 1.5"]).field("units"),
        as_(BankA, r, "units 0", sub(&|c| c.units = s("0")), IA, &["at least 1 whole unit"]).field("units"),
        as_(BankA, r, "units of 32 digits", sub(&|c| c.units = "9".repeat(32)), IA, &["units"]).field("units"),
        as_(BankA, r, "units of absurd precision", sub(&|c| c.units = s(ABSURD_PRECISION)), IA, &[ABSURD_PRECISION]).field("units"),
        as_(BankA, r, "units over the investor maximum", sub(&|c| c.units = s("101")), FP, &["100"]),
        as_(BankA, r, "units -0", sub(&|c| c.units = s("-0")), IA, &["at least 1 whole unit"]).field("units"),
        as_(BankA, r, "units above the unit bound", sub(&|c| c.units = s("1000000000001")), IA, &["at most 1000000000000 units"]).field("units"),
        // Arguments are judged before state: 0 units is wrong whatever the series.
        as_(BankA, r, "units 0 on a draft", sub(&|c| { c.units = s("0"); c.series_id = s("HX-DRAFT"); }), IA, &["at least 1 whole unit"]).field("units"),
        // A request the registry would accept, padded with bytes the server does not read.
        case(r, "valid but padded with unknown fields", Sending::Signed(BankA, sub(&|_| {}), Tamper::UnknownFields), IA, &["sign exactly the RequestPayload"]),
        // A write that succeeded, sent again: refused, not answered as an idempotent repeat.
        case(r, "replay of an accepted write", Sending::Replay(BankA, sub(&|c| { c.investor_ref = s("inv-replay"); c.idempotency_key = s("hx-replay"); }), true), Code::Unauthenticated, &["replayed request"]),
        as_(BankA, r, "empty idempotency key", sub(&|c| c.idempotency_key = s("")), IA, &["1 to 128 printable characters"]).field("idempotency_key"),
        as_(BankA, r, "idempotency key of 129", sub(&|c| c.idempotency_key = long(129)), IA, &["1 to 128 printable characters"]).field("idempotency_key"),
        as_(BankA, r, "idempotency key with a bell", sub(&|c| c.idempotency_key = s("k\u{7}")), IA, &["1 to 128 printable characters"]).field("idempotency_key"),
        as_(BankA, r, "idempotency key reused", sub(&|c| { c.idempotency_key = s("hx-a-1"); c.units = s("11"); }), AE, &["\"hx-a-1\" was already used"]),
    ]);
    for bad in NOT_DECIMALS {
        out.push(as_(BankA, r, &format!("units {bad:?}"), sub(&|c| c.units = s(bad)), IA, &[]).field("units"));
    }
    let withdraw = |id| K::WithdrawSubscription(pb::WithdrawSubscription { subscription_id: id });
    let settle = |id| K::ConfirmSettlement(pb::ConfirmSettlement { subscription_id: id });
    out.extend([
        as_(BankA, "WithdrawSubscription", "id 0", withdraw(0), NF, &["subscription 0 does not exist"]),
        as_(BankA, "WithdrawSubscription", "id u64::MAX", withdraw(u64::MAX), NF, &["does not exist"]),
        as_(BankA, "WithdrawSubscription", "another bank's", withdraw(fx.sub_b), PD, &["belongs to another bank"]),
        as_(BankA, "WithdrawSubscription", "withdrawn already", withdraw(fx.sub_withdrawn), FP, &["withdrawn"]),
        as_(BankA, "ConfirmSettlement", "id u64::MAX", settle(u64::MAX), NF, &["does not exist"]),
        as_(BankA, "ConfirmSettlement", "another bank's", settle(fx.sub_b), PD, &["belongs to another bank"]),
        as_(BankA, "ConfirmSettlement", "not allotted", settle(fx.sub_a), FP, &["only an allotment awaiting settlement"]),
    ]);

    // Registry queries.
    let get_series = |id: &str| K::GetSeries(pb::GetSeries { series_id: s(id) });
    let debt = |id: &str| K::GetDebtService(pb::GetDebtService { series_id: s(id) });
    let accrued = |id: &str, as_of: &str| K::GetAccrued(pb::GetAccrued { series_id: s(id), as_of: s(as_of) });
    let statement_far = |as_of: &str| K::GetInvestorStatement(pb::GetInvestorStatement { investor_ref: s("inv-a-1"), bank_id: s("bank-a"), as_of: s(as_of) });
    let holders = |id: &str, token: &str, page_size| K::ListHolders(pb::ListHolders { series_id: s(id), page_token: s(token), page_size });
    for (rpc, make) in [
        ("GetSeries", &get_series as &dyn Fn(&str) -> K),
        ("GetDebtService", &debt),
        ("GetAccrued", &|id: &str| accrued(id, "")),
        ("ListHolders", &|id: &str| holders(id, "", 0)),
    ] {
        out.extend([
            as_(Auditor, rpc, "empty id", make(""), IA, &["1 to 40 upper-case letters"]).field("series_id"),
            as_(Auditor, rpc, "id of 100 000", make(&"A".repeat(100_000)), IA, &["1 to 40 upper-case letters"]).field("series_id"),
            as_(Auditor, rpc, "unknown series", make("NOPE"), NF, &["series NOPE does not exist"]),
        ]);
    }
    out.extend([
        as_(Auditor, "GetAccrued", "as of 9999-12-31", accrued("HX-OPEN", "9999-12-31"), OK, &[]),
        as_(Auditor, "GetAccrued", "as of 0001-01-01", accrued("HX-OPEN", "0001-01-01"), OK, &[]),
        as_(Auditor, "GetInvestorStatement", "as of 9999-12-31", statement_far("9999-12-31"), OK, &[]),
        as_(Engine, "ListDueEvents", "through 9999-12-31", due("9999-12-31"), OK, &[]),
        as_(Engine, "ListDueEvents", "through 0001-01-01", due("0001-01-01"), OK, &[]),
        as_(Auditor, "GetDebtService", "an open series", debt("HX-OPEN"), OK, &[]),
    ]);
    for (bad, says) in NOT_DATES.iter().filter(|(d, _)| !d.is_empty()) {
        out.push(as_(Auditor, "GetAccrued", &format!("as of {bad:?}"), accrued("HX-OPEN", bad), IA, &[says]).field("as_of"));
    }
    out.extend([
        as_(Auditor, "ListHolders", "page token garbage", holders("HX-OPEN", "garbage", 0), IA, &["page_token"]),
        as_(Auditor, "ListHolders", "page token with a bad bank", holders("HX-OPEN", "inv-1/Bad Bank", 0), IA, &["page_token"]).field("page_token"),
        as_(Auditor, "ListHolders", "page size u32::MAX", holders("HX-OPEN", "", u32::MAX), OK, &[]),
        as_(Auditor, "GetSubscription", "id u64::MAX", K::GetSubscription(pb::GetSubscription { subscription_id: u64::MAX }), NF, &["does not exist"]),
        as_(BankA, "GetSubscription", "another bank's", K::GetSubscription(pb::GetSubscription { subscription_id: fx.sub_b }), PD, &["belongs to another bank"]),
        as_(Auditor, "ListSubscriptions", "malformed series", K::ListSubscriptions(pb::ListSubscriptions { series_id: s("bad id"), ..Default::default() }), IA, &["1 to 40 upper-case letters"]).field("series_id"),
        as_(Auditor, "ListSubscriptions", "everything past u64::MAX", K::ListSubscriptions(pb::ListSubscriptions { series_id: s(""), after_subscription_id: u64::MAX, page_size: u32::MAX }), OK, &[]),
        as_(Auditor, "ListFixings", "reference of 500 000", K::ListFixings(pb::ListFixings { reference_rate: long(500_000) }), OK, &[]),
    ]);
    let holdings = |investor: &str, bank: &str| K::GetInvestorHoldings(pb::GetInvestorHoldings { investor_ref: s(investor), bank_id: s(bank) });
    let statement = |investor: &str, bank: &str, as_of: &str| K::GetInvestorStatement(pb::GetInvestorStatement { investor_ref: s(investor), bank_id: s(bank), as_of: s(as_of) });
    for (rpc, make) in [
        ("GetInvestorHoldings", &holdings as &dyn Fn(&str, &str) -> K),
        ("GetInvestorStatement", &|i: &str, b: &str| statement(i, b, "")),
    ] {
        out.extend([
            as_(Auditor, rpc, "investor by name", make("John Smith", "bank-a"), IA, &["no personal data"]).field("investor_ref"),
            as_(Auditor, rpc, "empty investor", make("", "bank-a"), IA, &["1 to 64"]).field("investor_ref"),
            as_(Auditor, rpc, "no bank named", make("inv-a-1", ""), IA, &["1 to 64 characters, found 0"]).field("bank_id"),
            as_(Auditor, rpc, "malformed bank", make("inv-a-1", "Bank A"), IA, &["lowercase letters"]).field("bank_id"),
            as_(BankA, rpc, "another bank's clients", make("inv-b-1", "bank-b"), PD, &["bank-a reads only its own"]),
            as_(BankA, rpc, "a bank of 100 000", make("inv-b-1", &long(100_000)), PD, &["bank-a reads only its own", "(100000 bytes)"]),
            as_(Auditor, rpc, "investor of 100 000", make(&long(100_000), "bank-a"), IA, &["no personal data", "bytes in all)"]).field("investor_ref"),
        ]);
    }
    for (bad, says) in NOT_DATES.iter().filter(|(d, _)| !d.is_empty()) {
        out.push(as_(Auditor, "GetInvestorStatement", &format!("as of {bad:?}"), statement("inv-a-1", "bank-a", bad), IA, &[says]).field("as_of"));
    }

    // Pricing calculators.
    let schedule = |json: &str| K::PriceSchedule(pb::PriceSchedule { terms_json: s(json) });
    let price = |json: &str, settle: &str, y: &str| K::PriceFromYield(pb::PriceFromYield { terms_json: s(json), settle: s(settle), r#yield: s(y) });
    let yld = |settle: &str, clean: &str| K::YieldFromPrice(pb::YieldFromPrice { terms_json: s(BOND_JSON), settle: s(settle), clean_price: s(clean) });
    let patriotic = |reference: &str, discount: &str| K::PatrioticPricing(pb::PatrioticPricing { terms_json: s(BOND_JSON), settle: s("2027-01-10"), reference_yield: s(reference), discount_bps: s(discount) });
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let r = "Schedule";
    out.extend([
        as_(Auditor, r, "empty terms", schedule(""), IA, &["terms JSON"]).field("terms_json"),
        as_(Auditor, r, "unclosed brace", schedule("{"), IA, &["terms JSON"]).field("terms_json"),
        as_(Auditor, r, "null", schedule("null"), IA, &["terms JSON"]).field("terms_json"),
        as_(Auditor, r, "nested 100 000 deep", schedule(&deep), IA, &["larger than 64 KiB"]).field("terms_json"),
        as_(Auditor, r, "nested 30 000 deep", schedule(&format!("{}{}", "[".repeat(30_000), "]".repeat(30_000))), IA, &["terms JSON"]).field("terms_json"),
        as_(Auditor, r, "65 KiB of terms", schedule(&format!("{BOND_JSON}{}", " ".repeat(66_000))), IA, &["larger than 64 KiB"]).field("terms_json"),
        as_(Auditor, r, "negative face", schedule(&bond_json_with("face", "-1000")), IA, &["face must be positive"]).field("terms_json"),
        as_(Auditor, r, "face the largest decimal", schedule(&bond_json_with("face", DECIMAL_MAX)), IA, &["larger than"]).field("terms_json"),
        as_(Auditor, r, "coupon rate of absurd precision", schedule(&bond_json_with("coupon_rate", ABSURD_PRECISION)), IA, &[]).field("terms_json"),
        as_(Auditor, r, "frequency weekly", schedule(&bond_json_with("frequency", "weekly")), IA, &["weekly"]).field("terms_json"),
        as_(Auditor, r, "frequency of 60 000", schedule(&bond_json_with("frequency", &long(60_000))), IA, &["bytes in all)"]).field("terms_json"),
        as_(Auditor, r, "issue date 30 February", schedule(&bond_json_with("issue_date", "2026-02-30")), IA, &["2026-02-30"]).field("terms_json"),
    ]);
    let r = "PriceFromYield";
    out.extend([
        as_(Auditor, r, "yield abc", price(BOND_JSON, "2027-01-10", "abc"), IA, &["\"abc\""]).field("yield"),
        as_(Auditor, r, "no yield", price(BOND_JSON, "2027-01-10", ""), IA, &["is required"]).field("yield"),
        as_(Auditor, r, "yield the largest decimal", price(BOND_JSON, "2027-01-10", DECIMAL_MAX), IA, &[]),
        as_(Auditor, r, "yield -200%", price(BOND_JSON, "2027-01-10", "-2"), IA, &[]),
        as_(Auditor, r, "yield -1000%", price(BOND_JSON, "2027-01-10", "-10"), IA, &[]),
        as_(Auditor, r, "yield the smallest decimal", price(BOND_JSON, "2027-01-10", &format!("-{DECIMAL_MAX}")), IA, &[]),
        as_(Auditor, r, "yield of absurd precision", price(BOND_JSON, "2027-01-10", ABSURD_PRECISION), IA, &[ABSURD_PRECISION]).field("yield"),
        as_(Auditor, r, "settle before issue", price(BOND_JSON, "1900-01-01", "0.05"), IA, &["settle"]),
        as_(Auditor, r, "settle after maturity", price(BOND_JSON, "2100-01-01", "0.05"), IA, &["settle"]),
        as_(Auditor, r, "bad terms", price("{}", "2027-01-10", "0.05"), IA, &["terms JSON"]).field("terms_json"),
    ]);
    for (bad, says) in NOT_DATES {
        out.push(as_(Auditor, r, &format!("settle {bad:?}"), price(BOND_JSON, bad, "0.05"), IA, &[says]).field("settle"));
    }
    let r = "YieldFromPrice";
    out.extend([
        // A clean price of 0 is the accrued interest alone: a yield exists (968%).
        as_(Auditor, r, "price 0", yld("2027-01-10", "0"), OK, &[]),
        as_(Auditor, r, "price -5", yld("2027-01-10", "-5"), IA, &[]),
        as_(Auditor, r, "price the largest decimal", yld("2027-01-10", DECIMAL_MAX), IA, &[]),
        as_(Auditor, r, "price abc", yld("2027-01-10", "abc"), IA, &["\"abc\""]).field("clean_price"),
        as_(Auditor, r, "settle 30 February", yld("2027-02-30", "99"), IA, &["is not a valid date"]).field("settle"),
    ]);
    let r = "PatrioticPricing";
    out.extend([
        as_(Auditor, r, "reference abc", patriotic("abc", "150"), IA, &["\"abc\""]).field("reference_yield"),
        as_(Auditor, r, "no discount", patriotic("0.065", ""), IA, &["is required"]).field("discount_bps"),
        as_(Auditor, r, "discount the smallest decimal", patriotic("0.065", &format!("-{DECIMAL_MAX}")), IA, &[]),
        as_(Auditor, r, "discount the largest decimal", patriotic("0.065", DECIMAL_MAX), IA, &[]),
        as_(Auditor, r, "reference the largest decimal", patriotic(DECIMAL_MAX, "150"), IA, &[]),
        as_(Auditor, r, "reference the smallest decimal", patriotic(&format!("-{DECIMAL_MAX}"), "150"), IA, &[]),
    ]);
    // Holdings after issue: each refusal names what is wrong and changes nothing.
    let transfer = |kind: pb::TransferKind, series: &str, category: pb::DiasporaCategory| K::RequestTransfer(pb::RequestTransfer { kind: kind as i32, series_id: s(series), from_bank_id: s("bank-a"), from_investor_ref: s("inv-a-1"), to_investor_ref: s("inv-x"), units: s("1"), recipient_category: category as i32, recipient_country: if kind == pb::TransferKind::Gift { s("DE") } else { s("") }, registration: None });
    let redeem = |series: &str, bank: &str, hash: Vec<u8>| K::RedeemEarly(pb::RedeemEarly { series_id: s(series), investor_ref: s("inv-a-1"), bank_id: s(bank), units: s("1"), reason: pb::RedemptionReason::OnRequest as i32, document_hash: hash });
    let notice = |owner: &str, hash: Vec<u8>| K::FileDeathNotice(pb::FileDeathNotice { owner_ref: s(owner), date_of_death: s("2026-01-02"), document_hash: hash, estate_ref: s("estate-1") });
    let beneficiary = Some(pb::Registration { form: Some(pb::registration::Form::Beneficiary(pb::BeneficiaryRegistration { beneficiaries: vec![s("kid-1")] })) });
    let reform = |bank: &str, form: Option<pb::Registration>| K::ChangeRegistration(pb::ChangeRegistration { series_id: s("HX-LIFE"), investor_ref: s("inv-a-1"), bank_id: s(bank), registration: form });
    let unknown = pb::DiasporaCategory::Unspecified;
    out.extend([
        as_(BankB, "RequestTransfer", "a move on a series without transfers", transfer(pb::TransferKind::Move, "HX-STILL", unknown), FP, &["allows transfers: none"]),
        as_(BankB, "RequestTransfer", "a gift to an ineligible investor", transfer(pb::TransferKind::Gift, "HX-LIFE", pb::DiasporaCategory::Affinity), FP, &["is not eligible for series HX-LIFE"]),
        as_(BankB, "RequestTransfer", "more units than held", K::RequestTransfer(pb::RequestTransfer { units: s("11"), ..match transfer(pb::TransferKind::Move, "HX-LIFE", unknown) { K::RequestTransfer(t) => t, _ => unreachable!() } }), FP, &["has 10 units free"]),
        as_(BankB, "RequestTransfer", "units of u64::MAX", K::RequestTransfer(pb::RequestTransfer { units: s("18446744073709551615"), ..match transfer(pb::TransferKind::Move, "HX-LIFE", unknown) { K::RequestTransfer(t) => t, _ => unreachable!() } }), IA, &["units"]),
        as_(BankA, "RedeemEarly", "inside the lock-up", redeem("HX-LIFE", "", vec![]), FP, &["locked up until"]),
        as_(BankA, "RedeemEarly", "a series without early redemption", redeem("HX-STILL", "", vec![]), FP, &["offers no early redemption"]),
        as_(BankA, "RedeemEarly", "another bank's holding", redeem("HX-LIFE", "bank-b", vec![]), PD, &["may act only on its own clients' holdings"]),
        as_(BankA, "RedeemEarly", "document hash of 31 bytes", redeem("HX-LIFE", "", vec![7; 31]), IA, &["32-byte SHA-256", "found 31 bytes"]).field("document_hash"),
        as_(BankA, "ChangeRegistration", "another bank's holding", reform("bank-b", beneficiary.clone()), PD, &["may act only on its own clients' holdings"]),
        as_(BankA, "ChangeRegistration", "the form it has", reform("", None), FP, &["already registered as sole"]),
        as_(BankA, "FileDeathNotice", "an unknown reference", notice("nobody", vec![7; 32]), NF, &["names nobody as an owner"]),
        as_(BankA, "FileDeathNotice", "another bank's client", notice("inv-b-1", vec![7; 32]), NF, &["names inv-b-1 as an owner"]),
        as_(BankA, "FileDeathNotice", "no document hash", notice("inv-a-1", vec![]), IA, &["32-byte SHA-256"]).field("document_hash"),
        as_(BankA, "ConfirmTransfer", "another bank's delivery", K::ConfirmTransfer(pb::ConfirmTransfer { transfer_id: fx.transfer_b }), PD, &["only the delivering bank"]),
        as_(BankA, "RefuseTransfer", "id u64::MAX", K::RefuseTransfer(pb::RefuseTransfer { transfer_id: u64::MAX, reason: s("no") }), NF, &["does not exist"]),
        as_(Auditor, "ListTransfers", "malformed series", K::ListTransfers(pb::ListTransfers { series_id: s("bad id"), pending_only: false }), IA, &["1 to 40 upper-case letters"]).field("series_id"),
    ]);
    // The envelope's count must match the requests sent (here: none).
    let r = "SubmitBatch";
    let envelope = |n: u32| K::SubmitBatch(pb::SubmitBatch { request_count: n });
    out.extend([
        as_(BankA, r, "envelope counts 3, carries 0", envelope(3), IA, &["says 3 requests, the batch carries 0"]),
        as_(BankA, r, "envelope counts 4 294 967 295", envelope(u32::MAX), IA, &["says 4294967295 requests"]),
    ]);

    // Withholding, unclaimed payments and reopenings.
    let table = |series: &str, from: &str, rate: &str, treaty: &[(&str, &str)]| {
        K::SetWithholdingTable(pb::SetWithholdingTable {
            series_id: s(series),
            effective_from: s(from),
            default_rate: s(rate),
            treaty_rates: treaty.iter().map(|(c, r)| pb::TreatyRateEntry { country: s(c), rate: s(r) }).collect(),
        })
    };
    let r = "SetWithholdingTable";
    out.extend([
        as_(Treasury, r, "rate above 1", table("HX-OPEN", "2027-01-01", "1.5", &[]), IA, &["from 0 to 1"]).field("default_rate"),
        as_(Treasury, r, "negative rate", table("HX-OPEN", "2027-01-01", "-0.1", &[]), IA, &["from 0 to 1"]).field("default_rate"),
        as_(Treasury, r, "rate of 7 decimals", table("HX-OPEN", "2027-01-01", "0.1234567", &[]), IA, &["at most 6 decimals"]).field("default_rate"),
        as_(Treasury, r, "not a rate", table("HX-OPEN", "2027-01-01", "15%", &[]), IA, &["decimal string"]).field("default_rate"),
        as_(Treasury, r, "unknown country", table("HX-OPEN", "2027-01-01", "0.1", &[("XX", "0.05")]), IA, &["ISO 3166-1"]).field("treaty_rates.country"),
        as_(Treasury, r, "country twice", table("HX-OPEN", "2027-01-01", "0.1", &[("DE", "0.05"), ("DE", "0.06")]), IA, &["DE is given twice"]).field("treaty_rates.country"),
        as_(Treasury, r, "not a date", table("HX-OPEN", "1 Jan 2027", "0.1", &[]), IA, &["YYYY-MM-DD"]).field("effective_from"),
        as_(Treasury, r, "unknown series", table("NOPE", "2027-01-01", "0.1", &[]), NF, &["NOPE does not exist"]),
        as_(BankA, r, "as a bank", table("HX-OPEN", "2027-01-01", "0.1", &[]), PD, &[]),
    ]);
    let residence = |investor: &str, country: &str, from: &str| {
        K::RecordResidence(pb::RecordResidence { investor_ref: s(investor), country: s(country), effective_from: s(from) })
    };
    let r = "RecordResidence";
    out.extend([
        as_(BankA, r, "unknown country", residence("inv-a-1", "XX", "2027-01-01"), IA, &["ISO 3166-1"]).field("country"),
        as_(BankA, r, "lowercase country", residence("inv-a-1", "de", "2027-01-01"), IA, &["ISO 3166-1"]).field("country"),
        as_(BankA, r, "a name for a reference", residence("Jane Doe", "DE", "2027-01-01"), IA, &["pseudonymous"]).field("investor_ref"),
        as_(BankA, r, "not a date", residence("inv-a-1", "DE", "2027-13-01"), IA, &["not a valid date"]).field("effective_from"),
        as_(BankA, r, "holds nothing here", residence("inv-nobody", "DE", "2027-01-01"), FP, &["holds nothing at bank-a"]),
    ]);
    let report = |event: &str, investor: &str| {
        K::ReportUndeliverable(pb::ReportUndeliverable { event_id: s(event), investor_ref: s(investor) })
    };
    let r = "ReportUndeliverable";
    out.extend([
        as_(BankA, r, "not an event id", report("HX-OPEN/coupon/01", "inv-a-1"), IA, &["invalid event id"]).field("event_id"),
        as_(BankA, r, "a record date", report("HX-OPEN/record/1", "inv-a-1"), IA, &["pays nothing"]).field("event_id"),
        as_(BankA, r, "not posted", report("HX-OPEN/coupon/1", "inv-a-1"), FP, &["is not posted"]),
        as_(BankA, r, "unknown series", report("NOPE/coupon/1", "inv-a-1"), NF, &["NOPE does not exist"]),
    ]);
    let claim = |event: &str, reference: &str| {
        K::RecordClaim(pb::RecordClaim { event_id: s(event), investor_ref: s("inv-a-1"), reference: s(reference) })
    };
    let r = "RecordClaim";
    out.extend([
        as_(BankA, r, "empty reference", claim("HX-OPEN/coupon/1", ""), IA, &["1 to 64 characters"]).field("reference"),
        as_(BankA, r, "reference of 65", claim("HX-OPEN/coupon/1", &long(65)), IA, &["found 65"]).field("reference"),
        as_(BankA, r, "control character", claim("HX-OPEN/coupon/1", "a\nb"), IA, &["control characters"]).field("reference"),
        as_(BankA, r, "never reported", claim("HX-OPEN/coupon/1", "PAY-1"), NF, &["was not reported undeliverable"]),
    ]);
    let r = "ReopenSeries";
    out.extend([
        as_(Treasury, r, "a draft", K::ReopenSeries(reopen("HX-DRAFT", "2027-02-01", "10")), FP, &["only a series that is issued"]),
        as_(Treasury, r, "unknown series", K::ReopenSeries(reopen("NOPE", "2027-02-01", "10")), NF, &["NOPE does not exist"]),
        as_(Treasury, r, "cap of 0", K::ReopenSeries(reopen("HX-OPEN", "2027-02-01", "0")), IA, &["must be 1 to"]).field("cap_units"),
        as_(Treasury, r, "cap of 1.5", K::ReopenSeries(reopen("HX-OPEN", "2027-02-01", "1.5")), IA, &["must be whole"]).field("cap_units"),
        as_(Treasury, r, "settles before the window closes", K::ReopenSeries(reopen("HX-OPEN", "2027-01-10", "10")), IA, &["must close by the settlement date"]).field("window_closes_at"),
        as_(Treasury, r, "not a date", K::ReopenSeries(reopen("HX-OPEN", "2027/02/01", "10")), IA, &["YYYY-MM-DD"]).field("settlement_date"),
        as_(Treasury, r, "discount of 1001 bp", K::ReopenSeries(pb::ReopenSeries { discount_bps: s("1001"), ..reopen("HX-OPEN", "2027-02-01", "10") }), IA, &["0 to 1000 basis points"]).field("discount_bps"),
        as_(Treasury, r, "no window", K::ReopenSeries(pb::ReopenSeries { window_opens_at: None, ..reopen("HX-OPEN", "2027-02-01", "10") }), IA, &["timestamp is required"]).field("window_opens_at"),
    ]);
    let r = "GetTaxReport";
    out.extend([
        as_(Auditor, r, "year 0", K::GetTaxReport(pb::GetTaxReport { series_id: s("HX-OPEN"), year: 0 }), IA, &["expected a year"]).field("year"),
        as_(Auditor, r, "unknown series", K::GetTaxReport(pb::GetTaxReport { series_id: s("NOPE"), year: 2027 }), NF, &["NOPE does not exist"]),
        as_(BankA, r, "as a bank", K::GetTaxReport(pb::GetTaxReport { series_id: s("HX-OPEN"), year: 2027 }), PD, &[]),
    ]);
    out.extend([
        as_(Auditor, "ListUnclaimed", "unknown series", K::ListUnclaimed(pb::ListUnclaimed { series_id: s("NOPE"), as_of: s("") }), NF, &["NOPE does not exist"]),
        as_(Auditor, "ListUnclaimed", "as of garbage", K::ListUnclaimed(pb::ListUnclaimed { series_id: s(""), as_of: s("soon") }), IA, &["YYYY-MM-DD"]).field("as_of"),
        as_(Auditor, "GetWithholdingTables", "bad series id", K::GetWithholdingTables(pb::GetWithholdingTables { series_id: s("lower") }), IA, &["upper-case"]).field("series_id"),
    ]);

    out
}

/// Wire-level garbage for the one RPC that takes no signature, and a check that
/// it otherwise answers.
#[rustfmt::skip] // One case a line: a table reads better than rustfmt's layout.
fn unsigned_rpc_cases() -> Vec<Case> {
    let rpc = wire::UNSIGNED_RPC;
    let giant = pb::GetEntryRequest {
        signed: Some(pb::SignedRequest {
            signature: vec![0; limits::GRPC_MESSAGE_BYTES_MAX + 1],
            ..Default::default()
        }),
    }
    .encode_to_vec();
    vec![
        case(rpc, "not a protobuf", Sending::Raw(vec![0xff; 16]), Code::Internal, &[]),
        case(rpc, "over the gRPC limit", Sending::Raw(giant), Code::ResourceExhausted, &["larger than this server accepts", "message length too large"]),
        case(rpc, "empty request", Sending::Raw(vec![]), Code::Ok, &[]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_refuses_hostile_input_precisely_and_changes_nothing() {
    every_rpc_refuses_hostile_input_precisely_and_changes_nothing_on(Backend::Sled).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_refuses_hostile_input_precisely_and_changes_nothing_on_postgres() {
    every_rpc_refuses_hostile_input_precisely_and_changes_nothing_on(Backend::Postgres).await
}

async fn every_rpc_refuses_hostile_input_precisely_and_changes_nothing_on(backend: Backend) {
    let mut fx = fixture_on(backend).await;
    let in_proto = wire::rpcs_in_proto();
    let known: Vec<String> = wire::RPCS.iter().map(|(_, r)| r.to_string()).collect();
    assert_eq!(
        in_proto, known,
        "wire::RPCS lists every RPC of services.proto"
    );
    let mut cases = envelope_cases(&fx);
    cases.extend(argument_cases(&fx));
    cases.extend(unsigned_rpc_cases());
    for (_, rpc) in wire::RPCS {
        assert!(
            cases.iter().any(|c| c.rpc == rpc),
            "{rpc} has no hostile case"
        );
    }
    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(panic) = AssertUnwindSafe(check(&mut fx, case)).catch_unwind().await {
            failures.push(panic_text(panic));
        }
    }
    eprintln!("{} hostile cases in {:?}", cases.len(), started.elapsed());
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The suite is not vacuous: `check` fails on a wrong code, a message that does
/// not say what it should, a missing field violation, a call that succeeds, and a
/// call that changes the state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_fails_when_it_should() {
    let mut fx = fixture().await;
    let empty_id = || {
        K::OpenSeries(pb::OpenSeries {
            series_id: String::new(),
        })
    };
    let wrong = [
        (
            as_(
                Who::Treasury,
                "OpenSeries",
                "wrong code",
                empty_id(),
                Code::NotFound,
                &[],
            ),
            "wrong code",
        ),
        (
            as_(
                Who::Treasury,
                "OpenSeries",
                "wrong words",
                empty_id(),
                Code::InvalidArgument,
                &["no such words"],
            ),
            "does not say \"no such words\"",
        ),
        (
            as_(
                Who::Treasury,
                "OpenSeries",
                "wrong field",
                empty_id(),
                Code::InvalidArgument,
                &[],
            )
            .field("not_a_field"),
            "expected a BadRequest violation of not_a_field",
        ),
        (
            as_(
                Who::Auditor,
                "GetCheckpoint",
                "success",
                K::GetCheckpoint(pb::GetCheckpoint {}),
                Code::InvalidArgument,
                &[],
            ),
            "the call succeeded",
        ),
        (
            as_(
                Who::BankB,
                "SubmitSubscription",
                "a write",
                K::SubmitSubscription(submit("inv-b-2", "hx-b-2", "5")),
                Code::Ok,
                &[],
            ),
            "the state changed",
        ),
    ];
    for (case, says) in &wrong {
        let outcome = AssertUnwindSafe(check(&mut fx, case)).catch_unwind().await;
        let text = panic_text(outcome.expect_err(&case.label));
        assert!(text.contains(says), "{}: {text}", case.label);
    }
}
