//! The test vectors in docs/LEDGER_FORMAT.md are generated here and checked here,
//! so the document and the code cannot drift apart. `DBOND_WRITE_VECTORS=1 cargo
//! test --test ledger-tests format_vectors::` rewrites the vector section after a
//! deliberate format change.

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
const BEGIN: &str = "<!-- vectors:begin -->";
const END: &str = "<!-- vectors:end -->";

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

/// A three-entry ledger from fixed keys, times and nonces.
fn build() -> Vec<(String, String)> {
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

fn render(vectors: &[(String, String)]) -> String {
    let mut s = String::from(BEGIN);
    s.push_str("\n```text\n");
    for (k, v) in vectors {
        s.push_str(&format!("{k} = {v}\n"));
    }
    s.push_str("```\n");
    s.push_str(END);
    s
}

fn doc_vectors() -> BTreeMap<String, String> {
    let doc = std::fs::read_to_string(DOC).expect("read LEDGER_FORMAT.md");
    let start = doc.find(BEGIN).expect("vectors:begin marker");
    let end = doc.find(END).expect("vectors:end marker");
    doc[start..end]
        .lines()
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn document_vectors_are_what_the_code_produces() {
    let generated = build();
    if std::env::var("DBOND_WRITE_VECTORS").is_ok() {
        let doc = std::fs::read_to_string(DOC).unwrap();
        let start = doc.find(BEGIN).unwrap();
        let end = doc.find(END).unwrap() + END.len();
        let new = format!("{}{}{}", &doc[..start], render(&generated), &doc[end..]);
        std::fs::write(DOC, new).unwrap();
    }
    let documented = doc_vectors();
    for (k, v) in &generated {
        assert_eq!(
            documented.get(k),
            Some(v),
            "vector {k} in docs/LEDGER_FORMAT.md is stale (DBOND_WRITE_VECTORS=1 regenerates)"
        );
    }
    assert_eq!(documented.len(), generated.len());
}

fn hashes(list: &str) -> Vec<[u8; 32]> {
    list.split(',')
        .map(|h| hex::decode(h).unwrap().try_into().unwrap())
        .collect()
}

#[test]
fn document_vectors_verify_and_their_tampered_twins_do_not() {
    let v = doc_vectors();
    let entries: Vec<Vec<u8>> = (0..3)
        .map(|i| hex::decode(&v[&format!("entry_{i}")]).unwrap())
        .collect();
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

    // Exports: both verify; every byte of each is checked.
    for name in ["export_3", "export_2_of_3"] {
        let bytes = hex::decode(&v[name]).unwrap();
        let done = verify_export(&bytes[..], &[], |_, _| {}).unwrap();
        assert_eq!(done.checkpoint.size, 3);
        for pos in 0..bytes.len() {
            let mut t = bytes.clone();
            t[pos] ^= 0x01;
            assert!(
                verify_export(&t[..], &[], |_, _| {}).is_err(),
                "{name}: flipped bit at byte {pos} went unnoticed"
            );
        }
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
