//! The outside contract, exact: what docs/LEDGER_FORMAT.md refuses, dbond refuses,
//! in the server and in the verifier alike. Ledgers are forged here from known
//! keys (the ledger key included), so that each refusal is of a ledger whose every
//! signature is good and whose one fault is the one named: a request issued a
//! nanosecond outside the window, a nonce of 15 or 65 bytes, a byte the format
//! does not read, a checkpoint note with a second signature line, base64 or hex in
//! another spelling. And the rehearsal clock: a ledger made on one says so for
//! good, and a production server refuses the clock's controls.

use crate::common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{InProcess, Server, new_key};
use dbond::audit::Verifier;
use dbond::audit::export::{ExportWriter, verify_export};
use dbond::audit::receipt::{ReceiptFile, verify_receipt};
use dbond::client::{Client, CommandKind as K};
use dbond::ledger::entry::{self, Origin};
use dbond::ledger::keys::{self, KeyId, REQUEST_CONTEXT};
use dbond::ledger::{checkpoint, merkle};
use dbond::proto as pb;
use ed25519_dalek::SigningKey;
use prost::Message;
use tonic::Code;

const ORIGIN: &str = "example.org/dbond-contract";

/// The time every forged entry is recorded at.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 3, 1, 12, 0, 0).unwrap()
}

fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    dbond::codec::timestamp_to_pb(t)
}

/// How a request payload is spoiled before it is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spoil {
    None,
    /// Issued this long before the recorded time.
    IssuedBefore(Duration),
    /// Issued this long after the recorded time.
    IssuedAfter(Duration),
    Nonce(usize),
    /// An unknown field (number 15) after the payload's own.
    UnknownField,
    /// `ledger_origin` given a second time (prost keeps the last).
    RepeatedField,
}

fn payload(kind: K, recorded_at: DateTime<Utc>, nonce_byte: u8, spoil: Spoil) -> Vec<u8> {
    let issued_at = match spoil {
        Spoil::IssuedBefore(d) => recorded_at - d,
        Spoil::IssuedAfter(d) => recorded_at + d,
        _ => recorded_at,
    };
    let nonce_len = match spoil {
        Spoil::Nonce(n) => n,
        _ => 16,
    };
    let mut bytes = pb::RequestPayload {
        ledger_origin: ORIGIN.into(),
        issued_at: Some(ts(issued_at)),
        nonce: vec![nonce_byte; nonce_len],
        command: Some(pb::Command { kind: Some(kind) }),
    }
    .encode_to_vec();
    match spoil {
        Spoil::UnknownField => bytes.extend_from_slice(&[0x78, 0x01]),
        Spoil::RepeatedField => prost::encoding::string::encode(1, &ORIGIN.to_string(), &mut bytes),
        _ => {}
    }
    bytes
}

/// A ledger forged from fixed keys: genesis, then `bank-a` registered.
struct Forge {
    ledger_key: SigningKey,
    admin_key: SigningKey,
    bank_key: SigningKey,
}

impl Forge {
    fn new() -> Forge {
        Forge {
            ledger_key: SigningKey::from_bytes(&[11u8; 32]),
            admin_key: SigningKey::from_bytes(&[12u8; 32]),
            bank_key: SigningKey::from_bytes(&[13u8; 32]),
        }
    }

    fn genesis(&self, spoil: Spoil) -> Vec<u8> {
        let admin = self.admin_key.verifying_key();
        let request = payload(
            K::Genesis(pb::Genesis {
                origin: ORIGIN.into(),
                ledger_public_key: self.ledger_key.verifying_key().to_bytes().to_vec(),
                admin_participant_id: "admin".into(),
                admin_public_key: admin.to_bytes().to_vec(),
                simulated_clock: false,
            }),
            t0(),
            0xa0,
            spoil,
        );
        let event = pb::Event {
            kind: Some(pb::event::Kind::Genesis(pb::GenesisRecorded {
                format_version: 1,
                origin: ORIGIN.into(),
                ledger_public_key: self.ledger_key.verifying_key().to_bytes().to_vec(),
                admin_participant_id: "admin".into(),
                admin_public_key: admin.to_bytes().to_vec(),
                admin_key_id: KeyId::of(&admin).to_string(),
                simulated_clock: false,
            })),
        };
        self.seal(
            0,
            &entry::GENESIS_PREV_HASH,
            event,
            &self.admin_key,
            request,
        )
    }

    fn register(&self, prev: &[u8], spoil: Spoil) -> Vec<u8> {
        let bank = self.bank_key.verifying_key();
        let request = payload(
            K::RegisterParticipant(pb::RegisterParticipant {
                participant_id: "bank-a".into(),
                role: pb::Role::Bank as i32,
                public_key: bank.to_bytes().to_vec(),
                display_name: "Bank A".into(),
            }),
            t0(),
            0xa1,
            spoil,
        );
        let event = pb::Event {
            kind: Some(pb::event::Kind::ParticipantRegistered(
                pb::ParticipantRegistered {
                    participant_id: "bank-a".into(),
                    role: pb::Role::Bank as i32,
                    public_key: bank.to_bytes().to_vec(),
                    key_id: KeyId::of(&bank).to_string(),
                    display_name: "Bank A".into(),
                },
            )),
        };
        self.seal(1, &merkle::hash_leaf(prev), event, &self.admin_key, request)
    }

    fn seal(
        &self,
        index: u64,
        prev: &[u8; 32],
        event: pb::Event,
        signer: &SigningKey,
        request: Vec<u8>,
    ) -> Vec<u8> {
        let signature = keys::sign(signer, REQUEST_CONTEXT, &request);
        entry::seal(
            index,
            ts(t0()),
            prev,
            event,
            Origin::Actor(pb::Actor {
                key_id: KeyId::of(&signer.verifying_key()).to_string(),
                request,
                signature: signature.to_bytes().to_vec(),
            }),
            &self.ledger_key,
        )
        .bytes
    }

    /// The two entries, the register request spoiled as `spoil`.
    fn ledger(&self, genesis: Spoil, register: Spoil) -> Vec<Vec<u8>> {
        let g = self.genesis(genesis);
        let r = self.register(&g, register);
        vec![g, r]
    }

    fn note(&self, entries: &[Vec<u8>]) -> String {
        let mut tree = merkle::MemoryTree::new();
        for e in entries {
            tree.push(merkle::hash_leaf(e));
        }
        let cp = checkpoint::Checkpoint {
            origin: ORIGIN.into(),
            size: entries.len() as u64,
            root: tree.root(),
            extensions: vec![],
        };
        checkpoint::sign(&cp, ORIGIN, &self.ledger_key)
    }

    fn export(&self, entries: &[Vec<u8>], note: &str) -> Vec<u8> {
        let mut w = ExportWriter::new(Vec::new(), entries.len() as u64).unwrap();
        for (i, e) in entries.iter().enumerate() {
            w.entry(i as u64, e).unwrap();
        }
        w.finish(note, &[]).unwrap()
    }
}

/// Verifies `entries` as `dbond verify` does; the error's text on refusal.
fn verify(entries: &[Vec<u8>]) -> Result<(), String> {
    let mut v = Verifier::new();
    for e in entries {
        v.push(e).map_err(|e| e.to_string())?;
    }
    v.finish().map(|_| ()).map_err(|e| e.to_string())
}

#[test]
fn the_verifier_refuses_every_request_the_server_refuses() {
    let f = Forge::new();
    let ms = Duration::milliseconds;
    let ns = Duration::nanoseconds;
    let secs = Duration::seconds;
    // The edges of the window are inside it, to the nanosecond.
    for spoil in [
        Spoil::None,
        Spoil::IssuedBefore(secs(300)),
        Spoil::IssuedAfter(secs(60)),
        Spoil::Nonce(16),
        Spoil::Nonce(64),
    ] {
        let ledger = f.ledger(Spoil::None, spoil);
        verify(&ledger).unwrap_or_else(|e| panic!("{spoil:?} is within the format: {e}"));
        let note = f.note(&ledger);
        verify_export(&f.export(&ledger, &note)[..], &[], |_, _| {})
            .unwrap_or_else(|e| panic!("{spoil:?} as an export: {e}"));
    }
    let cases = [
        (
            Spoil::IssuedBefore(secs(300) + ms(1)),
            "issued 300.001 s before",
        ),
        (
            Spoil::IssuedBefore(secs(300) + ns(1)),
            "issued 300.000000001 s before",
        ),
        (
            Spoil::IssuedAfter(secs(60) + ms(1)),
            "issued 60.001 s after",
        ),
        (
            Spoil::IssuedAfter(secs(60) + ns(1)),
            "issued 60.000000001 s after",
        ),
        (
            Spoil::IssuedBefore(Duration::days(1)),
            "issued 86400 s before",
        ),
        (Spoil::Nonce(15), "nonce is 15 bytes"),
        (Spoil::Nonce(65), "nonce is 65 bytes"),
        (Spoil::Nonce(0), "nonce is 0 bytes"),
        (Spoil::UnknownField, "request payload is"),
        (Spoil::RepeatedField, "request payload is"),
    ];
    for (spoil, says) in cases {
        let ledger = f.ledger(Spoil::None, spoil);
        let err = verify(&ledger).expect_err(&format!("{spoil:?} verified"));
        assert!(err.starts_with("entry 1: "), "{spoil:?}: {err}");
        assert!(err.contains(says), "{spoil:?}: {err}");
        let note = f.note(&ledger);
        let err = verify_export(&f.export(&ledger, &note)[..], &[], |_, _| {})
            .expect_err("the export of a refused ledger");
        assert!(
            err.to_string().contains(says),
            "{spoil:?} as an export: {err}"
        );
    }
    // Genesis is a request like any other: not exempt from the window, the nonce
    // rule or the exact encoding.
    for (spoil, says) in [
        (
            Spoil::IssuedBefore(Duration::days(1)),
            "issued 86400 s before",
        ),
        (
            Spoil::IssuedAfter(secs(60) + ns(1)),
            "issued 60.000000001 s after",
        ),
        (Spoil::Nonce(15), "nonce is 15 bytes"),
        (Spoil::UnknownField, "request payload is"),
    ] {
        let ledger = f.ledger(spoil, Spoil::None);
        let err = verify(&ledger).expect_err(&format!("genesis {spoil:?} verified"));
        assert!(
            err.starts_with("entry 0: ") && err.contains(says),
            "{spoil:?}: {err}"
        );
    }
}

#[test]
fn an_entry_holding_a_byte_the_format_does_not_read_is_refused() {
    let f = Forge::new();
    let [genesis, _] = <[Vec<u8>; 2]>::try_from(f.ledger(Spoil::None, Spoil::None)).unwrap();
    // Each re-signed by the ledger key, so only the unread bytes are wrong.
    let resign = |body: Vec<u8>| {
        let signature = keys::sign(&f.ledger_key, keys::ENTRY_CONTEXT, &body);
        pb::LedgerEntry {
            body,
            ledger_signature: signature.to_bytes().to_vec(),
        }
        .encode_to_vec()
    };
    let body = pb::LedgerEntry::decode(genesis.as_slice()).unwrap().body;
    let mut unknown = body.clone();
    unknown.extend_from_slice(&[0x78, 0x01]);
    let mut repeated = body.clone();
    prost::encoding::uint64::encode(1, &0, &mut repeated);
    let mut outer = genesis.clone();
    outer.extend_from_slice(&[0x18, 0x00]);
    for (name, bytes) in [
        ("an unknown field in the body", resign(unknown)),
        ("the index given twice", resign(repeated)),
        ("an unknown field after the entry", outer),
    ] {
        let err = verify(&[bytes]).expect_err(name);
        assert!(err.contains("fields take"), "{name}: {err}");
    }
}

#[test]
fn a_ledger_note_with_a_second_signature_line_is_refused_everywhere() {
    let f = Forge::new();
    let ledger = f.ledger(Spoil::None, Spoil::None);
    let note = f.note(&ledger);
    verify_export(&f.export(&ledger, &note)[..], &[], |_, _| {}).expect("the plain note");
    let (_, ours) = note.split_once("\n\n").unwrap();
    let witness = {
        let cp = checkpoint::parse_unverified(&note).unwrap().0;
        let other = checkpoint::sign(&cp, "witness.example/w1", &new_key());
        other.split_once("\n\n").unwrap().1.to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    for (name, bad) in [
        ("our line twice", format!("{note}{ours}")),
        (
            "a cosignature by an unknown key",
            format!("{note}{witness}"),
        ),
    ] {
        let export = f.export(&ledger, &bad);
        let err = verify_export(&export[..], &[], |_, _| {}).expect_err(name);
        assert!(err.to_string().contains("exactly one"), "{name}: {err}");
        let path = dir.path().join("bad.dbx");
        std::fs::write(&path, &export).unwrap();
        let (ok, out, err) = Server::dbond(&["verify", "--export", path.to_str().unwrap()]);
        assert!(!ok, "{name}: dbond verify accepted it: {out}");
        assert!(err.contains("exactly one"), "{name}: {err}");
        // A receipt carrying the note is refused too.
        let receipt = ReceiptFile::from(&pb::EntryReceipt {
            origin: ORIGIN.into(),
            ledger_public_key: f.ledger_key.verifying_key().to_bytes().to_vec(),
            index: 1,
            entry: ledger[1].clone(),
            tree_size: 2,
            inclusion_proof: vec![merkle::hash_leaf(&ledger[0]).to_vec()],
            checkpoint: bad.clone(),
        });
        let err = verify_receipt(&receipt, None).expect_err(name);
        assert!(err.to_string().contains("exactly one"), "{name}: {err}");
    }
}

#[test]
fn receipts_are_read_in_one_spelling_only() {
    let f = Forge::new();
    let ledger = f.ledger(Spoil::None, Spoil::None);
    let receipt = ReceiptFile::from(&pb::EntryReceipt {
        origin: ORIGIN.into(),
        ledger_public_key: f.ledger_key.verifying_key().to_bytes().to_vec(),
        index: 1,
        entry: ledger[1].clone(),
        tree_size: 2,
        inclusion_proof: vec![merkle::hash_leaf(&ledger[0]).to_vec()],
        checkpoint: f.note(&ledger),
    });
    verify_receipt(&receipt, None).expect("the receipt as written");
    let mut upper = receipt.clone();
    upper.ledger_public_key = upper.ledger_public_key.to_uppercase();
    let mut upper_proof = receipt.clone();
    upper_proof.inclusion_proof[0] = upper_proof.inclusion_proof[0].to_uppercase();
    // The entry's base64 without its padding, and with the unused bits of its
    // last character set: both decode under a lenient reader.
    let mut unpadded = receipt.clone();
    unpadded.entry = receipt.entry.trim_end_matches('=').to_string();
    assert_ne!(
        unpadded.entry, receipt.entry,
        "the entry's base64 is padded"
    );
    let mut stray = receipt.clone();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let last = receipt.entry.trim_end_matches('=').len() - 1;
    let pos = alphabet
        .iter()
        .position(|c| *c == receipt.entry.as_bytes()[last])
        .unwrap();
    let mut bytes = receipt.entry.clone().into_bytes();
    bytes[last] = alphabet[pos | 1];
    stray.entry = String::from_utf8(bytes).unwrap();
    assert_ne!(
        stray.entry, receipt.entry,
        "the last character has unused bits"
    );
    for (name, bad) in [
        ("upper-case hex key", upper),
        ("upper-case hex proof", upper_proof),
        ("unpadded base64", unpadded),
        ("base64 with stray bits", stray),
    ] {
        assert!(verify_receipt(&bad, None).is_err(), "{name} was accepted");
    }
}

/// Signs a registration as the admin with the given issue time.
fn register_at(admin: &Client, id: &str, issued_at: DateTime<Utc>) -> pb::SignedRequest {
    admin.sign_with(
        K::RegisterParticipant(pb::RegisterParticipant {
            participant_id: id.into(),
            role: pb::Role::Bank as i32,
            public_key: new_key().verifying_key().to_bytes().to_vec(),
            display_name: id.into(),
        }),
        issued_at,
        &dbond::client::nonce(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_applies_the_window_to_the_nanosecond() {
    let server = InProcess::start(t0()).await;
    let admin = server.admin().await;
    let send = async |id: &str, issued_at| {
        admin
            .participants()
            .register_participant(pb::RegisterParticipantRequest {
                signed: Some(register_at(&admin, id, issued_at)),
            })
            .await
    };
    let (ms, ns, secs) = (
        Duration::milliseconds,
        Duration::nanoseconds,
        Duration::seconds,
    );
    send("oldest", t0() - secs(300)).await.expect("300 s old");
    send("latest", t0() + secs(60)).await.expect("60 s ahead");
    for (id, issued_at, says) in [
        ("stale-ms", t0() - secs(300) - ms(1), "issued 300.001 s ago"),
        (
            "stale-ns",
            t0() - secs(300) - ns(1),
            "issued 300.000000001 s ago",
        ),
        (
            "ahead-ms",
            t0() + secs(60) + ms(1),
            "issued 60.001 s in the future",
        ),
        (
            "ahead-ns",
            t0() + secs(60) + ns(1),
            "issued 60.000000001 s in the future",
        ),
    ] {
        let e = send(id, issued_at).await.expect_err(id);
        assert_eq!(e.code(), Code::Unauthenticated, "{id}: {e:?}");
        assert!(e.message().contains(says), "{id}: {}", e.message());
    }
    // What the server accepted, its auditors accept.
    assert_eq!(common::verify_over_the_wire(&admin).await, 3);
}

/// `dbond` with arguments; panics with its output unless it succeeds.
fn dbond_ok(args: &[&str]) -> String {
    let (ok, out, err) = Server::dbond(args);
    assert!(ok, "dbond {args:?} failed:\n{out}\n{err}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehearsal_ledger_says_so_for_good_and_production_refuses_the_clock() {
    let start = "2027-01-01T00:00:00Z";
    let mut server = Server::start_with(&["--clock", "simulated", "--start", start]);
    let info = dbond::client::ledger_info(&dbond::client::channel(&server.addr).await.unwrap())
        .await
        .unwrap();
    assert!(info.simulated_clock, "GetLedgerInfo says it is a rehearsal");
    let now = dbond::codec::timestamp_from_pb("now", info.now.as_ref()).unwrap();
    let start_t: DateTime<Utc> = start.parse().unwrap();
    assert!(
        now >= start_t && now < start_t + Duration::hours(1),
        "{now}"
    );

    // The admin moves the clock; clients sign with the server's time.
    let admin_key = server.data.join("admin.key");
    let (key, addr) = (admin_key.to_str().unwrap(), server.addr.as_str());
    let moved = dbond_ok(&[
        "clock", "advance", "--server", addr, "--key", key, "--days", "30", "--json",
    ]);
    let moved: serde_json::Value = serde_json::from_str(&moved).unwrap();
    let moved_to: DateTime<Utc> = moved["now"].as_str().unwrap().parse().unwrap();
    assert!(moved_to >= start_t + Duration::days(30), "{moved}");
    let admin = server.admin().await;
    let bank_key = new_key();
    let reply = admin
        .register(
            "bank-a",
            pb::Role::Bank,
            &bank_key.verifying_key(),
            "Bank A",
        )
        .await
        .expect("a request signed at the server's simulated time");
    let recorded =
        dbond::codec::timestamp_from_pb("t", reply.receipt.unwrap().recorded_at.as_ref()).unwrap();
    assert!(
        recorded >= moved_to,
        "recorded at the simulated time {recorded}"
    );
    // Only forward, only the admin.
    let back = admin
        .advance_clock(start_t)
        .await
        .expect_err("back in time");
    assert_eq!(back.code(), Code::InvalidArgument, "{back:?}");
    assert!(back.message().contains("moves forward only"), "{back:?}");
    let bank = admin.as_key(bank_key);
    let denied = bank
        .advance_clock(moved_to + Duration::days(1))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    server.stop();

    // `dbond verify` says which clock; --production refuses a rehearsal ledger.
    let data = server.data.to_str().unwrap().to_string();
    let out = dbond_ok(&["verify", "--data", &data]);
    assert!(out.contains("clock: SIMULATED"), "{out}");
    let (ok, out, err) = Server::dbond(&["verify", "--data", &data, "--production"]);
    assert!(!ok, "--production accepted a rehearsal ledger: {out}");
    assert!(err.contains("rehearsal ledger"), "{err}");

    // Served on its own clock only, which resumes where the ledger stopped.
    let (ok, _, err) = Server::dbond(&["serve", "--data", &data, "--listen", "127.0.0.1:0"]);
    assert!(!ok, "a rehearsal ledger served on the system clock");
    assert!(err.contains("serve it with --clock simulated"), "{err}");
    let again = Server::start_on_with(
        &server.data,
        &["--clock", "simulated", "--start", "2026-01-01T00:00:00Z"],
    );
    let info = dbond::client::ledger_info(&dbond::client::channel(&again.addr).await.unwrap())
        .await
        .unwrap();
    let now = dbond::codec::timestamp_from_pb("now", info.now.as_ref()).unwrap();
    assert!(
        now >= recorded,
        "the clock resumed at {now}, before {recorded}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_production_server_refuses_the_clock_controls() {
    let mut server = Server::start();
    let admin = server.admin().await;
    let e = admin
        .advance_clock(Utc::now() + Duration::days(30))
        .await
        .expect_err("a production clock moved");
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("system clock"), "{}", e.message());
    let key = server.data.join("admin.key");
    let (ok, _, err) = Server::dbond(&[
        "clock",
        "advance",
        "--server",
        &server.addr,
        "--key",
        key.to_str().unwrap(),
        "--days",
        "1",
    ]);
    assert!(!ok && err.contains("FailedPrecondition"), "{err}");
    server.stop();
    let data = server.data.to_str().unwrap().to_string();
    let out = dbond_ok(&["verify", "--data", &data, "--production"]);
    assert!(out.contains("clock: production"), "{out}");
    let (ok, _, err) = Server::dbond(&[
        "serve",
        "--data",
        &data,
        "--listen",
        "127.0.0.1:0",
        "--clock",
        "simulated",
    ]);
    assert!(!ok, "a production ledger served on a simulated clock");
    assert!(err.contains("production ledger"), "{err}");
    let (ok, _, err) =
        Server::dbond(&["serve", "--data", &data, "--start", "2027-01-01T00:00:00Z"]);
    assert!(!ok && err.contains("--clock simulated"), "{err}");
}
