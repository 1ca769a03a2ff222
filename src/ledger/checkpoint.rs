//! C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint) in C2SP signed-note form
//! (https://c2sp.org/signed-note) with Ed25519 signatures: the log's signed tree head.
//!
//! Invariant: `open` and `open_cosigned` return a checkpoint only after an Ed25519
//! signature by the expected key (name, key hash and public key all matching) has
//! verified over the exact note text, and that text is byte for byte
//! `Checkpoint::body()` of what they return: parsing accepts one spelling per
//! checkpoint (canonical decimal size, canonical base64 root and signatures), so no
//! two notes mean the same checkpoint. `open` (a dbond ledger's own notes) also
//! leaves no byte unverified: the note is the three checkpoint lines and exactly
//! one signature line, the ledger key's.
//!
//! Note layout, which `sign` writes and `open_cosigned` reads (`open`: no extension
//! lines, one signature line):
//!
//! ```text
//! <origin>\n
//! <size, decimal>\n
//! <root, base64>\n
//! [<extension line>\n ...]
//! \n
//! — <key name> <base64(key hash[4] || Ed25519 signature[64])>\n
//! [more signature lines, from any keys]
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{SIGNATURE_LENGTH, Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::{HASH_BYTES, Hash, Hex};
use super::signer::{SignError, Signer};

/// Largest note `open` and `parse_unverified` will read. A checkpoint with a few
/// Ed25519 signatures is a few hundred bytes; the bound leaves room for the 16
/// signatures C2SP requires verifiers to accept even at post-quantum sizes (about
/// 6.5 KiB of base64 each), and caps the memory one hostile note can cost.
pub const NOTE_BYTES_MAX: usize = 256 * 1024;

/// Largest checkpoint text (origin, size, root and extensions). A real one is under
/// 200 bytes; the bound keeps a signed note of it, plus one of our signature lines,
/// inside `NOTE_BYTES_MAX`, so whatever `sign` writes, `open` reads.
pub const TEXT_BYTES_MAX: usize = 64 * 1024;

/// Longest key name, in bytes. C2SP sets none; the bound keeps a signature line small.
pub const KEY_NAME_BYTES_MAX: usize = 1024;

/// Most signature lines a note may carry (golang.org/x/mod/sumdb/note's limit).
pub const SIGNATURES_MAX: usize = 100;

/// C2SP: verifiers "MUST accept at least up to 16 signatures".
const SIGNATURES_REQUIRED_MIN: usize = 16;
const _: () = assert!(SIGNATURES_MAX >= SIGNATURES_REQUIRED_MIN);
/// Room for 16 post-quantum-sized signature lines (about 7 KiB each) after a text of
/// the largest size and its blank line.
const _: () = assert!(TEXT_BYTES_MAX + 1 + SIGNATURES_REQUIRED_MIN * 7 * 1024 <= NOTE_BYTES_MAX);
const _: () = assert!(KEY_NAME_BYTES_MAX + 200 <= 7 * 1024);

/// Bytes of the key ID that opens every signature.
const KEY_HASH_BYTES: usize = 4;

/// C2SP signed-note signature type identifier for Ed25519.
const SIGNATURE_TYPE_ED25519: u8 = 0x01;

/// Every signature line starts with U+2014 EM DASH and a space.
const SIGNATURE_LINE_PREFIX: &str = "\u{2014} ";

/// Lines before the extensions: origin, size, root.
const HEADER_LINES: usize = 3;

/// A log's signed tree head: the log identity, the tree size and its root hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `dbond.example/registry`. Non-empty, one line.
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Opaque extra lines, each non-empty; C2SP recommends none.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text: `"origin\nsize\nbase64(root)\n"`, then each extension line
    /// followed by `"\n"`.
    pub fn body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        );
        for extension in &self.extensions {
            body.push_str(extension);
            body.push('\n');
        }
        body
    }

    /// Checks that `body()` reads back as this very checkpoint: a non-empty origin,
    /// non-empty extensions, and no newline or other control character in either
    /// (an origin holding "\n" could otherwise smuggle in a size and root of its own).
    pub fn validate(&self) -> Result<(), CheckpointError> {
        if self.origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        if has_control(&self.origin) {
            return Err(CheckpointError::ControlCharacterInField { field: "origin" });
        }
        for (i, extension) in self.extensions.iter().enumerate() {
            if extension.is_empty() {
                return Err(CheckpointError::EmptyExtension {
                    line: HEADER_LINES + 1 + i,
                });
            }
            if has_control(extension) {
                return Err(CheckpointError::ControlCharacterInField { field: "extension" });
            }
        }
        let text_bytes = self.body().len();
        if text_bytes > TEXT_BYTES_MAX {
            return Err(CheckpointError::TextTooLarge {
                found: text_bytes,
                max: TEXT_BYTES_MAX,
            });
        }
        Ok(())
    }
}

/// One signature line of a note, decoded but not verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureLine {
    pub key_name: String,
    pub key_hash: [u8; 4],
    /// The signature proper, after the key hash (64 bytes for Ed25519).
    pub signature: Vec<u8>,
}

/// Why a note was refused. Messages say what was expected and what was found.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("note is {found} bytes, more than the limit of {max}")]
    TooLarge { found: usize, max: usize },
    #[error("checkpoint text is {found} bytes, more than the limit of {max}")]
    TextTooLarge { found: usize, max: usize },
    #[error(
        "note has control character {byte:#04x} at byte {offset}; only newline (0x0a) is allowed"
    )]
    ControlCharacter { offset: usize, byte: u8 },
    #[error("checkpoint {field} contains a newline or control character")]
    ControlCharacterInField { field: &'static str },
    #[error("note does not end with a newline")]
    MissingFinalNewline,
    #[error("note has no blank line between its text and its signatures")]
    MissingBlankLine,
    #[error("note has no signature lines after its blank line")]
    NoSignatures,
    #[error("note has more than {max} signature lines")]
    TooManySignatures { max: usize },
    #[error("signature line {line}: {reason}")]
    MalformedSignatureLine { line: usize, reason: &'static str },
    #[error(
        "key name {name:?} is invalid: expected 1 to {} bytes without spaces, '+' or control characters",
        KEY_NAME_BYTES_MAX
    )]
    InvalidKeyName { name: String },
    #[error("checkpoint text has {found} lines, expected at least 3 (origin, size, root hash)")]
    TooFewLines { found: usize },
    #[error("checkpoint origin is empty")]
    EmptyOrigin,
    #[error(
        "tree size {found:?} is not a canonical decimal u64 (digits only, no sign, no leading zeros)"
    )]
    NonCanonicalSize { found: String },
    #[error("root hash {found:?} is not canonical standard base64")]
    RootNotBase64 { found: String },
    #[error("root hash is {found} bytes, expected {expected}")]
    RootLength { expected: usize, found: usize },
    #[error("extension line {line} is empty")]
    EmptyExtension { line: usize },
    #[error("no signature line for key {key_name}+{}", Hex(.key_hash))]
    MissingSignature { key_name: String, key_hash: [u8; 4] },
    #[error("signature by key {key_name}+{} is {found} bytes, expected {expected}", Hex(.key_hash))]
    SignatureLength {
        key_name: String,
        key_hash: [u8; 4],
        expected: usize,
        found: usize,
    },
    #[error("signature by key {key_name}+{} does not verify over the note text", Hex(.key_hash))]
    BadSignature { key_name: String, key_hash: [u8; 4] },
    #[error(
        "note carries {found} signature lines; a ledger checkpoint carries exactly one, the ledger key's (no cosignatures, no repeats)"
    )]
    ExtraSignatureLines { found: usize },
    #[error("checkpoint text has {found} extension lines; a ledger checkpoint has none")]
    ExtensionLines { found: usize },
}

/// C2SP key ID of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || public key)[:4].
pub fn key_hash(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', SIGNATURE_TYPE_ED25519])
        .chain_update(key.as_bytes())
        .finalize();
    let mut hash = [0u8; KEY_HASH_BYTES];
    hash.copy_from_slice(&digest[..KEY_HASH_BYTES]);
    hash
}

/// Checks a key name against C2SP signed-note: non-empty, no Unicode space, no '+'
/// (and, as for the whole note, no control character), at most `KEY_NAME_BYTES_MAX`.
pub fn validate_key_name(name: &str) -> Result<(), CheckpointError> {
    let bad = |c: char| c.is_whitespace() || c == '+' || c < ' ';
    if name.is_empty() || name.len() > KEY_NAME_BYTES_MAX || name.chars().any(bad) {
        return Err(CheckpointError::InvalidKeyName {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Signs and returns the whole note text (body, blank line, one signature line).
///
/// # Panics
/// If `cp` fails `Checkpoint::validate` or `key_name` fails `validate_key_name`: the
/// log must never sign a note that would not read back as the checkpoint it meant.
/// Both come from the log itself (its configured origin and key name, its own tree),
/// so a failure here is a bug or a bad configuration that startup should have caught
/// with those same two functions.
pub fn sign(cp: &Checkpoint, key_name: &str, key: &SigningKey) -> String {
    let body = checked_body(cp, key_name);
    let signature = ed25519_dalek::Signer::sign(key, body.as_bytes());
    note(cp, body, key_name, &key.verifying_key(), &signature)
}

/// [`sign`] through the ledger key's [`Signer`] boundary (a key file or a token),
/// which may fail to sign.
///
/// # Panics
/// As [`sign`].
pub fn sign_with<S: Signer + ?Sized>(
    cp: &Checkpoint,
    key_name: &str,
    key: &S,
) -> Result<String, SignError> {
    let body = checked_body(cp, key_name);
    let signature = key.sign_raw(body.as_bytes())?;
    Ok(note(cp, body, key_name, &key.public_key(), &signature))
}

/// The note's text, once `cp` and `key_name` are known to read back.
fn checked_body(cp: &Checkpoint, key_name: &str) -> String {
    if let Err(e) = cp.validate().and_then(|()| validate_key_name(key_name)) {
        panic!("refusing to sign checkpoint: {e}");
    }
    cp.body()
}

/// The whole note: the text, a blank line and the signature line.
fn note(
    cp: &Checkpoint,
    body: String,
    key_name: &str,
    key: &VerifyingKey,
    signature: &Signature,
) -> String {
    let line = signature_line(key_name, key, signature);
    let note = format!("{body}\n{line}");
    // Assert in pairs: what we sign must read back as what we meant.
    debug_assert_eq!(
        parse_unverified(&note).map(|(parsed, _)| parsed).as_ref(),
        Ok(cp)
    );
    note
}

/// "— name base64(key hash || signature over text)\n".
fn signature_line(key_name: &str, key: &VerifyingKey, signature: &Signature) -> String {
    let mut blob = [0u8; KEY_HASH_BYTES + SIGNATURE_LENGTH];
    blob[..KEY_HASH_BYTES].copy_from_slice(&key_hash(key_name, key));
    blob[KEY_HASH_BYTES..].copy_from_slice(&signature.to_bytes());
    format!(
        "{SIGNATURE_LINE_PREFIX}{key_name} {}\n",
        BASE64.encode(blob)
    )
}

/// Opens a dbond ledger's checkpoint note: the signature line of (key_name, key)
/// verifies over the text, it is the note's only signature line, and the text is
/// the origin, size and root lines alone (no extensions). So every byte of the
/// note is under the one signature a verifier checks: a cosignature, a repeated
/// line or an extension line, which no verifier of the ledger could check or
/// would read, is refused. The origin is returned, not checked: the caller
/// compares it with the ledger it meant.
pub fn open(note: &str, key_name: &str, key: &VerifyingKey) -> Result<Checkpoint, CheckpointError> {
    validate_key_name(key_name)?;
    let (text, signatures) = split_note(note)?;
    verify_signatures(text, &signatures, key_name, key)?;
    if signatures.len() != 1 {
        return Err(CheckpointError::ExtraSignatureLines {
            found: signatures.len(),
        });
    }
    let checkpoint = parse_text(text)?;
    if !checkpoint.extensions.is_empty() {
        return Err(CheckpointError::ExtensionLines {
            found: checkpoint.extensions.len(),
        });
    }
    debug_assert_eq!(checkpoint.body(), text);
    Ok(checkpoint)
}

/// Opens any C2SP note signed by (key_name, key): finds its signature lines,
/// checks them, and returns the checkpoint, extension lines included.
///
/// Signature lines from other keys are ignored, as C2SP requires (witnesses'
/// cosignatures), but at least one line must be ours, and every line that carries
/// our name and key hash must verify. The origin is returned, not checked.
pub fn open_cosigned(
    note: &str,
    key_name: &str,
    key: &VerifyingKey,
) -> Result<Checkpoint, CheckpointError> {
    validate_key_name(key_name)?;
    let (text, signatures) = split_note(note)?;
    // The text is read only once it is known to be signed.
    verify_signatures(text, &signatures, key_name, key)?;
    let checkpoint = parse_text(text)?;
    debug_assert_eq!(checkpoint.body(), text);
    Ok(checkpoint)
}

/// Parse without verification (for showing a note), same syntax rules.
pub fn parse_unverified(note: &str) -> Result<(Checkpoint, Vec<SignatureLine>), CheckpointError> {
    let (text, signatures) = split_note(note)?;
    let checkpoint = parse_text(text)?;
    Ok((checkpoint, signatures))
}

fn has_control(s: &str) -> bool {
    s.bytes().any(|b| b < b' ')
}

/// Splits a signed note into its text (with the final newline) and its decoded
/// signature lines, enforcing the signed-note syntax.
fn split_note(note: &str) -> Result<(&str, Vec<SignatureLine>), CheckpointError> {
    if note.len() > NOTE_BYTES_MAX {
        return Err(CheckpointError::TooLarge {
            found: note.len(),
            max: NOTE_BYTES_MAX,
        });
    }
    // Also catches CRLF line endings: a '\r' is a control character.
    if let Some(offset) = note.bytes().position(|b| b < b' ' && b != b'\n') {
        return Err(CheckpointError::ControlCharacter {
            offset,
            byte: note.as_bytes()[offset],
        });
    }
    if !note.ends_with('\n') {
        return Err(CheckpointError::MissingFinalNewline);
    }
    // The text may hold blank lines of its own; the last one separates it from the
    // signatures, so what follows it has no blank line.
    let split = note
        .rfind("\n\n")
        .ok_or(CheckpointError::MissingBlankLine)?;
    let (text, signature_block) = (&note[..split + 1], &note[split + 2..]);
    if signature_block.is_empty() {
        return Err(CheckpointError::NoSignatures);
    }
    let mut signatures = Vec::new();
    for (i, line) in signature_block.split_terminator('\n').enumerate() {
        if i == SIGNATURES_MAX {
            return Err(CheckpointError::TooManySignatures {
                max: SIGNATURES_MAX,
            });
        }
        signatures.push(parse_signature_line(line, i + 1)?);
    }
    Ok((text, signatures))
}

fn parse_signature_line(line: &str, number: usize) -> Result<SignatureLine, CheckpointError> {
    let malformed = |reason| CheckpointError::MalformedSignatureLine {
        line: number,
        reason,
    };
    let rest = line.strip_prefix(SIGNATURE_LINE_PREFIX).ok_or(malformed(
        "expected it to start with an em dash (U+2014) and a space",
    ))?;
    let (key_name, encoded) = rest.split_once(' ').ok_or(malformed(
        "expected a key name, a space and a base64 signature",
    ))?;
    if validate_key_name(key_name).is_err() {
        return Err(malformed(
            "expected a valid key name (non-empty, not too long, no spaces, '+' or control characters)",
        ));
    }
    let blob = BASE64
        .decode(encoded)
        .map_err(|_| malformed("expected the signature in canonical standard base64"))?;
    if blob.len() <= KEY_HASH_BYTES {
        return Err(malformed(
            "expected a 4-byte key hash followed by a signature",
        ));
    }
    let (hash, signature) = blob.split_at(KEY_HASH_BYTES);
    let mut key_hash = [0u8; KEY_HASH_BYTES];
    key_hash.copy_from_slice(hash);
    Ok(SignatureLine {
        key_name: key_name.to_string(),
        key_hash,
        signature: signature.to_vec(),
    })
}

/// Verifies every signature line that names our key (name and key hash) and demands at
/// least one. Lines from other keys, even sharing our name or our hash but not both,
/// are ignored: C2SP allows witnesses' cosignatures and key rotation that way.
fn verify_signatures(
    text: &str,
    signatures: &[SignatureLine],
    key_name: &str,
    key: &VerifyingKey,
) -> Result<(), CheckpointError> {
    let hash = key_hash(key_name, key);
    let mut verified = 0usize;
    for line in signatures
        .iter()
        .filter(|line| line.key_name == key_name && line.key_hash == hash)
    {
        let bytes: [u8; SIGNATURE_LENGTH] =
            line.signature
                .as_slice()
                .try_into()
                .map_err(|_| CheckpointError::SignatureLength {
                    key_name: key_name.to_string(),
                    key_hash: hash,
                    expected: SIGNATURE_LENGTH,
                    found: line.signature.len(),
                })?;
        // Strict verification also refuses malleable (non-canonical) signatures.
        key.verify_strict(text.as_bytes(), &Signature::from_bytes(&bytes))
            .map_err(|_| CheckpointError::BadSignature {
                key_name: key_name.to_string(),
                key_hash: hash,
            })?;
        verified += 1;
    }
    if verified == 0 {
        return Err(CheckpointError::MissingSignature {
            key_name: key_name.to_string(),
            key_hash: hash,
        });
    }
    Ok(())
}

/// Reads the checkpoint lines of a note text (which ends in a newline).
fn parse_text(text: &str) -> Result<Checkpoint, CheckpointError> {
    if text.len() > TEXT_BYTES_MAX {
        return Err(CheckpointError::TextTooLarge {
            found: text.len(),
            max: TEXT_BYTES_MAX,
        });
    }
    let mut lines = text.split_terminator('\n');
    let mut next = |found| lines.next().ok_or(CheckpointError::TooFewLines { found });
    let origin = next(0)?;
    let size = next(1)?;
    let root = next(2)?;
    if origin.is_empty() {
        return Err(CheckpointError::EmptyOrigin);
    }
    let size = parse_size(size)?;
    let root = parse_root(root)?;
    let mut extensions = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.is_empty() {
            return Err(CheckpointError::EmptyExtension {
                line: HEADER_LINES + 1 + i,
            });
        }
        extensions.push(line.to_string());
    }
    Ok(Checkpoint {
        origin: origin.to_string(),
        size,
        root,
        extensions,
    })
}

/// ASCII decimal, no sign, no leading zeros unless the size is 0, within u64.
fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    let canonical = !line.is_empty()
        && line.bytes().all(|b| b.is_ascii_digit())
        && (line == "0" || !line.starts_with('0'));
    canonical
        .then(|| line.parse::<u64>().ok())
        .flatten()
        .ok_or_else(|| CheckpointError::NonCanonicalSize {
            found: line.to_string(),
        })
}

/// Standard base64 with padding, canonical (the decoder refuses stray trailing bits),
/// of exactly one hash.
fn parse_root(line: &str) -> Result<Hash, CheckpointError> {
    let bytes = BASE64
        .decode(line)
        .map_err(|_| CheckpointError::RootNotBase64 {
            found: line.to_string(),
        })?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| CheckpointError::RootLength {
            expected: HASH_BYTES,
            found: bytes.len(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ORIGIN: &str = "dbond.example/registry";

    /// Root of the 8-leaf RFC 6962 test tree (see `merkle` tests).
    const ROOT_8: &str = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328";

    fn root_8() -> Hash {
        let bytes: Vec<u8> = (0..ROOT_8.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&ROOT_8[i..i + 2], 16).expect("hex"))
            .collect();
        bytes.try_into().expect("32 bytes")
    }

    fn fixed_key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn other_key() -> SigningKey {
        SigningKey::from_bytes(&[9u8; 32])
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: ORIGIN.into(),
            size: 8,
            root: root_8(),
            extensions: vec![],
        }
    }

    /// Decodes a golang.org/x/mod/sumdb/note key string "name+hash+base64(0x01||key)".
    fn go_key(vkey: &str) -> (String, [u8; 4], [u8; 32]) {
        let mut parts = vkey.splitn(3, '+');
        let name = parts.next().expect("name").to_string();
        let hash = u32::from_str_radix(parts.next().expect("hash"), 16)
            .expect("hex key hash")
            .to_be_bytes();
        let blob = BASE64
            .decode(parts.next().expect("key"))
            .expect("base64 key");
        assert_eq!(blob[0], SIGNATURE_TYPE_ED25519);
        (name, hash, blob[1..].try_into().expect("32-byte key"))
    }

    // ---- external vectors ------------------------------------------------------------

    /// Keys and notes from golang.org/x/mod/sumdb/note's note_test.go
    /// (TestNewVerifier, TestSign, TestOpen).
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_SEED: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    /// sum.golang.org's verifier key (cmd/go/internal/modfetch/key.go) and a
    /// checkpoint it signed, retrieved from https://sum.golang.org/latest on
    /// 2024-09-23, as recorded in sigsum-go's pkg/checkpoint tests.
    const SUMDB_VKEY: &str = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
    const SUMDB_CHECKPOINT: &str = "go.sum database tree\n30055305\nmXfgRcJ0bG0j3CPdKwgGWtUzBUbX67saZGRmFuJGGsM=\n\n— sum.golang.org Az3grpgEild5qw7+5dtV13Kf1C2Xurm8q4fhdxvcsDHnqNTaxL2AFjBY+2TyGKevucFcAAlWFJJYle3EJlDCrQ+y3A8=\n";

    /// `sign(&checkpoint(), ORIGIN, &fixed_key())`, computed independently of this
    /// module with Python's `cryptography` (OpenSSL Ed25519), so a change to the
    /// format, the key hash or the signing input shows here.
    const FIXED_NOTE: &str = "dbond.example/registry\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n— dbond.example/registry hVqMmhFOmy5TMR3DQtD+4HhQ3brmhug15sZKfF9dyDjO3ohHAdwgN3CdBbWNVYfYSIQllF2wz9gw3eJiq0qraCy4xww=\n";
    /// The same with one extension line "bond-series ZA-2030".
    const FIXED_NOTE_WITH_EXTENSION: &str = "dbond.example/registry\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\nbond-series ZA-2030\n\n— dbond.example/registry hVqMmrUj7zUOwsfJj4I8hGd8UtGGJqI9NFAuShjnzhMmBsYR6ekBtnsaqI0aWIoDC7OJwdqfPR51/aUa1K67tXPlgwc=\n";

    #[test]
    fn key_hash_matches_go_sumdb_note_keys() {
        for vkey in [PETER_VKEY, ENOCH_VKEY, SUMDB_VKEY] {
            let (name, hash, key) = go_key(vkey);
            let key = VerifyingKey::from_bytes(&key).expect("valid key");
            assert_eq!(key_hash(&name, &key), hash, "{vkey}");
        }
        let seed: [u8; 32] = BASE64.decode(PETER_SEED).expect("base64")[1..]
            .try_into()
            .expect("32-byte seed");
        let (_, _, peter) = go_key(PETER_VKEY);
        assert_eq!(
            SigningKey::from_bytes(&seed).verifying_key().to_bytes(),
            peter
        );
    }

    #[test]
    fn signature_line_matches_go_sumdb_note_sign() {
        let seed: [u8; 32] = BASE64.decode(PETER_SEED).expect("base64")[1..]
            .try_into()
            .expect("32-byte seed");
        let signer = SigningKey::from_bytes(&seed);
        let signature = ed25519_dalek::Signer::sign(&signer, GO_TEXT.as_bytes());
        assert_eq!(
            signature_line("PeterNeumann", &signer.verifying_key(), &signature),
            PETER_SIG
        );
    }

    #[test]
    fn go_sumdb_note_open_vectors() {
        let key = |vkey| {
            let (name, _, key) = go_key(vkey);
            (name, VerifyingKey::from_bytes(&key).expect("valid key"))
        };
        let (peter_name, peter) = key(PETER_VKEY);
        let (enoch_name, enoch) = key(ENOCH_VKEY);
        let note = format!("{GO_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        let (text, lines) = split_note(&note).unwrap();
        assert_eq!(text, GO_TEXT);
        assert_eq!(lines.len(), 2);
        assert_eq!(verify_signatures(text, &lines, &peter_name, &peter), Ok(()));
        assert_eq!(verify_signatures(text, &lines, &enoch_name, &enoch), Ok(()));
        // Go's "invalid signature" case: four characters spliced into Peter's line.
        let bad = format!("{GO_TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        let (text, lines) = split_note(&bad).unwrap();
        assert!(matches!(
            verify_signatures(text, &lines, &peter_name, &peter),
            Err(CheckpointError::SignatureLength { found: 67, .. })
        ));
        // Go's malformed-note cases.
        for bad in [
            GO_TEXT.to_string(),
            format!("{GO_TEXT}\n"),
            format!("{GO_TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
            format!("\x01{GO_TEXT}\n{PETER_SIG}"),
            format!(
                "{GO_TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            ),
            format!("{GO_TEXT}\n{PETER_SIG}Unexpected line.\n"),
            format!("{GO_TEXT}\n{}", PETER_SIG.repeat(101)),
        ] {
            assert!(split_note(&bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn opens_a_real_sum_golang_org_checkpoint() {
        let (name, _, key) = go_key(SUMDB_VKEY);
        let key = VerifyingKey::from_bytes(&key).expect("valid key");
        let cp = open_cosigned(SUMDB_CHECKPOINT, &name, &key).unwrap();
        assert_eq!(cp.origin, "go.sum database tree");
        assert_eq!(cp.size, 30055305);
        assert_eq!(
            BASE64.encode(cp.root),
            "mXfgRcJ0bG0j3CPdKwgGWtUzBUbX67saZGRmFuJGGsM="
        );
        assert!(cp.extensions.is_empty());
        assert_eq!(
            cp.body(),
            SUMDB_CHECKPOINT.split("\n\n").next().unwrap().to_owned() + "\n"
        );
        // Its twin with one more leaf is refused.
        let twin = SUMDB_CHECKPOINT.replace("30055305", "30055306");
        assert_eq!(
            open_cosigned(&twin, &name, &key),
            Err(CheckpointError::BadSignature {
                key_name: name.clone(),
                key_hash: [0x03, 0x3d, 0xe0, 0xae]
            })
        );
    }

    // ---- our own format --------------------------------------------------------------

    #[test]
    fn body_is_the_c2sp_note_text() {
        assert_eq!(
            checkpoint().body(),
            "dbond.example/registry\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
        );
        let mut cp = checkpoint();
        cp.size = 0;
        cp.extensions = vec!["a".into(), "b c".into()];
        assert_eq!(
            cp.body(),
            "dbond.example/registry\n0\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\na\nb c\n"
        );
    }

    #[test]
    fn fixed_seed_note_is_byte_exact() {
        let key = fixed_key();
        assert_eq!(sign(&checkpoint(), ORIGIN, &key), FIXED_NOTE);
        let mut cp = checkpoint();
        cp.extensions = vec!["bond-series ZA-2030".into()];
        assert_eq!(sign(&cp, ORIGIN, &key), FIXED_NOTE_WITH_EXTENSION);
        assert_eq!(
            open_cosigned(FIXED_NOTE, ORIGIN, &key.verifying_key()),
            Ok(checkpoint())
        );
        assert_eq!(
            open_cosigned(FIXED_NOTE_WITH_EXTENSION, ORIGIN, &key.verifying_key()),
            Ok(cp)
        );
    }

    #[test]
    fn sign_open_round_trip() {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let cp = Checkpoint {
            origin: "log.example/ünïcode origin".into(),
            size: u64::MAX,
            root: [0xab; 32],
            extensions: vec!["x".into(), "— looks like a signature".into()],
        };
        let note = sign(&cp, "log.example/key", &key);
        assert_eq!(
            open_cosigned(&note, "log.example/key", &key.verifying_key()),
            Ok(cp.clone())
        );
        let (parsed, lines) = parse_unverified(&note).unwrap();
        assert_eq!(parsed, cp);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].key_name, "log.example/key");
        assert_eq!(
            lines[0].key_hash,
            key_hash("log.example/key", &key.verifying_key())
        );
        assert_eq!(lines[0].signature.len(), SIGNATURE_LENGTH);
    }

    // ---- tampered twins --------------------------------------------------------------

    /// Opens `note` with the fixed key under ORIGIN and expects `want`.
    fn check_open(name: &str, note: &str, want: CheckpointError) {
        assert_eq!(
            open_cosigned(note, ORIGIN, &fixed_key().verifying_key()),
            Err(want),
            "tampered twin '{name}'"
        );
    }

    #[test]
    fn tampered_twins_are_rejected() {
        let ours = key_hash(ORIGIN, &fixed_key().verifying_key());
        let bad_signature = || CheckpointError::BadSignature {
            key_name: ORIGIN.into(),
            key_hash: ours,
        };
        let missing = || CheckpointError::MissingSignature {
            key_name: ORIGIN.into(),
            key_hash: ours,
        };
        let (body, line) = FIXED_NOTE.split_once("\n\n").unwrap();
        let body = format!("{body}\n");

        // The flipped root character keeps canonical base64, so only the signature
        // can catch it.
        check_open(
            "flipped char in root",
            &FIXED_NOTE.replace("XcnaeacG", "XcnaeacH"),
            bad_signature(),
        );
        check_open(
            "size changed",
            &FIXED_NOTE.replacen("\n8\n", "\n9\n", 1),
            bad_signature(),
        );
        check_open(
            "origin changed",
            &FIXED_NOTE.replacen("dbond.example/registry\n", "dbond.example/registrz\n", 1),
            bad_signature(),
        );
        check_open(
            "extra text line",
            &format!("{body}extra\n\n{line}"),
            bad_signature(),
        );
        check_open(
            "extra line after the signature",
            &format!("{FIXED_NOTE}junk\n"),
            CheckpointError::MalformedSignatureLine {
                line: 2,
                reason: "expected it to start with an em dash (U+2014) and a space",
            },
        );
        check_open(
            "junk without newline",
            &format!("{FIXED_NOTE}junk"),
            CheckpointError::MissingFinalNewline,
        );
        check_open(
            "signature by another key",
            &sign(&checkpoint(), ORIGIN, &other_key()),
            missing(),
        );
        check_open(
            "key name mismatch",
            &sign(&checkpoint(), "dbond.example/other", &fixed_key()),
            missing(),
        );
        // Same name and key hash, but the signature line's bytes are from another key.
        let stolen_hash = {
            let theirs = sign(&checkpoint(), ORIGIN, &other_key());
            let (_, their_line) = theirs.split_once("\n\n").unwrap();
            let (_, their_b64) = their_line.trim_end().rsplit_once(' ').unwrap();
            let mut blob = BASE64.decode(their_b64).unwrap();
            blob[..4].copy_from_slice(&ours);
            format!("{body}\n— {ORIGIN} {}\n", BASE64.encode(blob))
        };
        check_open(
            "another key's signature under our hash",
            &stolen_hash,
            bad_signature(),
        );
        let truncated = {
            let (_, b64) = line.trim_end().rsplit_once(' ').unwrap();
            let blob = BASE64.decode(b64).unwrap();
            format!(
                "{body}\n— {ORIGIN} {}\n",
                BASE64.encode(&blob[..blob.len() - 1])
            )
        };
        check_open(
            "truncated signature",
            &truncated,
            CheckpointError::SignatureLength {
                key_name: ORIGIN.into(),
                key_hash: ours,
                expected: 64,
                found: 63,
            },
        );
        check_open(
            "truncated base64",
            &FIXED_NOTE.replace("xww=\n", "xw\n"),
            CheckpointError::MalformedSignatureLine {
                line: 1,
                reason: "expected the signature in canonical standard base64",
            },
        );
        check_open(
            "missing blank line",
            &FIXED_NOTE.replacen("\n\n", "\n", 1),
            CheckpointError::MissingBlankLine,
        );
        check_open(
            "crlf line endings",
            &FIXED_NOTE.replace('\n', "\r\n"),
            CheckpointError::ControlCharacter {
                offset: 22,
                byte: b'\r',
            },
        );
        check_open(
            "no signatures",
            &format!("{body}\n"),
            CheckpointError::NoSignatures,
        );
        check_open(
            "signature line without em dash",
            &FIXED_NOTE.replace("— ", "- "),
            CheckpointError::MalformedSignatureLine {
                line: 1,
                reason: "expected it to start with an em dash (U+2014) and a space",
            },
        );
        check_open(
            "nul byte",
            &FIXED_NOTE.replacen("8", "8\0", 1),
            CheckpointError::ControlCharacter {
                offset: 24,
                byte: 0,
            },
        );
        // A line from our key that fails poisons the note, even beside a good one.
        let (_, b64) = line.trim_end().rsplit_once(' ').unwrap();
        let mut blob = BASE64.decode(b64).unwrap();
        blob[10] ^= 1;
        let poisoned = format!("{FIXED_NOTE}— {ORIGIN} {}\n", BASE64.encode(&blob));
        check_open(
            "good and bad signature by our key",
            &poisoned,
            bad_signature(),
        );
    }

    #[test]
    fn signature_lines_from_other_keys_are_ignored() {
        let key = fixed_key().verifying_key();
        let ours = key_hash(ORIGIN, &key);
        let witness = sign(&checkpoint(), "witness.example/w1", &other_key());
        let (_, witness_line) = witness.split_once("\n\n").unwrap();
        // An unknown key sharing our name but not our hash, and one sharing our hash
        // but not our name: both ignored, as C2SP requires.
        let same_name = format!(
            "— {ORIGIN} {}\n",
            BASE64.encode([[1u8; 4].as_slice(), &[0u8; 64]].concat())
        );
        let same_hash = format!(
            "— other.example {}\n",
            BASE64.encode([ours.as_slice(), &[0u8; 64]].concat())
        );
        for note in [
            format!("{FIXED_NOTE}{witness_line}"),
            format!("{FIXED_NOTE}{same_name}{same_hash}"),
        ] {
            assert_eq!(
                open_cosigned(&note, ORIGIN, &key),
                Ok(checkpoint()),
                "{note}"
            );
        }
        let (body, _) = FIXED_NOTE.split_once("\n\n").unwrap();
        let only_others = format!("{body}\n\n{witness_line}{same_name}{same_hash}");
        assert_eq!(
            open_cosigned(&only_others, ORIGIN, &key),
            Err(CheckpointError::MissingSignature {
                key_name: ORIGIN.into(),
                key_hash: ours
            })
        );
        let (_, lines) = parse_unverified(&only_others).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].key_name, "witness.example/w1");
    }

    /// Parses a checkpoint text (unsigned) through the note parser.
    fn parse_body(body: &str) -> Result<Checkpoint, CheckpointError> {
        let note = format!("{body}\n— k {}\n", BASE64.encode([0u8; 68]));
        parse_unverified(&note).map(|(cp, _)| cp)
    }

    #[test]
    fn size_line_is_canonical_decimal() {
        let root = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=";
        let check = |size: &str, want: Result<u64, ()>| {
            let got = parse_body(&format!("o\n{size}\n{root}\n"));
            match want {
                Ok(n) => assert_eq!(got.map(|cp| cp.size), Ok(n), "{size:?}"),
                Err(()) => assert_eq!(
                    got,
                    Err(CheckpointError::NonCanonicalSize { found: size.into() }),
                    "{size:?}"
                ),
            }
        };
        check("0", Ok(0));
        check("1", Ok(1));
        check("30055305", Ok(30055305));
        check("18446744073709551615", Ok(u64::MAX));
        for bad in [
            "",
            "00",
            "01",
            "007",
            "+7",
            "-1",
            " 7",
            "7 ",
            "0x10",
            "1e3",
            "1_000",
            "18446744073709551616",
            "\u{0661}",
        ] {
            check(bad, Err(()));
        }
    }

    #[test]
    fn root_line_is_canonical_base64_of_32_bytes() {
        let check = |root: &str, want: CheckpointError| {
            assert_eq!(
                parse_body(&format!("o\n1\n{root}\n")),
                Err(want),
                "{root:?}"
            );
        };
        let not_b64 = |root: &str| CheckpointError::RootNotBase64 { found: root.into() };
        let good = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=";
        assert!(parse_body(&format!("o\n1\n{good}\n")).is_ok());
        for bad in [
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg", // padding missing
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyh=", // stray trailing bits
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz-Nw7_RgQyg=", // URL-safe alphabet
            "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg= ", // trailing space
            "",
        ] {
            if bad.is_empty() {
                check(
                    bad,
                    CheckpointError::RootLength {
                        expected: 32,
                        found: 0,
                    },
                );
            } else {
                check(bad, not_b64(bad));
            }
        }
        check(
            &BASE64.encode([1u8; 31]),
            CheckpointError::RootLength {
                expected: 32,
                found: 31,
            },
        );
        check(
            &BASE64.encode([1u8; 33]),
            CheckpointError::RootLength {
                expected: 32,
                found: 33,
            },
        );
    }

    #[test]
    fn text_structure_rules() {
        let root = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=";
        assert_eq!(
            parse_body(&format!("\n1\n{root}\n")),
            Err(CheckpointError::EmptyOrigin)
        );
        assert_eq!(
            parse_body("o\n1\n"),
            Err(CheckpointError::TooFewLines { found: 2 })
        );
        assert_eq!(
            parse_body("o\n"),
            Err(CheckpointError::TooFewLines { found: 1 })
        );
        // An empty line inside the text is an empty extension.
        assert_eq!(
            parse_body(&format!("o\n1\n{root}\n\next\n")),
            Err(CheckpointError::EmptyExtension { line: 4 })
        );
        assert_eq!(
            parse_body(&format!("o\n1\n{root}\nfirst\n\nthird\n")),
            Err(CheckpointError::EmptyExtension { line: 5 })
        );
        // Spaces and '+' are allowed in an origin (sum.golang.org's is
        // "go.sum database tree"), never in a key name.
        assert_eq!(
            parse_body(&format!("a b+c\n1\n{root}\n")).unwrap().origin,
            "a b+c"
        );
        for name in ["", "a b", "a+b", "a\u{a0}b", "a\tb"] {
            assert_eq!(
                validate_key_name(name),
                Err(CheckpointError::InvalidKeyName { name: name.into() })
            );
            assert_eq!(
                open_cosigned(FIXED_NOTE, name, &fixed_key().verifying_key()),
                Err(CheckpointError::InvalidKeyName { name: name.into() })
            );
        }
        assert_eq!(validate_key_name("dbond.example/registry"), Ok(()));
    }

    #[test]
    fn limits() {
        let line = FIXED_NOTE.split_once("\n\n").unwrap().1;
        let many = |n: usize| format!("{FIXED_NOTE}{}", line.repeat(n - 1));
        let key = fixed_key().verifying_key();
        assert_eq!(
            open_cosigned(&many(SIGNATURES_MAX), ORIGIN, &key),
            Ok(checkpoint())
        );
        assert_eq!(
            open_cosigned(&many(SIGNATURES_MAX + 1), ORIGIN, &key),
            Err(CheckpointError::TooManySignatures {
                max: SIGNATURES_MAX
            })
        );
        let mut cp = checkpoint();
        cp.extensions = vec!["x".repeat(TEXT_BYTES_MAX - cp.body().len() - 1)];
        let note = sign(&cp, &"k".repeat(KEY_NAME_BYTES_MAX), &fixed_key());
        assert_eq!(
            open_cosigned(&note, &"k".repeat(KEY_NAME_BYTES_MAX), &key),
            Ok(cp.clone())
        );
        cp.extensions[0].push('x');
        assert_eq!(
            cp.validate(),
            Err(CheckpointError::TextTooLarge {
                found: TEXT_BYTES_MAX + 1,
                max: TEXT_BYTES_MAX
            })
        );
        assert_eq!(
            parse_body(&cp.body()),
            Err(CheckpointError::TextTooLarge {
                found: TEXT_BYTES_MAX + 1,
                max: TEXT_BYTES_MAX
            })
        );
        let long_name = "k".repeat(KEY_NAME_BYTES_MAX + 1);
        assert_eq!(
            validate_key_name(&long_name),
            Err(CheckpointError::InvalidKeyName { name: long_name })
        );
        let huge = format!("{}\n", "x".repeat(NOTE_BYTES_MAX));
        assert_eq!(
            open_cosigned(&huge, ORIGIN, &key),
            Err(CheckpointError::TooLarge {
                found: NOTE_BYTES_MAX + 1,
                max: NOTE_BYTES_MAX
            })
        );
    }

    #[test]
    fn validate_refuses_what_would_not_read_back() {
        let with = |tamper: &dyn Fn(&mut Checkpoint)| {
            let mut cp = checkpoint();
            tamper(&mut cp);
            cp.validate()
        };
        assert_eq!(with(&|_| {}), Ok(()));
        assert_eq!(
            with(&|cp| cp.origin.clear()),
            Err(CheckpointError::EmptyOrigin)
        );
        // A newline in the origin would forge the size and root lines.
        assert_eq!(
            with(&|cp| cp.origin = format!("x\n1\n{}", BASE64.encode([0u8; 32]))),
            Err(CheckpointError::ControlCharacterInField { field: "origin" })
        );
        assert_eq!(
            with(&|cp| cp.extensions = vec!["a".into(), String::new()]),
            Err(CheckpointError::EmptyExtension { line: 5 })
        );
        assert_eq!(
            with(&|cp| cp.extensions = vec!["a\rb".into()]),
            Err(CheckpointError::ControlCharacterInField { field: "extension" })
        );
    }

    #[test]
    #[should_panic(expected = "refusing to sign checkpoint: checkpoint origin contains a newline")]
    fn sign_refuses_an_origin_with_a_newline() {
        let mut cp = checkpoint();
        cp.origin = "a\nb".into();
        sign(&cp, ORIGIN, &fixed_key());
    }

    #[test]
    #[should_panic(expected = "refusing to sign checkpoint: key name")]
    fn sign_refuses_a_bad_key_name() {
        sign(&checkpoint(), "bad name", &fixed_key());
    }

    #[test]
    fn error_messages_say_expected_and_found() {
        let check = |e: CheckpointError, want: &str| assert_eq!(e.to_string(), want);
        check(
            CheckpointError::RootLength {
                expected: 32,
                found: 31,
            },
            "root hash is 31 bytes, expected 32",
        );
        check(
            CheckpointError::MissingSignature {
                key_name: "k".into(),
                key_hash: [0x03, 0x3d, 0xe0, 0xae],
            },
            "no signature line for key k+033de0ae",
        );
        check(
            CheckpointError::ControlCharacter {
                offset: 22,
                byte: b'\r',
            },
            "note has control character 0x0d at byte 22; only newline (0x0a) is allowed",
        );
        check(
            CheckpointError::NonCanonicalSize {
                found: "007".into(),
            },
            "tree size \"007\" is not a canonical decimal u64 (digits only, no sign, no leading zeros)",
        );
    }

    /// Every single-byte change to a signed note is refused: the harness of the
    /// twins above, run over every position.
    #[test]
    fn every_single_byte_substitution_is_rejected() {
        let key = fixed_key().verifying_key();
        for (i, c) in FIXED_NOTE.char_indices() {
            for replacement in ['A', '0', '/', ' ', '\n', '—'] {
                if replacement == c {
                    continue;
                }
                let mut note = FIXED_NOTE.to_string();
                note.replace_range(i..i + c.len_utf8(), replacement.encode_utf8(&mut [0; 4]));
                assert!(
                    open_cosigned(&note, ORIGIN, &key).is_err(),
                    "accepted {replacement:?} at byte {i}: {note:?}"
                );
            }
        }
    }

    #[test]
    fn a_ledger_note_carries_its_three_lines_and_one_signature_line_only() {
        let key = fixed_key().verifying_key();
        assert_eq!(open(FIXED_NOTE, ORIGIN, &key), Ok(checkpoint()));
        let (_, line) = FIXED_NOTE.split_once("\n\n").unwrap();
        let witness = sign(&checkpoint(), "witness.example/w1", &other_key());
        let (_, witness_line) = witness.split_once("\n\n").unwrap();
        for (name, note, found) in [
            ("our line twice", format!("{FIXED_NOTE}{line}"), 2),
            ("a cosignature", format!("{FIXED_NOTE}{witness_line}"), 2),
            (
                "a cosignature first",
                format!(
                    "{}\n{witness_line}{line}",
                    FIXED_NOTE.split_once("\n\n").unwrap().0.to_string() + "\n"
                ),
                2,
            ),
        ] {
            assert_eq!(
                open(&note, ORIGIN, &key),
                Err(CheckpointError::ExtraSignatureLines { found }),
                "{name}"
            );
            assert_eq!(
                open_cosigned(&note, ORIGIN, &key),
                Ok(checkpoint()),
                "{name}"
            );
        }
        assert_eq!(
            open(FIXED_NOTE_WITH_EXTENSION, ORIGIN, &key),
            Err(CheckpointError::ExtensionLines { found: 1 })
        );
        // A line of ours that does not verify is refused before it is counted.
        let bad = format!(
            "{FIXED_NOTE}— {ORIGIN} {}\n",
            BASE64.encode([key_hash(ORIGIN, &key).as_slice(), &[0u8; 64]].concat())
        );
        assert!(matches!(
            open(&bad, ORIGIN, &key),
            Err(CheckpointError::BadSignature { .. })
        ));
    }

    /// Base64 that decodes but is not the canonical spelling (stray trailing bits,
    /// missing padding) is refused in both the root and the signature line.
    #[test]
    fn only_canonical_base64_is_read() {
        let key = fixed_key().verifying_key();
        let (body, line) = FIXED_NOTE.split_once("\n\n").unwrap();
        let signature = line
            .trim_end_matches('\n')
            .rsplit_once(' ')
            .unwrap()
            .1
            .to_string();
        assert!(
            signature.ends_with('='),
            "68 bytes end in one padding character"
        );
        let unpadded = FIXED_NOTE.replace(&signature, signature.trim_end_matches('='));
        assert!(open(&unpadded, ORIGIN, &key).is_err(), "{unpadded}");
        // The last character before the padding carries 2 bits the 68 bytes do
        // not use; setting them gives base64 that decodes to the same bytes
        // under a lenient decoder.
        let last = signature.len() - 2;
        let c = signature.as_bytes()[last];
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let pos = alphabet.iter().position(|a| *a == c).unwrap();
        assert_eq!(pos & 0b11, 0, "canonical: unused bits are zero");
        let mut stray = signature.clone().into_bytes();
        stray[last] = alphabet[pos | 1];
        let stray = FIXED_NOTE.replace(&signature, std::str::from_utf8(&stray).unwrap());
        assert_eq!(
            open(&stray, ORIGIN, &key),
            Err(CheckpointError::MalformedSignatureLine {
                line: 1,
                reason: "expected the signature in canonical standard base64",
            })
        );
        let root = body.lines().nth(2).unwrap();
        assert!(root.ends_with('='));
        let unpadded_root = FIXED_NOTE.replace(root, root.trim_end_matches('='));
        assert!(matches!(
            open(&unpadded_root, ORIGIN, &key),
            Err(CheckpointError::BadSignature { .. } | CheckpointError::RootNotBase64 { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn round_trip_any_valid_checkpoint(
            origin in "[^\\x00-\\x1f]{1,40}",
            size in any::<u64>(),
            root in any::<[u8; 32]>(),
            extensions in proptest::collection::vec("[^\\x00-\\x1f]{1,20}", 0..4),
            seed in any::<[u8; 32]>(),
        ) {
            let cp = Checkpoint { origin, size, root, extensions };
            prop_assert_eq!(cp.validate(), Ok(()));
            let key = SigningKey::from_bytes(&seed);
            let note = sign(&cp, "log.example/key", &key);
            prop_assert_eq!(open_cosigned(&note, "log.example/key", &key.verifying_key()), Ok(cp.clone()));
            prop_assert_eq!(parse_unverified(&note).map(|(parsed, _)| parsed), Ok(cp));
        }

        #[test]
        fn parsers_never_panic(note in "(\\PC|\n|—|\r){0,300}") {
            let _ = parse_unverified(&note);
            let _ = open_cosigned(&note, ORIGIN, &fixed_key().verifying_key());
            let spliced = format!("{}{note}", &FIXED_NOTE[..FIXED_NOTE.len() / 2]);
            let _ = parse_unverified(&spliced);
            prop_assert!(open_cosigned(&spliced, ORIGIN, &fixed_key().verifying_key()).is_err());
        }
    }
}
