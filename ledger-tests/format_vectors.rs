//! The test vectors in docs/LEDGER_FORMAT.md are generated here and checked here,
//! so the document and the code cannot drift apart. `DBOND_WRITE_VECTORS=1 cargo
//! test --test ledger-tests format_vectors::` rewrites every vectors block after a
//! deliberate format change.
//!
//! The document holds named blocks, `<!-- vectors:begin NAME -->` ... `<!--
//! vectors:end NAME -->`, each a list of `key = value` lines that one generator of
//! [`BLOCKS`] writes. A block whose keys include `entry_0`, `entry_1`, ... is a
//! ledger: its entries must verify and its `checkpoint*` note must match them.
//! Across all blocks, every event kind of `events.proto` and every write command
//! (`service::rpc::WRITES`) must occur in some entry: a new command family adds
//! its generator here and its block to the document.

use dbond::audit::Verifier;
use dbond::audit::export::{ExportWriter, verify_export};
use dbond::audit::receipt::{ReceiptFile, verify_receipt};
use dbond::ledger::entry::{self, Origin};
use dbond::ledger::keys::{self, KeyId, REQUEST_CONTEXT};
use dbond::ledger::{checkpoint, merkle};
use dbond::proto as pb;
use ed25519_dalek::SigningKey;
use prost::Message;
use std::collections::BTreeMap;

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/LEDGER_FORMAT.md");
/// A block's generator: its `key = value` lines, in order.
type Generator = fn() -> Vec<(String, String)>;
/// Every vectors block of the document: its name and its generator.
const BLOCKS: &[(&str, Generator)] = &[
    ("participants", participants),
    ("bond-life", bond_life),
    ("holdings-life", holdings_life),
    ("servicing-life", servicing_life),
    ("ledger-key-rotation", ledger_key_rotation),
    ("ledger-key-replacement", ledger_key_replacement),
];

fn begin(name: &str) -> String {
    format!("<!-- vectors:begin {name} -->")
}

fn end(name: &str) -> String {
    format!("<!-- vectors:end {name} -->")
}

fn ts(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

fn payload(origin: &str, seconds: i64, nonce: u8, kind: pb::command::Kind) -> Vec<u8> {
    pb::RequestPayload {
        ledger_origin: origin.into(),
        issued_at: Some(ts(seconds)),
        nonce: vec![nonce; 16],
        command: Some(pb::Command { kind: Some(kind) }),
    }
    .encode_to_vec()
}

/// Block `participants`: a three-entry ledger from fixed keys, times and nonces
/// (genesis, a registration, a rotation), its proofs, exports and a receipt.
fn participants() -> Vec<(String, String)> {
    let ledger_key = SigningKey::from_bytes(&[1u8; 32]);
    let admin_key = SigningKey::from_bytes(&[2u8; 32]);
    let bank_key = SigningKey::from_bytes(&[3u8; 32]);
    let origin = "example.org/dbond-vectors";
    let t0 = 1_790_000_000i64;
    let mut out = Vec::new();
    let mut hashes = Vec::new();
    let mut tree = merkle::MemoryTree::new();
    let mut prev = entry::GENESIS_PREV_HASH;

    let admin_id = KeyId::of(&admin_key.verifying_key());
    let genesis_request = payload(
        origin,
        t0,
        0xa0,
        pb::command::Kind::Genesis(pb::Genesis {
            origin: origin.into(),
            ledger_public_key: ledger_key.verifying_key().to_bytes().to_vec(),
            admin_participant_id: "admin".into(),
            admin_public_key: admin_key.verifying_key().to_bytes().to_vec(),
            simulated_clock: false,
        }),
    );
    let register_request = payload(
        origin,
        t0 + 1,
        0xa1,
        pb::command::Kind::RegisterParticipant(pb::RegisterParticipant {
            participant_id: "bank-a".into(),
            role: pb::Role::Bank as i32,
            public_key: bank_key.verifying_key().to_bytes().to_vec(),
            display_name: "Bank A".into(),
        }),
    );
    let bank_new = SigningKey::from_bytes(&[4u8; 32]);
    let rotate_request = payload(
        origin,
        t0 + 2,
        0xa2,
        pb::command::Kind::RotateKey(pb::RotateKey {
            participant_id: "bank-a".into(),
            new_public_key: bank_new.verifying_key().to_bytes().to_vec(),
        }),
    );
    let events = [
        (
            &admin_key,
            genesis_request,
            pb::event::Kind::Genesis(pb::GenesisRecorded {
                format_version: 1,
                origin: origin.into(),
                ledger_public_key: ledger_key.verifying_key().to_bytes().to_vec(),
                admin_participant_id: "admin".into(),
                admin_public_key: admin_key.verifying_key().to_bytes().to_vec(),
                admin_key_id: admin_id.to_string(),
                simulated_clock: false,
            }),
        ),
        (
            &admin_key,
            register_request,
            pb::event::Kind::ParticipantRegistered(pb::ParticipantRegistered {
                participant_id: "bank-a".into(),
                role: pb::Role::Bank as i32,
                public_key: bank_key.verifying_key().to_bytes().to_vec(),
                key_id: KeyId::of(&bank_key.verifying_key()).to_string(),
                display_name: "Bank A".into(),
            }),
        ),
        (
            &bank_key,
            rotate_request,
            pb::event::Kind::KeyRotated(pb::KeyRotated {
                participant_id: "bank-a".into(),
                old_key_id: KeyId::of(&bank_key.verifying_key()).to_string(),
                new_public_key: bank_new.verifying_key().to_bytes().to_vec(),
                new_key_id: KeyId::of(&bank_new.verifying_key()).to_string(),
            }),
        ),
    ];
    out.push((
        "ledger_public_key".into(),
        hex::encode(ledger_key.verifying_key().to_bytes()),
    ));
    out.push((
        "admin_public_key".into(),
        hex::encode(admin_key.verifying_key().to_bytes()),
    ));
    out.push(("admin_key_id".into(), admin_id.to_string()));
    out.push((
        "bank_public_key".into(),
        hex::encode(bank_key.verifying_key().to_bytes()),
    ));
    for (i, (signer, request, kind)) in events.into_iter().enumerate() {
        let signature = keys::sign(signer, REQUEST_CONTEXT, &request);
        let sealed = entry::seal(
            i as u64,
            ts(t0 + i as i64),
            &prev,
            pb::Event { kind: Some(kind) },
            Origin::Actor(pb::Actor {
                key_id: KeyId::of(&signer.verifying_key()).to_string(),
                request: request.clone(),
                signature: signature.to_bytes().to_vec(),
            }),
            &ledger_key,
        );
        out.push((format!("entry_{i}"), hex::encode(&sealed.bytes)));
        out.push((format!("entry_{i}_hash"), hex::encode(sealed.hash)));
        prev = sealed.hash;
        hashes.push(sealed.hash);
        tree.push(sealed.hash);
    }
    out.push(("root_3".into(), hex::encode(tree.root())));
    let cp = checkpoint::Checkpoint {
        origin: origin.into(),
        size: 3,
        root: tree.root(),
        extensions: vec![],
    };
    let note = checkpoint::sign(&cp, origin, &ledger_key);
    out.push(("checkpoint_3".into(), note.replace('\n', "\\n")));
    let proof = merkle::inclusion_proof(1, 3, &tree).unwrap();
    out.push((
        "inclusion_1_of_3".into(),
        proof.iter().map(hex::encode).collect::<Vec<_>>().join(","),
    ));
    let mut small = merkle::MemoryTree::new();
    small.push(hashes[0]);
    small.push(hashes[1]);
    out.push(("root_2".into(), hex::encode(small.root())));
    let cons = merkle::consistency_proof(2, 3, &tree).unwrap();
    out.push((
        "consistency_2_to_3".into(),
        cons.iter().map(hex::encode).collect::<Vec<_>>().join(","),
    ));
    // Exports (section 8): the whole ledger, and its first two entries carrying
    // the checkpoint of size 3 and the consistency proof from 2 to 3.
    let entries: Vec<Vec<u8>> = out
        .iter()
        .filter(|(k, _)| k.starts_with("entry_") && !k.ends_with("_hash"))
        .map(|(_, v)| hex::decode(v).unwrap())
        .collect();
    let mut whole = ExportWriter::new(Vec::new(), 3).unwrap();
    for (i, e) in entries.iter().enumerate() {
        whole.entry(i as u64, e).unwrap();
    }
    out.push((
        "export_3".into(),
        hex::encode(whole.finish(&note, &[]).unwrap()),
    ));
    let mut prefix = ExportWriter::new(Vec::new(), 2).unwrap();
    for (i, e) in entries.iter().take(2).enumerate() {
        prefix.entry(i as u64, e).unwrap();
    }
    out.push((
        "export_2_of_3".into(),
        hex::encode(prefix.finish(&note, &cons).unwrap()),
    ));
    // A receipt (section 9) for entry 1 against the checkpoint of size 3.
    let receipt = ReceiptFile::from(&pb::EntryReceipt {
        origin: origin.into(),
        ledger_public_key: ledger_key.verifying_key().to_bytes().to_vec(),
        index: 1,
        entry: entries[1].clone(),
        tree_size: 3,
        inclusion_proof: proof.iter().map(|h| h.to_vec()).collect(),
        checkpoint: note.clone(),
    });
    out.push((
        "receipt_1_of_3".into(),
        serde_json::to_string(&receipt).unwrap(),
    ));
    out
}

/// A ledger built from fixed keys, times and nonces through the steps the
/// server's writer takes (authorize, decide, seal, apply).
struct Book {
    origin: &'static str,
    ledger_key: SigningKey,
    signers: BTreeMap<&'static str, SigningKey>,
    entries: Vec<Vec<u8>>,
    state: dbond::registry::State,
    tree: merkle::MemoryTree,
    last_hash: [u8; 32],
    now: chrono::DateTime<chrono::Utc>,
    nonce: u8,
}

impl Book {
    /// An empty ledger `origin` signed by the key of 32 bytes `seed`; the
    /// participants `names` sign with the keys of `seed + 1`, `seed + 2`, ...
    /// The first request (genesis) carries the nonce `0xa0`, each next one the
    /// next byte.
    fn new(origin: &'static str, seed: u8, names: &[&'static str]) -> Book {
        Book {
            origin,
            ledger_key: SigningKey::from_bytes(&[seed; 32]),
            signers: names
                .iter()
                .zip(seed + 1..)
                .map(|(n, b)| (*n, SigningKey::from_bytes(&[b; 32])))
                .collect(),
            entries: Vec::new(),
            state: dbond::registry::State::new(),
            tree: merkle::MemoryTree::new(),
            last_hash: entry::GENESIS_PREV_HASH,
            now: chrono::DateTime::default(),
            nonce: 0x9f,
        }
    }

    /// Entry 0 at `when`: genesis, signed by the participant `admin`.
    fn genesis(&mut self, when: &str) {
        self.at(when);
        let admin = self.signer("admin").verifying_key();
        let genesis = self.payload(pb::command::Kind::Genesis(pb::Genesis {
            origin: self.origin.into(),
            ledger_public_key: self.ledger_key.verifying_key().to_bytes().to_vec(),
            admin_participant_id: "admin".into(),
            admin_public_key: admin.to_bytes().to_vec(),
            simulated_clock: false,
        }));
        let signature = keys::sign(self.signer("admin"), REQUEST_CONTEXT, &genesis);
        let event = dbond::registry::Event::Genesis(dbond::registry::GenesisRecorded {
            format_version: 1,
            origin: self.origin.into(),
            ledger_public_key: dbond::registry::PublicKey(
                self.ledger_key.verifying_key().to_bytes(),
            ),
            admin_participant_id: dbond::registry::ParticipantId::parse("id", "admin").unwrap(),
            admin_public_key: dbond::registry::PublicKey(admin.to_bytes()),
            admin_key_id: KeyId::of(&admin),
            simulated_clock: false,
        });
        self.append(
            &event,
            Origin::Actor(pb::Actor {
                key_id: KeyId::of(&admin).to_string(),
                request: genesis,
                signature: signature.to_bytes().to_vec(),
            }),
        );
    }

    /// The admin registers the participant `id` (its display name) with its key.
    fn register(&mut self, id: &str, role: pb::Role) {
        let key = self.signer(id).verifying_key().to_bytes().to_vec();
        self.request(
            "admin",
            pb::command::Kind::RegisterParticipant(pb::RegisterParticipant {
                participant_id: id.into(),
                role: role as i32,
                public_key: key,
                display_name: id.into(),
            }),
        );
    }

    fn signer(&self, who: &str) -> &SigningKey {
        &self.signers[who]
    }

    fn payload(&mut self, kind: pb::command::Kind) -> Vec<u8> {
        self.nonce = self.nonce.wrapping_add(1);
        pb::RequestPayload {
            ledger_origin: self.origin.into(),
            issued_at: Some(dbond::codec::timestamp_to_pb(self.now)),
            nonce: vec![self.nonce; 16],
            command: Some(pb::Command { kind: Some(kind) }),
        }
        .encode_to_vec()
    }

    /// Seals `event` as the next entry and applies it.
    fn append(&mut self, event: &dbond::registry::Event, origin: Origin) {
        let index = self.state.size();
        let sealed = entry::seal(
            index,
            dbond::codec::timestamp_to_pb(self.now),
            &self.last_hash,
            dbond::codec::event_to_pb(event),
            origin,
            &self.ledger_key,
        );
        let meta = dbond::registry::EntryMeta {
            index,
            recorded_at: self.now,
        };
        let mut changes = dbond::registry::Changes::default();
        dbond::registry::apply(&mut self.state, &meta, event, &mut changes)
            .unwrap_or_else(|e| panic!("entry {index} does not apply: {e}"));
        self.last_hash = sealed.hash;
        self.tree.push(sealed.hash);
        self.entries.push(sealed.bytes);
    }

    /// `who` signs `kind` at the book's time; the registry decides it.
    fn request(&mut self, who: &str, kind: pb::command::Kind) {
        let command = dbond::codec::command_from_kind(&kind)
            .unwrap_or_else(|e| panic!("{who}: {kind:?}: {e}"));
        let request = self.payload(kind);
        let key = self.signer(who).clone();
        let signature = keys::sign(&key, REQUEST_CONTEXT, &request);
        let key_id = KeyId::of(&key.verifying_key());
        let index = self.state.size();
        let caller = dbond::store::authorize(&self.state, &key_id, index).unwrap();
        let ctx = dbond::registry::DecideCtx {
            index,
            recorded_at: self.now,
        };
        let events = match dbond::registry::decide(&self.state, &caller, &ctx, &command) {
            Ok(dbond::registry::Decision::Append(events)) => events,
            other => panic!("{who} at entry {index}: {other:?}"),
        };
        let mut actor = Some(pb::Actor {
            key_id: key_id.to_string(),
            request,
            signature: signature.to_bytes().to_vec(),
        });
        for event in &events {
            let origin = match actor.take() {
                Some(a) => Origin::Actor(a),
                None => Origin::Cause(index),
            };
            self.append(event, origin);
        }
    }

    fn at(&mut self, when: &str) {
        self.now = when.parse().expect("an RFC 3339 time");
    }

    /// The block's lines: the keys, every entry (hex), the root and the signed
    /// checkpoint of the whole ledger.
    fn vectors(&self) -> Vec<(String, String)> {
        let mut out = vec![(
            "ledger_public_key".to_string(),
            hex::encode(self.ledger_key.verifying_key().to_bytes()),
        )];
        for (who, key) in &self.signers {
            out.push((
                format!("{who}_public_key"),
                hex::encode(key.verifying_key().to_bytes()),
            ));
        }
        for (i, e) in self.entries.iter().enumerate() {
            out.push((format!("entry_{i}"), hex::encode(e)));
        }
        let size = self.entries.len() as u64;
        out.push((format!("root_{size}"), hex::encode(self.tree.root())));
        let cp = checkpoint::Checkpoint {
            origin: self.origin.into(),
            size,
            root: self.tree.root(),
            extensions: vec![],
        };
        let note = checkpoint::sign(&cp, self.origin, &self.ledger_key);
        out.push((format!("checkpoint_{size}"), note.replace('\n', "\\n")));
        out
    }
}

fn series_terms(
    id: &str,
    currency: &str,
    cap: u64,
    coupon: pb::coupon::Kind,
    pricing: pb::pricing::Kind,
) -> pb::SeriesTerms {
    let t = |s: &str| Some(dbond::codec::timestamp_to_pb(s.parse().unwrap()));
    pb::SeriesTerms {
        series_id: id.into(),
        name: format!("Diaspora bond {id}"),
        currency: currency.into(),
        face_value: "1000".into(),
        min_units_per_investor: "1".into(),
        max_units_per_investor: "5".into(),
        cap_units: cap.to_string(),
        coupon: Some(pb::Coupon { kind: Some(coupon) }),
        frequency: "annual".into(),
        day_count: "ACT/ACT ICMA".into(),
        business_day_convention: "following".into(),
        calendar: "weekends_only".into(),
        end_of_month: false,
        first_coupon_date: String::new(),
        record_date_lag_days: 1,
        issue_date: "2027-02-01".into(),
        maturity_date: "2029-02-01".into(),
        window_opens_at: t("2027-01-04T10:00:00Z"),
        window_closes_at: t("2027-01-20T17:00:00Z"),
        allotment_rule: pb::AllotmentRule::ProRata as i32,
        retail_priority_units: String::new(),
        eligibility: Some(pb::Eligibility {
            categories: vec![
                pb::DiasporaCategory::CitizenAbroad as i32,
                pb::DiasporaCategory::FormerCitizen as i32,
            ],
            countries_allowed: vec![],
            countries_barred: vec!["IR".into()],
        }),
        pricing: Some(pb::Pricing {
            kind: Some(pricing),
        }),
        settlement_deadline: t("2027-01-25T17:00:00Z"),
        date_generation: String::new(),
        accrual_dates: String::new(),
        payment_lag_days: 0,
        transfers: 0,
        early_redemption: None,
        unclaimed_period_days: 0,
    }
}

fn subscription(
    series: &str,
    investor: &str,
    category: pb::DiasporaCategory,
    country: &str,
    units: u64,
    key: &str,
) -> pb::command::Kind {
    pb::command::Kind::SubmitSubscription(pb::SubmitSubscription {
        series_id: series.into(),
        investor_ref: investor.into(),
        category: category as i32,
        country: country.into(),
        units: units.to_string(),
        idempotency_key: key.into(),
        registration: None,
    })
}

/// Block `bond-life`: a series from creation to maturity, and a second one
/// cancelled with a subscription in its book (docs/LEDGER_FORMAT.md, "The bond
/// life vectors").
fn bond_life() -> Vec<(String, String)> {
    use pb::command::Kind as K;
    let mut book = Book::new(
        "example.org/dbond-bond-life",
        0x21,
        &["admin", "treasury", "bank-a", "bank-b", "engine"],
    );
    // 0: genesis, signed by the admin (2027-01-04T09:00Z).
    book.genesis("2027-01-04T09:00:00Z");
    // 1-4: the treasury, two banks and the engine.
    for (id, role) in [
        ("treasury", pb::Role::Treasury),
        ("bank-a", pb::Role::Bank),
        ("bank-b", pb::Role::Bank),
        ("engine", pb::Role::Engine),
    ] {
        book.register(id, role);
    }
    // 5-7: AZ-2029-USD created with a cap of 8, amended to 9, opened.
    let usd = "AZ-2029-USD";
    let fixed = pb::coupon::Kind::Fixed(pb::FixedCoupon {
        rate: "0.052375".into(),
    });
    let diaspora = pb::pricing::Kind::Diaspora(pb::DiasporaPricing {
        reference_yield: "0.065".into(),
        discount_bps: "150".into(),
        derive_par_coupon: false,
        coupon_step: String::new(),
    });
    let terms = |cap| series_terms(usd, "USD", cap, fixed.clone(), diaspora.clone());
    book.request(
        "treasury",
        K::CreateSeries(pb::CreateSeries {
            terms: Some(terms(8)),
        }),
    );
    book.request(
        "treasury",
        K::AmendSeries(pb::AmendSeries {
            terms: Some(terms(9)),
        }),
    );
    book.at("2027-01-04T10:00:00Z");
    book.request(
        "treasury",
        K::OpenSeries(pb::OpenSeries {
            series_id: usd.into(),
        }),
    );
    // 8-11: four subscriptions; 12: the last withdrawn.
    book.at("2027-01-05T09:00:00Z");
    use pb::DiasporaCategory::{CitizenAbroad, FormerCitizen};
    book.request(
        "bank-a",
        subscription(usd, "a-1", CitizenAbroad, "DE", 5, "a-0001"),
    );
    book.request(
        "bank-b",
        subscription(usd, "b-1", FormerCitizen, "FR", 5, "b-0001"),
    );
    book.request(
        "bank-a",
        subscription(usd, "a-2", CitizenAbroad, "GB", 3, "a-0002"),
    );
    book.request(
        "bank-b",
        subscription(usd, "b-2", CitizenAbroad, "TR", 2, "b-0002"),
    );
    book.request(
        "bank-b",
        K::WithdrawSubscription(pb::WithdrawSubscription {
            subscription_id: 11,
        }),
    );
    // 13-17: AZ-2030-EUR (floating, at par) created, opened, subscribed, then
    // cancelled: its one subscription refunded.
    let eur = "AZ-2030-EUR";
    let floating = pb::coupon::Kind::Floating(pb::FloatingCoupon {
        reference_rate: "EURIBOR-6M".into(),
        spread: "0.01".into(),
        floor: "0".into(),
    });
    let at_par = pb::pricing::Kind::IssuePrice(pb::FixedPrice {
        price: "100".into(),
    });
    book.request(
        "treasury",
        K::CreateSeries(pb::CreateSeries {
            terms: Some(series_terms(eur, "EUR", 100, floating, at_par)),
        }),
    );
    book.request(
        "treasury",
        K::OpenSeries(pb::OpenSeries {
            series_id: eur.into(),
        }),
    );
    book.request(
        "bank-a",
        subscription(eur, "a-1", CitizenAbroad, "DE", 4, "a-0003"),
    );
    book.request(
        "treasury",
        K::CancelSeries(pb::CancelSeries {
            series_id: eur.into(),
            reason: "rate environment changed".into(),
        }),
    );
    // 18: AZ-2029-USD closed early; 19-22: allotted pro rata, 13 units over a cap
    // of 9: 5, 5, 3 get 4, 3, 2 (the two remainders of 6/13 tie: the earlier wins).
    book.at("2027-01-15T12:00:00Z");
    book.request(
        "treasury",
        K::CloseSeries(pb::CloseSeries {
            series_id: usd.into(),
        }),
    );
    book.request(
        "treasury",
        K::AllotSeries(pb::AllotSeries {
            series_id: usd.into(),
        }),
    );
    // 23-24: two settled; 25: after the deadline, the third released.
    book.at("2027-01-22T12:00:00Z");
    book.request(
        "bank-a",
        K::ConfirmSettlement(pb::ConfirmSettlement { subscription_id: 8 }),
    );
    book.request(
        "bank-b",
        K::ConfirmSettlement(pb::ConfirmSettlement { subscription_id: 9 }),
    );
    book.at("2027-01-26T12:00:00Z");
    book.request(
        "treasury",
        K::ReleaseUnsettled(pb::ReleaseUnsettled {
            series_id: usd.into(),
        }),
    );
    // 26-28: issued: two holdings, in (investor, bank) order.
    book.request(
        "treasury",
        K::IssueSeries(pb::IssueSeries {
            series_id: usd.into(),
        }),
    );
    // 29: a fixing published.
    book.at("2027-08-02T12:00:00Z");
    book.request(
        "treasury",
        K::PublishFixing(pb::PublishFixing {
            reference_rate: "EURIBOR-6M".into(),
            fixing_date: "2027-08-02".into(),
            rate: "0.0215".into(),
        }),
    );
    // 30-: the engine posts every record date, coupon and the redemption, in order.
    let post = |book: &mut Book, at: &str, event: &str| {
        book.at(at);
        book.request(
            "engine",
            K::PostAccrualEvent(pb::PostAccrualEvent {
                series_id: usd.into(),
                event_id: format!("{usd}/{event}"),
            }),
        );
    };
    post(&mut book, "2028-01-31T12:00:00Z", "record/0");
    post(&mut book, "2028-02-01T12:00:00Z", "coupon/0");
    post(&mut book, "2029-01-31T12:00:00Z", "record/1");
    post(&mut book, "2029-01-31T12:00:00Z", "record/2");
    post(&mut book, "2029-02-01T12:00:00Z", "coupon/1");
    post(&mut book, "2029-02-01T12:00:00Z", "redemption");
    // 43: bank-b revoked.
    book.at("2029-02-02T09:00:00Z");
    book.request(
        "admin",
        K::RevokeParticipant(pb::RevokeParticipant {
            participant_id: "bank-b".into(),
            reason: "programme ended".into(),
        }),
    );
    book.vectors()
}

/// Block `holdings-life`: one series whose terms allow gifts and early
/// redemption, issued to one investor, then every holdings command
/// (docs/LEDGER_FORMAT.md, "The holdings-life vectors").
fn holdings_life() -> Vec<(String, String)> {
    use pb::command::Kind as K;
    let mut book = Book::new(
        "example.org/dbond-holdings-life",
        0x31,
        &["admin", "treasury", "bank-a", "bank-b"],
    );
    // 0: genesis; 1-3: the treasury and two banks.
    book.genesis("2027-01-04T09:00:00Z");
    book.register("treasury", pb::Role::Treasury);
    book.register("bank-a", pb::Role::Bank);
    book.register("bank-b", pb::Role::Bank);
    // 4, 5: AZ-2029-LIFE created (gifts; early redemption on request after six
    // months less three months of coupon, and the death put) and opened.
    let life = "AZ-2029-LIFE";
    let mut terms = series_terms(
        life,
        "USD",
        100,
        pb::coupon::Kind::Fixed(pb::FixedCoupon {
            rate: "0.05".into(),
        }),
        pb::pricing::Kind::IssuePrice(pb::FixedPrice {
            price: "100".into(),
        }),
    );
    terms.transfers = pb::Transfers::Gifts as i32;
    terms.early_redemption = Some(pb::EarlyRedemption {
        on_request: true,
        lockup_months: 6,
        penalty_months: 3,
        death_put: true,
        hardship_put: false,
        hardship_quota: String::new(),
    });
    book.request(
        "treasury",
        K::CreateSeries(pb::CreateSeries { terms: Some(terms) }),
    );
    book.at("2027-01-04T10:00:00Z");
    book.request(
        "treasury",
        K::OpenSeries(pb::OpenSeries {
            series_id: life.into(),
        }),
    );
    // 6: bank-a subscribes 5 units for `a-1`; 7: closed early; 8, 9: allotted
    // in full; 10: settled; 11, 12: issued, one holding of 5 units.
    book.at("2027-01-05T09:00:00Z");
    book.request(
        "bank-a",
        subscription(
            life,
            "a-1",
            pb::DiasporaCategory::CitizenAbroad,
            "DE",
            5,
            "a-0001",
        ),
    );
    book.at("2027-01-15T12:00:00Z");
    book.request(
        "treasury",
        K::CloseSeries(pb::CloseSeries {
            series_id: life.into(),
        }),
    );
    book.request(
        "treasury",
        K::AllotSeries(pb::AllotSeries {
            series_id: life.into(),
        }),
    );
    book.request(
        "bank-a",
        K::ConfirmSettlement(pb::ConfirmSettlement { subscription_id: 6 }),
    );
    book.request(
        "treasury",
        K::IssueSeries(pb::IssueSeries {
            series_id: life.into(),
        }),
    );
    // 13: the holding becomes payable on death to `kid-1`.
    book.at("2027-02-08T12:00:00Z");
    book.request(
        "bank-a",
        K::ChangeRegistration(pb::ChangeRegistration {
            series_id: life.into(),
            investor_ref: "a-1".into(),
            bank_id: String::new(),
            registration: Some(pb::Registration {
                form: Some(pb::registration::Form::Beneficiary(
                    pb::BeneficiaryRegistration {
                        beneficiaries: vec!["kid-1".into()],
                    },
                )),
            }),
        }),
    );
    // 14, 15: a gift of 1 unit to `c-1` inside bank-a: requested and confirmed.
    book.request(
        "bank-a",
        K::RequestTransfer(pb::RequestTransfer {
            kind: pb::TransferKind::Gift as i32,
            series_id: life.into(),
            from_bank_id: "bank-a".into(),
            from_investor_ref: "a-1".into(),
            to_investor_ref: "c-1".into(),
            units: "1".into(),
            recipient_category: pb::DiasporaCategory::CitizenAbroad as i32,
            recipient_country: "GB".into(),
            registration: None,
        }),
    );
    // 16, 17: bank-b asks for 1 unit of `a-1` to move to it; bank-a confirms.
    // 18, 19: a second such move, refused by bank-a.
    let move_one = || {
        K::RequestTransfer(pb::RequestTransfer {
            kind: pb::TransferKind::Move as i32,
            series_id: life.into(),
            from_bank_id: "bank-a".into(),
            from_investor_ref: "a-1".into(),
            to_investor_ref: "a-1".into(),
            units: "1".into(),
            recipient_category: 0,
            recipient_country: String::new(),
            registration: None,
        })
    };
    book.at("2027-02-15T12:00:00Z");
    book.request("bank-b", move_one());
    book.request(
        "bank-a",
        K::ConfirmTransfer(pb::ConfirmTransfer { transfer_id: 16 }),
    );
    book.request("bank-b", move_one());
    book.request(
        "bank-a",
        K::RefuseTransfer(pb::RefuseTransfer {
            transfer_id: 18,
            reason: "client withdrew".into(),
        }),
    );
    // 20, 21: `a-1` died; the 3 units at bank-a pass to `kid-1`.
    book.at("2027-03-15T12:00:00Z");
    book.request(
        "bank-a",
        K::FileDeathNotice(pb::FileDeathNotice {
            owner_ref: "a-1".into(),
            date_of_death: "2027-03-10".into(),
            document_hash: vec![0xd0; 32],
            estate_ref: String::new(),
        }),
    );
    // 22: `kid-1` redeems 1 inherited unit by the death put.
    book.at("2027-03-22T12:00:00Z");
    book.request(
        "bank-a",
        K::RedeemEarly(pb::RedeemEarly {
            series_id: life.into(),
            investor_ref: "kid-1".into(),
            bank_id: String::new(),
            units: "1".into(),
            reason: pb::RedemptionReason::Death as i32,
            document_hash: Vec::new(),
        }),
    );
    book.vectors()
}

/// Block `servicing-life`: one series issued to one investor, a withholding
/// table and a change of residence, a first tranche cancelled and a second one
/// sold and issued, the first coupon withheld, then reported undeliverable and
/// claimed (docs/LEDGER_FORMAT.md, "The servicing-life vectors").
fn servicing_life() -> Vec<(String, String)> {
    use pb::command::Kind as K;
    let mut book = Book::new(
        "example.org/dbond-servicing-life",
        0x41,
        &["admin", "treasury", "bank-a", "engine"],
    );
    // 0: genesis; 1-3: the treasury, a bank and the engine.
    book.genesis("2027-01-04T09:00:00Z");
    book.register("treasury", pb::Role::Treasury);
    book.register("bank-a", pb::Role::Bank);
    book.register("engine", pb::Role::Engine);
    // 4, 5: AZ-2029-SERV (fixed 0.05 at 100) created and opened.
    let serv = "AZ-2029-SERV";
    let terms = series_terms(
        serv,
        "USD",
        100,
        pb::coupon::Kind::Fixed(pb::FixedCoupon {
            rate: "0.05".into(),
        }),
        pb::pricing::Kind::IssuePrice(pb::FixedPrice {
            price: "100".into(),
        }),
    );
    book.request(
        "treasury",
        K::CreateSeries(pb::CreateSeries { terms: Some(terms) }),
    );
    book.at("2027-01-04T10:00:00Z");
    let series = || serv.to_string();
    book.request(
        "treasury",
        K::OpenSeries(pb::OpenSeries {
            series_id: series(),
        }),
    );
    // 6: 4 units for `a-1` (DE); 7: closed early; 8, 9: allotted; 10: settled;
    // 11, 12: issued.
    book.at("2027-01-05T09:00:00Z");
    let first = book.entries.len() as u64;
    book.request(
        "bank-a",
        subscription(
            serv,
            "a-1",
            pb::DiasporaCategory::CitizenAbroad,
            "DE",
            4,
            "a-0001",
        ),
    );
    book.at("2027-01-15T12:00:00Z");
    book.request(
        "treasury",
        K::CloseSeries(pb::CloseSeries {
            series_id: series(),
        }),
    );
    book.request(
        "treasury",
        K::AllotSeries(pb::AllotSeries {
            series_id: series(),
        }),
    );
    book.request(
        "bank-a",
        K::ConfirmSettlement(pb::ConfirmSettlement {
            subscription_id: first,
        }),
    );
    book.request(
        "treasury",
        K::IssueSeries(pb::IssueSeries {
            series_id: series(),
        }),
    );
    // 13: the series' withholding table: 0.15, DE 0.05 by treaty.
    book.at("2027-02-08T12:00:00Z");
    book.request(
        "treasury",
        K::SetWithholdingTable(pb::SetWithholdingTable {
            series_id: series(),
            effective_from: "2027-02-01".into(),
            default_rate: "0.15".into(),
            treaty_rates: vec![pb::TreatyRateEntry {
                country: "DE".into(),
                rate: "0.05".into(),
            }],
        }),
    );
    // 14: `a-1` lives in GB from 2027-06-01.
    book.at("2027-05-20T12:00:00Z");
    book.request(
        "bank-a",
        K::RecordResidence(pb::RecordResidence {
            investor_ref: "a-1".into(),
            country: "GB".into(),
            effective_from: "2027-06-01".into(),
        }),
    );
    // 15: tranche 1 opened; 16: cancelled before any subscription.
    let t = |s: &str| Some(dbond::codec::timestamp_to_pb(s.parse().unwrap()));
    let reopen = || {
        K::ReopenSeries(pb::ReopenSeries {
            series_id: series(),
            window_opens_at: t("2027-08-02T09:00:00Z"),
            window_closes_at: t("2027-08-20T17:00:00Z"),
            settlement_date: "2027-09-15".into(),
            settlement_deadline: t("2027-09-01T17:00:00Z"),
            reference_yield: "0.06".into(),
            discount_bps: "100".into(),
            cap_units: "10".into(),
        })
    };
    book.at("2027-07-01T12:00:00Z");
    book.request("treasury", reopen());
    book.request(
        "treasury",
        K::CancelSeries(pb::CancelSeries {
            series_id: series(),
            reason: "reference yield moved".into(),
        }),
    );
    // 17: tranche 2 opened on the same terms; 18: 3 units for `a-2` (DE).
    book.at("2027-07-02T12:00:00Z");
    book.request("treasury", reopen());
    book.at("2027-08-03T09:00:00Z");
    let tapped = book.entries.len() as u64;
    book.request(
        "bank-a",
        subscription(
            serv,
            "a-2",
            pb::DiasporaCategory::CitizenAbroad,
            "DE",
            3,
            "a-0002",
        ),
    );
    // 19: closed after its window; 20, 21: allotted; 22: settled; 23, 24: issued.
    book.at("2027-08-21T12:00:00Z");
    book.request(
        "treasury",
        K::CloseSeries(pb::CloseSeries {
            series_id: series(),
        }),
    );
    book.request(
        "treasury",
        K::AllotSeries(pb::AllotSeries {
            series_id: series(),
        }),
    );
    book.request(
        "bank-a",
        K::ConfirmSettlement(pb::ConfirmSettlement {
            subscription_id: tapped,
        }),
    );
    book.at("2027-09-15T12:00:00Z");
    book.request(
        "treasury",
        K::IssueSeries(pb::IssueSeries {
            series_id: series(),
        }),
    );
    // The engine posts the first record date and coupon.
    for (at, event) in [
        ("2028-01-31T12:00:00Z", "record/0"),
        ("2028-02-01T12:00:00Z", "coupon/0"),
    ] {
        book.at(at);
        book.request(
            "engine",
            K::PostAccrualEvent(pb::PostAccrualEvent {
                series_id: series(),
                event_id: format!("{serv}/{event}"),
            }),
        );
    }
    // `a-1`'s coupon comes back undeliverable, and is claimed.
    book.at("2028-02-08T12:00:00Z");
    book.request(
        "bank-a",
        K::ReportUndeliverable(pb::ReportUndeliverable {
            event_id: format!("{serv}/coupon/0"),
            investor_ref: "a-1".into(),
        }),
    );
    book.at("2028-03-01T12:00:00Z");
    book.request(
        "bank-a",
        K::RecordClaim(pb::RecordClaim {
            event_id: format!("{serv}/coupon/0"),
            investor_ref: "a-1".into(),
            reference: "PAY-0001".into(),
        }),
    );
    book.vectors()
}

/// Block `ledger-key-rotation`: a three-entry ledger from fixed keys, times and
/// nonces: genesis under the first ledger key, the admin's hand-over to the
/// next key at entry 1 (signed by the first key, carrying the next key's
/// signature over the hand-over message), and a registration at entry 2 signed
/// by the next key, which also signs the checkpoint of size 3.
fn ledger_key_rotation() -> Vec<(String, String)> {
    use dbond::ledger::handover::{HANDOVER_CONTEXT, Handover};
    let first_key = SigningKey::from_bytes(&[0x21u8; 32]);
    let next_key = SigningKey::from_bytes(&[0x22u8; 32]);
    let admin_key = SigningKey::from_bytes(&[0x23u8; 32]);
    let bank_key = SigningKey::from_bytes(&[0x24u8; 32]);
    let origin = "example.org/dbond-rotation-vectors";
    let t0 = 1_790_100_000i64;
    let (first_public, next_public) = (first_key.verifying_key(), next_key.verifying_key());
    let admin_id = KeyId::of(&admin_key.verifying_key());
    let handover = Handover {
        origin,
        old: &first_public,
        new: &next_public,
        from_index: 2,
    };
    let message = handover.message();
    let handover_signature = keys::sign(&next_key, HANDOVER_CONTEXT, message.as_bytes());
    let requests = [
        (
            payload(
                origin,
                t0,
                0xc0,
                pb::command::Kind::Genesis(pb::Genesis {
                    origin: origin.into(),
                    ledger_public_key: first_public.to_bytes().to_vec(),
                    admin_participant_id: "admin".into(),
                    admin_public_key: admin_key.verifying_key().to_bytes().to_vec(),
                    simulated_clock: false,
                }),
            ),
            pb::event::Kind::Genesis(pb::GenesisRecorded {
                format_version: 1,
                origin: origin.into(),
                ledger_public_key: first_public.to_bytes().to_vec(),
                admin_participant_id: "admin".into(),
                admin_public_key: admin_key.verifying_key().to_bytes().to_vec(),
                admin_key_id: admin_id.to_string(),
                simulated_clock: false,
            }),
            &first_key,
        ),
        (
            payload(
                origin,
                t0 + 1,
                0xc1,
                pb::command::Kind::RotateLedgerKey(pb::RotateLedgerKey {
                    new_public_key: next_public.to_bytes().to_vec(),
                }),
            ),
            pb::event::Kind::LedgerKeyRotated(pb::LedgerKeyRotated {
                old_public_key: first_public.to_bytes().to_vec(),
                new_public_key: next_public.to_bytes().to_vec(),
                from_index: 2,
                new_key_signature: handover_signature.to_bytes().to_vec(),
            }),
            &first_key,
        ),
        (
            payload(
                origin,
                t0 + 2,
                0xc2,
                pb::command::Kind::RegisterParticipant(pb::RegisterParticipant {
                    participant_id: "bank-a".into(),
                    role: pb::Role::Bank as i32,
                    public_key: bank_key.verifying_key().to_bytes().to_vec(),
                    display_name: "Bank A".into(),
                }),
            ),
            pb::event::Kind::ParticipantRegistered(pb::ParticipantRegistered {
                participant_id: "bank-a".into(),
                role: pb::Role::Bank as i32,
                public_key: bank_key.verifying_key().to_bytes().to_vec(),
                key_id: KeyId::of(&bank_key.verifying_key()).to_string(),
                display_name: "Bank A".into(),
            }),
            &next_key,
        ),
    ];
    let mut out = vec![
        (
            "first_ledger_public_key".to_string(),
            hex::encode(first_public.to_bytes()),
        ),
        (
            "next_ledger_public_key".to_string(),
            hex::encode(next_public.to_bytes()),
        ),
        (
            "admin_public_key".to_string(),
            hex::encode(admin_key.verifying_key().to_bytes()),
        ),
        ("handover_message".to_string(), message.replace('\n', "\\n")),
        (
            "handover_signature".to_string(),
            hex::encode(handover_signature.to_bytes()),
        ),
    ];
    let mut tree = merkle::MemoryTree::new();
    let mut prev = entry::GENESIS_PREV_HASH;
    for (i, (request, kind, ledger_key)) in requests.into_iter().enumerate() {
        let signature = keys::sign(&admin_key, REQUEST_CONTEXT, &request);
        let sealed = entry::seal(
            i as u64,
            ts(t0 + i as i64),
            &prev,
            pb::Event { kind: Some(kind) },
            Origin::Actor(pb::Actor {
                key_id: admin_id.to_string(),
                request,
                signature: signature.to_bytes().to_vec(),
            }),
            ledger_key,
        );
        out.push((format!("entry_{i}"), hex::encode(&sealed.bytes)));
        out.push((format!("entry_{i}_hash"), hex::encode(sealed.hash)));
        prev = sealed.hash;
        tree.push(sealed.hash);
    }
    out.push(("root_3".into(), hex::encode(tree.root())));
    let cp = checkpoint::Checkpoint {
        origin: origin.into(),
        size: 3,
        root: tree.root(),
        extensions: vec![],
    };
    out.push((
        "checkpoint_3".into(),
        checkpoint::sign(&cp, origin, &next_key).replace('\n', "\\n"),
    ));
    out
}

/// Block `ledger-key-replacement`: a four-entry ledger from fixed keys, times
/// and nonces: genesis under the first ledger key, the admin's recovery quorum
/// of 2 of 3 keys at entry 1 (signed by the first key), the emergency
/// replacement at entry 2 (after size 2, approved by recovery keys 3 and 1, and
/// signed by the new key), and a registration at entry 3 signed by the new
/// key, which also signs the checkpoint of size 4.
fn ledger_key_replacement() -> Vec<(String, String)> {
    use dbond::ledger::recovery::{APPROVAL_CONTEXT, Statement};
    let first_key = SigningKey::from_bytes(&[0x31u8; 32]);
    let new_key = SigningKey::from_bytes(&[0x32u8; 32]);
    let admin_key = SigningKey::from_bytes(&[0x33u8; 32]);
    let bank_key = SigningKey::from_bytes(&[0x34u8; 32]);
    let recovery: Vec<SigningKey> = [0x35u8, 0x36, 0x37]
        .iter()
        .map(|b| SigningKey::from_bytes(&[*b; 32]))
        .collect();
    let origin = "example.org/dbond-replacement-vectors";
    let t0 = 1_790_200_000i64;
    let (first_public, new_public) = (first_key.verifying_key(), new_key.verifying_key());
    let admin_id = KeyId::of(&admin_key.verifying_key());
    let statement = Statement {
        origin,
        new: &new_public,
        after_size: 2,
    };
    let message = statement.message();
    let approvals: Vec<pb::RecoveryApproval> = [2usize, 0]
        .iter()
        .map(|i| pb::RecoveryApproval {
            recovery_public_key: recovery[*i].verifying_key().to_bytes().to_vec(),
            signature: keys::sign(&recovery[*i], APPROVAL_CONTEXT, message.as_bytes())
                .to_bytes()
                .to_vec(),
        })
        .collect();
    let recovery_keys: Vec<Vec<u8>> = recovery
        .iter()
        .map(|k| k.verifying_key().to_bytes().to_vec())
        .collect();
    let requests = [
        (
            payload(
                origin,
                t0,
                0xd0,
                pb::command::Kind::Genesis(pb::Genesis {
                    origin: origin.into(),
                    ledger_public_key: first_public.to_bytes().to_vec(),
                    admin_participant_id: "admin".into(),
                    admin_public_key: admin_key.verifying_key().to_bytes().to_vec(),
                    simulated_clock: false,
                }),
            ),
            pb::event::Kind::Genesis(pb::GenesisRecorded {
                format_version: 1,
                origin: origin.into(),
                ledger_public_key: first_public.to_bytes().to_vec(),
                admin_participant_id: "admin".into(),
                admin_public_key: admin_key.verifying_key().to_bytes().to_vec(),
                admin_key_id: admin_id.to_string(),
                simulated_clock: false,
            }),
            &first_key,
        ),
        (
            payload(
                origin,
                t0 + 1,
                0xd1,
                pb::command::Kind::SetRecoveryQuorum(pb::SetRecoveryQuorum {
                    threshold: 2,
                    recovery_public_keys: recovery_keys.clone(),
                }),
            ),
            pb::event::Kind::RecoveryQuorumSet(pb::RecoveryQuorumSet {
                threshold: 2,
                recovery_public_keys: recovery_keys,
            }),
            &first_key,
        ),
        (
            payload(
                origin,
                t0 + 2,
                0xd2,
                pb::command::Kind::EmergencyRotateLedgerKey(pb::EmergencyRotateLedgerKey {
                    new_public_key: new_public.to_bytes().to_vec(),
                    after_size: 2,
                    approvals: approvals.clone(),
                }),
            ),
            pb::event::Kind::LedgerKeyReplaced(pb::LedgerKeyReplaced {
                old_public_key: first_public.to_bytes().to_vec(),
                new_public_key: new_public.to_bytes().to_vec(),
                after_size: 2,
                approvals: approvals.clone(),
            }),
            &new_key,
        ),
        (
            payload(
                origin,
                t0 + 3,
                0xd3,
                pb::command::Kind::RegisterParticipant(pb::RegisterParticipant {
                    participant_id: "bank-a".into(),
                    role: pb::Role::Bank as i32,
                    public_key: bank_key.verifying_key().to_bytes().to_vec(),
                    display_name: "Bank A".into(),
                }),
            ),
            pb::event::Kind::ParticipantRegistered(pb::ParticipantRegistered {
                participant_id: "bank-a".into(),
                role: pb::Role::Bank as i32,
                public_key: bank_key.verifying_key().to_bytes().to_vec(),
                key_id: KeyId::of(&bank_key.verifying_key()).to_string(),
                display_name: "Bank A".into(),
            }),
            &new_key,
        ),
    ];
    let mut out = vec![
        (
            "first_ledger_public_key".to_string(),
            hex::encode(first_public.to_bytes()),
        ),
        (
            "new_ledger_public_key".to_string(),
            hex::encode(new_public.to_bytes()),
        ),
        (
            "admin_public_key".to_string(),
            hex::encode(admin_key.verifying_key().to_bytes()),
        ),
    ];
    for (i, k) in recovery.iter().enumerate() {
        out.push((
            format!("recovery_public_key_{}", i + 1),
            hex::encode(k.verifying_key().to_bytes()),
        ));
    }
    out.push((
        "approval_statement".to_string(),
        message.replace('\n', "\\n"),
    ));
    for (n, a) in [3, 1].iter().zip(&approvals) {
        out.push((format!("approval_signature_{n}"), hex::encode(&a.signature)));
    }
    let mut tree = merkle::MemoryTree::new();
    let mut prev = entry::GENESIS_PREV_HASH;
    for (i, (request, kind, ledger_key)) in requests.into_iter().enumerate() {
        let signature = keys::sign(&admin_key, REQUEST_CONTEXT, &request);
        let sealed = entry::seal(
            i as u64,
            ts(t0 + i as i64),
            &prev,
            pb::Event { kind: Some(kind) },
            Origin::Actor(pb::Actor {
                key_id: admin_id.to_string(),
                request,
                signature: signature.to_bytes().to_vec(),
            }),
            ledger_key,
        );
        out.push((format!("entry_{i}"), hex::encode(&sealed.bytes)));
        out.push((format!("entry_{i}_hash"), hex::encode(sealed.hash)));
        prev = sealed.hash;
        tree.push(sealed.hash);
    }
    out.push(("root_4".into(), hex::encode(tree.root())));
    let cp = checkpoint::Checkpoint {
        origin: origin.into(),
        size: 4,
        root: tree.root(),
        extensions: vec![],
    };
    out.push((
        "checkpoint_4".into(),
        checkpoint::sign(&cp, origin, &new_key).replace('\n', "\\n"),
    ));
    out
}

/// The document's blocks: name -> key -> value.
fn doc_blocks() -> BTreeMap<String, BTreeMap<String, String>> {
    let doc = std::fs::read_to_string(DOC).expect("read LEDGER_FORMAT.md");
    let mut blocks = BTreeMap::new();
    let mut rest = doc.as_str();
    // A marker starts a line (the prose quotes the marker's form mid-line).
    while let Some(at) = rest.find("\n<!-- vectors:begin ") {
        let after = &rest[at + "\n<!-- vectors:begin ".len()..];
        let name = after
            .split_once(" -->")
            .expect("a vectors:begin marker ends with -->")
            .0
            .to_string();
        let close = end(&name);
        let body_at = after.find(" -->").unwrap() + 4;
        let stop = after
            .find(&close)
            .unwrap_or_else(|| panic!("vectors block {name} has no end marker"));
        let vectors: BTreeMap<String, String> = after[body_at..stop]
            .lines()
            .filter_map(|l| l.split_once(" = "))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        assert!(
            blocks.insert(name.clone(), vectors).is_none(),
            "vectors block {name} twice"
        );
        rest = &after[stop + close.len()..];
    }
    blocks
}

fn render(name: &str, vectors: &[(String, String)]) -> String {
    let mut s = begin(name);
    s.push_str("\n```text\n");
    for (k, v) in vectors {
        s.push_str(&format!("{k} = {v}\n"));
    }
    s.push_str("```\n");
    s.push_str(&end(name));
    s
}

#[test]
fn document_vectors_are_what_the_code_produces() {
    let write = std::env::var("DBOND_WRITE_VECTORS").is_ok();
    for (name, generate) in BLOCKS {
        let generated = generate();
        if write {
            let doc = std::fs::read_to_string(DOC).unwrap();
            let (b, e) = (begin(name), end(name));
            let start = doc
                .find(&b)
                .unwrap_or_else(|| panic!("docs/LEDGER_FORMAT.md has no {b}"));
            let stop = doc.find(&e).unwrap() + e.len();
            let new = format!(
                "{}{}{}",
                &doc[..start],
                render(name, &generated),
                &doc[stop..]
            );
            std::fs::write(DOC, new).unwrap();
        }
        let blocks = doc_blocks();
        let documented = blocks
            .get(*name)
            .unwrap_or_else(|| panic!("docs/LEDGER_FORMAT.md has no vectors block {name}"));
        for (k, v) in &generated {
            assert_eq!(
                documented.get(k),
                Some(v),
                "vector {k} of block {name} in docs/LEDGER_FORMAT.md is stale (DBOND_WRITE_VECTORS=1 regenerates)"
            );
        }
        assert_eq!(
            documented.len(),
            generated.len(),
            "block {name}: no other keys"
        );
    }
    let named: Vec<&str> = BLOCKS.iter().map(|(n, _)| *n).collect();
    let blocks = doc_blocks();
    let in_doc: Vec<&str> = blocks.keys().map(String::as_str).collect();
    let mut sorted = named.clone();
    sorted.sort();
    assert_eq!(
        in_doc, sorted,
        "every block has a generator and every generator a block"
    );
}

/// The entries of a ledger block, in order.
fn block_entries(block: &BTreeMap<String, String>) -> Vec<Vec<u8>> {
    (0..)
        .map_while(|i| block.get(&format!("entry_{i}")))
        .map(|h| hex::decode(h).unwrap())
        .collect()
}

/// The oneof `kind` of `message` in the API's descriptors: field number -> the
/// field's message type name.
fn oneof_kinds(message: &str) -> BTreeMap<i32, String> {
    let set = prost_types::FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET).unwrap();
    let m = set
        .file
        .iter()
        .flat_map(|f| &f.message_type)
        .find(|m| m.name() == message)
        .unwrap_or_else(|| panic!("no message {message}"));
    m.field
        .iter()
        .filter(|f| f.oneof_index.is_some())
        .map(|f| {
            let type_name = f.type_name().rsplit('.').next().unwrap().to_string();
            (f.number(), type_name)
        })
        .collect()
}

/// The field number of the one field a oneof wrapper (`Event`, `Command`) holds.
fn kind_number(wrapper: &[u8]) -> i32 {
    let (tag, _) = prost::encoding::decode_key(&mut &wrapper[..]).unwrap();
    tag as i32
}

#[test]
fn every_ledger_block_verifies_and_every_kind_has_a_vector() {
    let events = oneof_kinds("Event");
    let commands = oneof_kinds("Command");
    let mut seen_events = std::collections::BTreeSet::new();
    let mut seen_commands = std::collections::BTreeSet::new();
    for (name, block) in doc_blocks() {
        let entries = block_entries(&block);
        if entries.is_empty() {
            continue;
        }
        let mut verifier = Verifier::new();
        for (i, e) in entries.iter().enumerate() {
            verifier
                .push(e)
                .unwrap_or_else(|err| panic!("block {name}, entry {i}: {err}"));
            let body = entry::open(e).unwrap().body;
            seen_events.insert(events[&kind_number(&body.event.unwrap().encode_to_vec())].clone());
            if let Some(actor) = body.actor {
                let payload = pb::RequestPayload::decode(actor.request.as_slice()).unwrap();
                let command = payload.command.unwrap().encode_to_vec();
                seen_commands.insert(commands[&kind_number(&command)].clone());
            }
        }
        let verified = verifier
            .finish()
            .unwrap_or_else(|e| panic!("block {name}: {e}"));
        let note = block
            .iter()
            .find(|(k, _)| k.starts_with("checkpoint_"))
            .map(|(_, v)| v.replace("\\n", "\n"))
            .unwrap_or_else(|| panic!("block {name} has entries but no checkpoint"));
        let cp = verified
            .check_checkpoint(&note)
            .unwrap_or_else(|e| panic!("block {name}: {e}"));
        assert_eq!(cp.size, entries.len() as u64, "block {name}");
    }
    let missing: Vec<&String> = events
        .values()
        .filter(|k| !seen_events.contains(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "event kinds without a vector: {missing:?}"
    );
    let writes: Vec<&str> = dbond::service::rpc::WRITES
        .iter()
        .map(|(rpc, _)| *rpc)
        .chain(["Genesis"])
        .filter(|rpc| !seen_commands.contains(*rpc))
        .collect();
    assert!(
        writes.is_empty(),
        "write commands without a vector: {writes:?}"
    );
}

fn hashes(list: &str) -> Vec<[u8; 32]> {
    list.split(',')
        .map(|h| hex::decode(h).unwrap().try_into().unwrap())
        .collect()
}

#[test]
fn document_vectors_verify_and_their_tampered_twins_do_not() {
    let v = doc_blocks()
        .remove("participants")
        .expect("block participants");
    let entries: Vec<Vec<u8>> = block_entries(&v);
    assert_eq!(entries.len(), 3);
    let note = v["checkpoint_3"].replace("\\n", "\n");
    let run = |entries: &[Vec<u8>]| -> Result<(), String> {
        let mut verifier = Verifier::new();
        for e in entries {
            verifier.push(e).map_err(|e| e.to_string())?;
        }
        let verified = verifier.finish().map_err(|e| e.to_string())?;
        verified
            .check_checkpoint(&note)
            .map_err(|e| e.to_string())?;
        Ok(())
    };
    run(&entries).expect("the documented ledger verifies");
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(
            hex::encode(merkle::hash_leaf(e)),
            v[&format!("entry_{i}_hash")]
        );
    }
    // Tampered twins: a flipped bit anywhere in any entry, dropped, duplicated and
    // reordered entries.
    for i in 0..entries.len() {
        for pos in (0..entries[i].len()).step_by(7) {
            let mut t = entries.clone();
            t[i][pos] ^= 0x01;
            assert!(
                run(&t).is_err(),
                "flipped bit at entry {i} byte {pos} went unnoticed"
            );
        }
    }
    assert!(
        run(&entries[..2]).is_err(),
        "a dropped entry is caught by the checkpoint"
    );
    assert!(run(&[entries[0].clone(), entries[1].clone(), entries[1].clone()]).is_err());
    assert!(run(&[entries[0].clone(), entries[2].clone(), entries[1].clone()]).is_err());

    let root: [u8; 32] = hex::decode(&v["root_3"]).unwrap().try_into().unwrap();
    let leaf1: [u8; 32] = hex::decode(&v["entry_1_hash"]).unwrap().try_into().unwrap();
    let proof = hashes(&v["inclusion_1_of_3"]);
    merkle::verify_inclusion(&leaf1, 1, 3, &proof, &root).unwrap();
    let mut bad = proof.clone();
    bad[0][31] ^= 1;
    assert!(merkle::verify_inclusion(&leaf1, 1, 3, &bad, &root).is_err());
    assert!(merkle::verify_inclusion(&leaf1, 1, 3, &[], &root).is_err());
    assert!(
        merkle::verify_inclusion(&leaf1, 1, 2, &proof, &root).is_err(),
        "wrong tree size"
    );
    let root2: [u8; 32] = hex::decode(&v["root_2"]).unwrap().try_into().unwrap();
    let cons = hashes(&v["consistency_2_to_3"]);
    merkle::verify_consistency(2, 3, &root2, &root, &cons).unwrap();
    let mut bad = cons.clone();
    bad[0][0] ^= 0x80;
    assert!(merkle::verify_consistency(2, 3, &root2, &root, &bad).is_err());
    assert!(merkle::verify_consistency(2, 3, &root2, &root, &[]).is_err());
    let ledger_key =
        keys::parse_public_key(&hex::decode(&v["ledger_public_key"]).unwrap()).unwrap();
    checkpoint::open(&note, "example.org/dbond-vectors", &ledger_key).unwrap();
    let tampered = note.replacen("\n3\n", "\n4\n", 1);
    assert!(checkpoint::open(&tampered, "example.org/dbond-vectors", &ledger_key).is_err());

    // Exports: both verify; every bit of every byte, the note's included, is
    // checked: each of the eight single-bit flips and the flip of all eight is
    // refused at every offset.
    for name in ["export_3", "export_2_of_3"] {
        let bytes = hex::decode(&v[name]).unwrap();
        let done = verify_export(&bytes[..], &[], |_, _| {}).unwrap();
        assert_eq!(done.checkpoint.size, 3);
        use rayon::prelude::*;
        let accepted: Vec<(usize, u8)> = (0..bytes.len())
            .into_par_iter()
            .flat_map_iter(|pos| {
                (0..8)
                    .map(move |bit| (pos, 1u8 << bit))
                    .chain([(pos, 0xff)])
            })
            .filter(|&(pos, mask)| {
                let mut t = bytes.clone();
                t[pos] ^= mask;
                verify_export(&t[..], &[], |_, _| {}).is_ok()
            })
            .collect();
        assert!(
            accepted.is_empty(),
            "{name}: changed bytes (offset, xor mask) {accepted:?} went unnoticed"
        );
    }
    // Receipt: verifies under the ledger key, not under another, not tampered.
    let receipt = ReceiptFile::from_json(&v["receipt_1_of_3"]).unwrap();
    let checked = verify_receipt(&receipt, Some(&ledger_key)).unwrap();
    assert!(
        checked.description.contains("bank-a"),
        "{}",
        checked.description
    );
    let other = SigningKey::from_bytes(&[9u8; 32]).verifying_key();
    assert!(verify_receipt(&receipt, Some(&other)).is_err());
    let mut t = receipt.clone();
    t.index = 2;
    assert!(verify_receipt(&t, Some(&ledger_key)).is_err());
    let mut t = receipt.clone();
    t.inclusion_proof.reverse();
    assert!(verify_receipt(&t, Some(&ledger_key)).is_err());
    let mut t = receipt;
    t.inclusion_proof.clear();
    assert!(verify_receipt(&t, Some(&ledger_key)).is_err());
}
