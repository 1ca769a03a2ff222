//! Checkpoint notes. Arbitrary text is parsed with `ledger::checkpoint::parse_unverified`
//! and opened with `ledger::checkpoint::open` and `open_cosigned` (fixed key, and the
//! key name the note itself names). Nothing may panic; a note that parses has exactly
//! one spelling (its text is the checkpoint's `body()`), every checkpoint that
//! validates is signed and opened back to itself, and `open` accepts only what
//! `open_cosigned` accepts.
#![no_main]

use dbond::ledger::checkpoint::{self, Checkpoint};
use dbond::ledger::merkle;
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

/// The key and name of the checkpoint in docs/LEDGER_FORMAT.md's test vectors.
const KEY_NAME: &str = "example.org/dbond-vectors";

fuzz_target!(|data: &[u8]| {
    let key = SigningKey::from_bytes(&[1u8; 32]);
    let public = key.verifying_key();
    let Ok(note) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(strict) = checkpoint::open(note, KEY_NAME, &public) {
        assert_eq!(
            checkpoint::open_cosigned(note, KEY_NAME, &public).as_ref(),
            Ok(&strict)
        );
    }
    if let Ok((cp, signatures)) = checkpoint::parse_unverified(note) {
        let body = cp.body();
        assert!(
            note.starts_with(&body),
            "parsed checkpoint is not the note's text"
        );
        assert_eq!(note.as_bytes().get(body.len()), Some(&b'\n'));
        for line in &signatures {
            let _ = checkpoint::open(note, &line.key_name, &public);
            let _ = checkpoint::open_cosigned(note, &line.key_name, &public);
        }
        if cp.validate().is_ok() {
            roundtrip(&cp, &key);
        }
    }
    // The text as a checkpoint's origin.
    let cp = Checkpoint {
        origin: note.to_string(),
        size: data.len() as u64,
        root: merkle::hash_leaf(data),
        extensions: note.lines().skip(1).map(str::to_string).collect(),
    };
    if cp.validate().is_ok() {
        roundtrip(&cp, &key);
    }
    if checkpoint::validate_key_name(note).is_ok() {
        let _ = checkpoint::key_hash(note, &public);
    }
});

fn roundtrip(cp: &Checkpoint, key: &SigningKey) {
    let signed = checkpoint::sign(cp, KEY_NAME, key);
    let opened = checkpoint::open_cosigned(&signed, KEY_NAME, &key.verifying_key())
        .unwrap_or_else(|e| panic!("a signed checkpoint does not open: {e}\n{signed}"));
    assert_eq!(&opened, cp);
    // A note of the ledger's own form (no extension lines) opens strictly too.
    let strict = checkpoint::open(&signed, KEY_NAME, &key.verifying_key());
    assert_eq!(strict.is_ok(), cp.extensions.is_empty(), "{signed}");
}
