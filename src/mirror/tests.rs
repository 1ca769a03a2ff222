//! The mirror against ledgers in this process: a source that is a store of its
//! own (its entries, notes and proofs served as a server serves them), and twins
//! of it (the same keys, another history) for forks and rollbacks.

use super::*;
use crate::audit::source::{SignedHead, SourcedEntry};
use crate::clock::{Clock, ManualClock};
use crate::ledger::keys::{self, REQUEST_CONTEXT};
use crate::ledger::merkle::{self, Hash};
use crate::proto as pb;
use crate::registry::ParticipantId;
use crate::store::{Genesis, WriteRequest};
use ed25519_dalek::SigningKey;
use prost::Message;

const ORIGIN: &str = "mirror.test/dbond";

/// A source ledger in this process, with its keys and clock.
struct Source {
    ledger: Store,
    admin: SigningKey,
    clock: Arc<ManualClock>,
    /// A note to present instead of the ledger's own.
    head_note: Option<String>,
    _dir: tempfile::TempDir,
}

impl Source {
    /// A new ledger of `ledger_key` and `admin`, its genesis recorded at `at`.
    fn new(
        ledger_key: &SigningKey,
        admin: &SigningKey,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Source {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(at));
        let ledger = Store::create(
            &dir.path().join("store"),
            ledger_key,
            Genesis {
                origin: ORIGIN.into(),
                admin_participant_id: ParticipantId::parse("id", "admin").unwrap(),
                admin_key: admin,
            },
            clock.clone(),
        )
        .unwrap();
        Source {
            ledger,
            admin: admin.clone(),
            clock,
            head_note: None,
            _dir: dir,
        }
    }

    /// A new ledger whose server holds `next` as its next ledger key.
    fn with_next(next: &SigningKey) -> Source {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let admin = keys::generate();
        let ledger = Store::create_with(
            &dir.path().join("store"),
            keys::generate(),
            Genesis {
                origin: ORIGIN.into(),
                admin_participant_id: ParticipantId::parse("id", "admin").unwrap(),
                admin_key: &admin,
            },
            clock.clone(),
            crate::store::StoreOptions {
                next_ledger_key: Some(crate::store::NextLedgerKey::new(next.clone())),
                ..Default::default()
            },
        )
        .unwrap();
        Source {
            ledger,
            admin,
            clock,
            head_note: None,
            _dir: dir,
        }
    }

    /// Hands the ledger key over to `next`.
    async fn rotate(&self, next: &SigningKey) {
        let kind = pb::command::Kind::RotateLedgerKey(pb::RotateLedgerKey {
            new_public_key: next.verifying_key().to_bytes().to_vec(),
        });
        let command = crate::codec::command_from_kind(&kind).unwrap();
        let payload = pb::RequestPayload {
            ledger_origin: ORIGIN.into(),
            issued_at: Some(crate::codec::timestamp_to_pb(self.clock.now())),
            nonce: rand::random::<[u8; 16]>().to_vec(),
            command: Some(pb::Command { kind: Some(kind) }),
        }
        .encode_to_vec();
        let signature = keys::sign(&self.admin, REQUEST_CONTEXT, &payload);
        self.ledger
            .write(WriteRequest {
                key_id: KeyId::of(&self.admin.verifying_key()),
                payload,
                signature: signature.to_bytes().to_vec(),
                command,
            })
            .await
            .unwrap();
    }

    fn fresh() -> Source {
        Source::new(&keys::generate(), &keys::generate(), chrono::Utc::now())
    }

    /// The admin's request to register bank `id`, with `nonce`.
    fn registration(&self, id: &str, nonce: &[u8]) -> WriteRequest {
        let kind = pb::command::Kind::RegisterParticipant(pb::RegisterParticipant {
            participant_id: id.into(),
            role: pb::Role::Bank as i32,
            public_key: keys::generate().verifying_key().to_bytes().to_vec(),
            display_name: "Bank".into(),
        });
        let command = crate::codec::command_from_kind(&kind).unwrap();
        let payload = pb::RequestPayload {
            ledger_origin: ORIGIN.into(),
            issued_at: Some(crate::codec::timestamp_to_pb(self.clock.now())),
            nonce: nonce.to_vec(),
            command: Some(pb::Command { kind: Some(kind) }),
        }
        .encode_to_vec();
        let signature = keys::sign(&self.admin, REQUEST_CONTEXT, &payload);
        WriteRequest {
            key_id: KeyId::of(&self.admin.verifying_key()),
            payload,
            signature: signature.to_bytes().to_vec(),
            command,
        }
    }

    /// Registers banks `{prefix}-0..{count}`, in as few group commits as the
    /// writer takes them.
    async fn banks(&self, prefix: &str, count: usize) {
        let requests = (0..count)
            .map(|i| {
                let id = format!("{prefix}-{i}");
                let mut nonce = rand::random::<[u8; 16]>().to_vec();
                nonce.extend_from_slice(id.as_bytes());
                self.registration(&id, &nonce)
            })
            .collect();
        for outcome in self.ledger.write_many(requests).await {
            outcome.unwrap();
        }
    }

    fn note(&self) -> String {
        self.ledger.read(|p| p.checkpoint.clone())
    }

    fn records(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.ledger.read(|p| p.state.records())
    }
}

impl EntrySource for Source {
    type Entries = tokio_stream::Iter<std::vec::IntoIter<anyhow::Result<SourcedEntry>>>;

    async fn head(&self) -> anyhow::Result<SignedHead> {
        let note = self.head_note.clone().unwrap_or_else(|| self.note());
        let (cp, _) = crate::ledger::checkpoint::parse_unverified(&note)?;
        Ok(SignedHead {
            tree_size: cp.size,
            checkpoint: note,
        })
    }

    async fn entries(&self, start: u64, end: u64) -> anyhow::Result<Self::Entries> {
        let entries: Vec<anyhow::Result<SourcedEntry>> = self
            .ledger
            .entries(start, end)
            .map(|item| {
                item.map(|(index, bytes)| SourcedEntry { index, bytes })
                    .map_err(anyhow::Error::from)
            })
            .collect();
        Ok(tokio_stream::iter(entries))
    }
}

impl ProofSource for Source {
    async fn consistency_proof(&self, old_size: u64, new_size: u64) -> anyhow::Result<Vec<Hash>> {
        Ok(merkle::consistency_proof(
            old_size,
            new_size,
            &self.ledger.nodes(),
        )?)
    }
}

fn open(dir: &Path) -> Mirror {
    Mirror::open(dir, MirrorOptions::default()).unwrap()
}

/// The mirror holds exactly what `source` holds: its note and state records.
fn same(mirror: &Mirror, source: &Source) {
    assert_eq!(mirror.size(), source.ledger.size());
    assert_eq!(mirror.checkpoint().unwrap(), source.note());
    let records = mirror.ledger().unwrap().read(|p| p.state.records());
    assert_eq!(records, source.records(), "state records");
}

fn evidence(e: MirrorError, says: &str) -> Vec<PathBuf> {
    match e {
        MirrorError::Evidence { what, kept } => {
            assert!(what.contains(says), "{what}");
            kept
        }
        other => panic!("expected evidence of {says}, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_copies_a_ledger_then_follows_it_across_a_reopen() {
    let source = Source::fresh();
    source.banks("first", 3).await;
    let dir = tempfile::tempdir().unwrap();
    let mut mirror = open(dir.path());
    assert_eq!(mirror.size(), 0);
    let round = mirror.catch_up(&source, Instant::now()).await.unwrap();
    assert_eq!(
        round,
        Round {
            source_size: 4,
            size: 4
        }
    );
    same(&mirror, &source);
    assert!(!mirror.folder().seeding(), "the first copy is finished");
    assert_eq!(
        keys::read_public_key(&mirror.folder().ledger_public_key()).unwrap(),
        *source.ledger.ledger_public_key()
    );

    // A group of many, then nothing new.
    source.banks("second", 600).await;
    mirror.catch_up(&source, Instant::now()).await.unwrap();
    same(&mirror, &source);
    let round = mirror.catch_up(&source, Instant::now()).await.unwrap();
    assert_eq!(round.size, 604);

    // Closed and opened again, it goes on from its own size.
    mirror.close().unwrap();
    source.banks("third", 5).await;
    let mut mirror = open(dir.path());
    assert_eq!(mirror.size(), 604);
    mirror.catch_up(&source, Instant::now()).await.unwrap();
    same(&mirror, &source);

    // The folder keeps the note of its size only, and verifies as a store.
    let kept: Vec<String> = std::fs::read_dir(mirror.folder().checkpoints())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("checkpoint-"))
        .collect();
    assert_eq!(kept, [format!("checkpoint-{:020}.txt", 609)]);
    mirror.close().unwrap();
    let verified = crate::audit::verify_store(&dir.path().join("store"), |_, _| {})
        .expect("the copy verifies");
    assert_eq!(verified.size, 609);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_copy_larger_than_a_seed_group_is_written_in_groups() {
    let source = Source::fresh();
    let many = limits::MIRROR_SEED_GROUP_RECORDS * 2 + 10;
    source.banks("bank", many).await;
    let dir = tempfile::tempdir().unwrap();
    let mut mirror = open(dir.path());
    mirror.catch_up(&source, Instant::now()).await.unwrap();
    same(&mirror, &source);
    mirror.close().unwrap();
    crate::audit::verify_store(&dir.path().join("store"), |_, _| {}).expect("the copy verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_first_copy_is_removed_and_made_again() {
    let source = Source::fresh();
    source.banks("bank", 2).await;
    let dir = tempfile::tempdir().unwrap();
    // What a first copy cut off leaves: the mark and a store that is no ledger.
    std::fs::create_dir_all(dir.path().join("store")).unwrap();
    std::fs::write(dir.path().join("store").join("db"), b"half").unwrap();
    std::fs::write(dir.path().join("store.unfinished"), b"").unwrap();
    let mut mirror = open(dir.path());
    assert_eq!(mirror.size(), 0);
    assert!(!mirror.folder().has_store() && !mirror.folder().seeding());
    mirror.catch_up(&source, Instant::now()).await.unwrap();
    same(&mirror, &source);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_used_again_after_a_reopen_is_refused() {
    let source = Source::fresh();
    let nonce = [9u8; 16];
    source
        .ledger
        .write(source.registration("bank-a", &nonce))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut mirror = open(dir.path());
    mirror.catch_up(&source, Instant::now()).await.unwrap();
    mirror.close().unwrap();
    // Long after, the same key signs another request with the same nonce. The
    // store takes it (nonces are the service's to refuse, within its window);
    // a verifier that knows the ledger's nonces does not.
    source
        .clock
        .set(source.clock.now() + chrono::Duration::seconds(3600));
    source
        .ledger
        .write(source.registration("bank-b", &nonce))
        .await
        .unwrap();
    let mut mirror = open(dir.path());
    match mirror.catch_up(&source, Instant::now()).await {
        Err(MirrorError::Unverified(e)) => assert!(e.contains("nonce was already used"), "{e}"),
        other => panic!("expected the replay refused, got {:?}", other.map(|_| ())),
    }
    assert_eq!(mirror.size(), 2, "nothing of it is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_and_forks_stop_the_mirror_with_both_notes_kept() {
    let (ledger_key, admin) = (keys::generate(), keys::generate());
    let t0 = chrono::Utc::now();
    let source = Source::new(&ledger_key, &admin, t0);
    source.banks("a", 6).await;
    let dir = tempfile::tempdir().unwrap();
    let mut mirror = open(dir.path());
    mirror.catch_up(&source, Instant::now()).await.unwrap();
    let held = source.note();
    let checkpoints = mirror.folder().checkpoints();

    // A twin: the same keys and origin, another history.
    let twin = Source::new(&ledger_key, &admin, t0 + chrono::Duration::seconds(1));
    twin.banks("b", 3).await;
    let follow = async |mirror: &mut Mirror, twin: &Source| {
        let options = FollowOptions::new("twin");
        follow::follow(mirror, twin, &options, None, std::future::pending())
            .await
            .unwrap_err()
    };
    // Smaller: a rollback. Health turns NOT_SERVING: the copy's ledger says why.
    let kept = evidence(follow(&mut mirror, &twin).await, "ROLLBACK");
    assert!(kept.iter().all(|p| p.exists()), "{kept:?}");
    assert!(kept[1].starts_with(&checkpoints));
    assert_eq!(std::fs::read_to_string(&kept[1]).unwrap(), twin.note());
    assert!(
        mirror
            .ledger()
            .unwrap()
            .failure()
            .unwrap()
            .contains("ROLLBACK")
    );
    mirror.close().unwrap();

    // The same size, another root: a fork.
    twin.banks("c", 3).await;
    let mut mirror = open(dir.path());
    let kept = evidence(follow(&mut mirror, &twin).await, "FORK");
    assert_eq!(std::fs::read_to_string(&kept[0]).unwrap(), held);
    assert_eq!(std::fs::read_to_string(&kept[1]).unwrap(), twin.note());
    mirror.close().unwrap();

    // Larger, and no consistency proof links it to what was held: a fork.
    twin.banks("d", 5).await;
    let mut mirror = open(dir.path());
    let kept = evidence(follow(&mut mirror, &twin).await, "consistency proof");
    assert_eq!(std::fs::read_to_string(&kept[1]).unwrap(), twin.note());
    // What the mirror held is untouched.
    assert_eq!(mirror.size(), 7);
    assert_eq!(mirror.checkpoint().unwrap(), held);
    mirror.close().unwrap();
    crate::audit::verify_store(&dir.path().join("store"), |_, _| {}).expect("the copy verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_of_another_ledger_key_is_refused() {
    let source = Source::fresh();
    source.banks("bank", 2).await;
    // Pinned to another key: refused at the first note, nothing stored.
    let dir = tempfile::tempdir().unwrap();
    let mut mirror = Mirror::open(
        dir.path(),
        MirrorOptions {
            ledger_key: Some(keys::generate().verifying_key()),
            ..Default::default()
        },
    )
    .unwrap();
    match mirror.catch_up(&source, Instant::now()).await {
        Err(MirrorError::Unverified(e)) => assert!(e.contains("not signed by ledger key"), "{e}"),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
    assert!(!mirror.folder().has_store());

    // Unpinned, with a note signed by another key: refused once genesis names
    // the key, and the first copy is not finished.
    let forged = Source::fresh();
    forged.banks("bank", 2).await;
    let mut source = source;
    source.head_note = Some(forged.note());
    let dir = tempfile::tempdir().unwrap();
    let mut mirror = open(dir.path());
    match mirror.catch_up(&source, Instant::now()).await {
        Err(MirrorError::Unverified(e)) => assert!(e.contains("not signed by ledger key"), "{e}"),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
    assert_eq!(mirror.size(), 0);
    assert!(mirror.ledger().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_that_disagree_with_the_signed_note_are_refused() {
    let (ledger_key, admin) = (keys::generate(), keys::generate());
    let t0 = chrono::Utc::now();
    let mut source = Source::new(&ledger_key, &admin, t0);
    source.banks("a", 3).await;
    let twin = Source::new(&ledger_key, &admin, t0 + chrono::Duration::seconds(1));
    twin.banks("b", 3).await;
    // The twin's note (same key, same size) over the source's entries.
    source.head_note = Some(twin.note());
    let dir = tempfile::tempdir().unwrap();
    let mut mirror = open(dir.path());
    match mirror.catch_up(&source, Instant::now()).await {
        Err(MirrorError::Unverified(e)) => assert!(e.contains("entries make size 4"), "{e}"),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
    assert_eq!(mirror.size(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_follows_its_source_across_a_ledger_key_rotation() {
    let next = keys::generate();
    let source = Source::with_next(&next);
    source.banks("before", 3).await;
    let dir = tempfile::tempdir().unwrap();
    let mut mirror = open(dir.path());
    mirror.catch_up(&source, Instant::now()).await.unwrap();
    same(&mirror, &source);
    // The hand-over and entries under the new key, in the mirror's next round.
    source.rotate(&next).await;
    source.banks("after", 4).await;
    let (note, _) = crate::ledger::checkpoint::parse_unverified(&source.note()).unwrap();
    assert!(
        crate::ledger::checkpoint::open(&source.note(), &note.origin, &next.verifying_key())
            .is_ok(),
        "the source's note is the new key's"
    );
    mirror.catch_up(&source, Instant::now()).await.unwrap();
    same(&mirror, &source);
    // Reopened, it holds the new key's note and goes on following.
    mirror.close().unwrap();
    source.banks("reopened", 2).await;
    let mut mirror = open(dir.path());
    mirror.catch_up(&source, Instant::now()).await.unwrap();
    same(&mirror, &source);
    assert_eq!(mirror.size(), 1 + 3 + 1 + 4 + 2);
    // A first copy made after the rotation follows the chain from genesis too.
    let fresh_dir = tempfile::tempdir().unwrap();
    let mut fresh = open(fresh_dir.path());
    fresh.catch_up(&source, Instant::now()).await.unwrap();
    same(&fresh, &source);
}
