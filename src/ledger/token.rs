//! The ledger key inside a PKCS#11 token (a hardware security module, or SoftHSM):
//! named by an RFC 7512 URI (`pkcs11:token=LABEL;object=LABEL`), reached through
//! the token's module (a shared library named in the configuration), signing with
//! Ed25519 (`CKM_EDDSA`) through the `cryptoki` crate.
//!
//! Invariants: the PIN never comes from the URI (a `pin-value` is refused: it
//! would sit in a command line and a process list); the private key never leaves
//! the token; every signature the token returns is verified under the key's public
//! half before it is used. One session per key, used by one thread at a time (the
//! ledger writer): PKCS#11 sessions are not shared.

use super::keys::{self, KeyId};
use super::signer::{SignError, Signer};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use ed25519_dalek::{Signature, VerifyingKey};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The URI scheme of a token key.
pub const URI_SCHEME: &str = "pkcs11:";

/// DER of the Ed25519 curve's object identifier (1.3.101.112), the `CKA_EC_PARAMS`
/// of an Ed25519 key.
const ED25519_OID_DER: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// A token key named by an RFC 7512 URI: the token's label and the key's label
/// (`object`) or id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenUri {
    pub token: String,
    pub object: Option<String>,
    pub id: Option<Vec<u8>>,
}

impl TokenUri {
    /// True if `text` is meant as a token URI rather than a file path.
    pub fn is_uri(text: &str) -> bool {
        text.starts_with(URI_SCHEME)
    }

    /// Parses `pkcs11:token=...;object=...` (percent-encoded values; `id` as
    /// percent-encoded bytes; `type=private` allowed). A PIN in the URI and any
    /// attribute this reader does not understand are refused by name.
    pub fn parse(text: &str) -> Result<TokenUri, TokenError> {
        let bad = |why: String| TokenError::Uri {
            uri: text.to_string(),
            why,
        };
        let rest = text
            .strip_prefix(URI_SCHEME)
            .ok_or_else(|| bad(format!("it must start with {URI_SCHEME:?}")))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut uri = TokenUri {
            token: String::new(),
            object: None,
            id: None,
        };
        let attributes = path
            .split(';')
            .chain(query.split('&'))
            .filter(|a| !a.is_empty());
        for attribute in attributes {
            let (name, value) = attribute
                .split_once('=')
                .ok_or_else(|| bad(format!("{attribute:?} is not name=value")))?;
            let bytes: Vec<u8> = percent_encoding::percent_decode_str(value).collect();
            let text_value = || {
                String::from_utf8(bytes.clone())
                    .map_err(|_| bad(format!("{name} is not UTF-8 once decoded")))
            };
            match name {
                "token" => uri.token = text_value()?,
                "object" => uri.object = Some(text_value()?),
                "id" => uri.id = Some(bytes.clone()),
                "type" if value == "private" => {}
                "type" => return Err(bad(format!("type must be private, found {value:?}"))),
                "pin-value" | "pin-source" => {
                    return Err(bad(format!(
                        "{name} is refused: the PIN comes from the configuration ([pkcs11] pin_file or pin_env), never from the key's name"
                    )));
                }
                other => {
                    return Err(bad(format!(
                        "attribute {other:?} is not understood (use token, object, id, type)"
                    )));
                }
            }
        }
        if uri.token.is_empty() {
            return Err(bad("it must name the token (token=LABEL)".into()));
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(bad("it must name the key (object=LABEL or id=...)".into()));
        }
        Ok(uri)
    }
}

impl std::fmt::Display for TokenUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use percent_encoding::{NON_ALPHANUMERIC, percent_encode, utf8_percent_encode};
        write!(
            f,
            "{URI_SCHEME}token={}",
            utf8_percent_encode(&self.token, NON_ALPHANUMERIC)
        )?;
        if let Some(object) = &self.object {
            write!(
                f,
                ";object={}",
                utf8_percent_encode(object, NON_ALPHANUMERIC)
            )?;
        }
        if let Some(id) = &self.id {
            write!(f, ";id={}", percent_encode(id, NON_ALPHANUMERIC))?;
        }
        Ok(())
    }
}

/// The module that reaches the tokens and the user PIN that logs in.
pub struct TokenAccess<'a> {
    /// The PKCS#11 module (a shared library).
    pub module: &'a Path,
    /// The token's user PIN.
    pub pin: &'a str,
}

/// A logged-in session on a token and the Ed25519 key it signs with.
pub struct TokenKey {
    session: Session,
    private: ObjectHandle,
    public: VerifyingKey,
    uri: TokenUri,
}

/// One initialized context per module in this process: `C_Initialize` may be
/// called once per loaded library, and `C_Finalize` must wait for the last user.
fn context(module: &Path) -> Result<Pkcs11, TokenError> {
    static CONTEXTS: Mutex<Option<HashMap<PathBuf, Pkcs11>>> = Mutex::new(None);
    let mut contexts = CONTEXTS.lock().unwrap_or_else(|e| e.into_inner());
    let contexts = contexts.get_or_insert_with(HashMap::new);
    if let Some(context) = contexts.get(module) {
        return Ok(context.clone());
    }
    let failed = |e: cryptoki::error::Error| TokenError::Module {
        module: module.display().to_string(),
        why: e.to_string(),
    };
    let context = Pkcs11::new(module).map_err(failed)?;
    context
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(failed)?;
    contexts.insert(module.to_path_buf(), context.clone());
    Ok(context)
}

/// Opens a read-write session on the token labelled `label`, logged in as user.
fn session(access: &TokenAccess<'_>, label: &str) -> Result<Session, TokenError> {
    let context = context(access.module)?;
    let failed = |what: &str, e: cryptoki::error::Error| TokenError::Token {
        token: label.to_string(),
        why: format!("{what}: {e}"),
    };
    let slots = context
        .get_slots_with_token()
        .map_err(|e| failed("listing slots", e))?;
    let mut found = None;
    let mut labels = Vec::new();
    for slot in slots {
        let info = context
            .get_token_info(slot)
            .map_err(|e| failed("reading token info", e))?;
        if info.label().trim_end() == label {
            found = Some(slot);
            break;
        }
        labels.push(info.label().trim_end().to_string());
    }
    let slot = found.ok_or_else(|| TokenError::Token {
        token: label.to_string(),
        why: format!(
            "no token with this label in {} (tokens: {})",
            access.module.display(),
            if labels.is_empty() {
                "none".to_string()
            } else {
                labels.join(", ")
            }
        ),
    })?;
    let session = context
        .open_rw_session(slot)
        .map_err(|e| failed("opening a session", e))?;
    session
        .login(UserType::User, Some(&AuthPin::from(access.pin.to_string())))
        .map_err(|e| failed("logging in with the configured PIN", e))?;
    Ok(session)
}

/// The template naming the key's objects of `class`.
fn template(uri: &TokenUri, class: ObjectClass) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(class),
        Attribute::KeyType(KeyType::EC_EDWARDS),
    ];
    if let Some(object) = &uri.object {
        t.push(Attribute::Label(object.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        t.push(Attribute::Id(id.clone()));
    }
    t
}

/// The one object matching `template`, or an error naming what was found.
fn one_object(
    session: &Session,
    uri: &TokenUri,
    class: ObjectClass,
) -> Result<ObjectHandle, TokenError> {
    let what = if class == ObjectClass::PRIVATE_KEY {
        "private key"
    } else {
        "public key"
    };
    let found = session
        .find_objects(&template(uri, class))
        .map_err(|e| TokenError::Key {
            uri: uri.to_string(),
            why: format!("searching the token: {e}"),
        })?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(TokenError::Key {
            uri: uri.to_string(),
            why: format!("no Ed25519 {what} with this name on the token"),
        }),
        many => Err(TokenError::Key {
            uri: uri.to_string(),
            why: format!(
                "{} Ed25519 {what}s match; name one (add id=...)",
                many.len()
            ),
        }),
    }
}

/// The 32-byte Ed25519 point of a `CKA_EC_POINT` value: raw, or wrapped in a DER
/// OCTET STRING (as PKCS#11 3.0 says and SoftHSM does).
fn ed25519_point(value: &[u8]) -> Option<&[u8]> {
    match value {
        [0x04, 0x20, point @ ..] if point.len() == 32 => Some(point),
        point if point.len() == 32 => Some(point),
        _ => None,
    }
}

impl TokenKey {
    /// Logs in to the token and finds the key `uri` names, reading its public
    /// half. Signs one test message to prove the pair before it is used.
    pub fn open(access: &TokenAccess<'_>, uri: &TokenUri) -> Result<TokenKey, TokenError> {
        let session = session(access, &uri.token)?;
        let private = one_object(&session, uri, ObjectClass::PRIVATE_KEY)?;
        let public_object = one_object(&session, uri, ObjectClass::PUBLIC_KEY)?;
        let public = read_public(&session, uri, public_object)?;
        let key = TokenKey {
            session,
            private,
            public,
            uri: uri.clone(),
        };
        key.sign_raw(b"dbond: token key check")
            .map_err(|e| TokenError::Key {
                uri: uri.to_string(),
                why: e.reason,
            })?;
        Ok(key)
    }

    /// Makes a new Ed25519 key pair on the token (private half sensitive and not
    /// extractable), labelled and identified as `uri` says, and opens it. Refuses
    /// if a key of that name is there already.
    pub fn generate(access: &TokenAccess<'_>, uri: &TokenUri) -> Result<TokenKey, TokenError> {
        let session = session(access, &uri.token)?;
        let existing = session
            .find_objects(&template(uri, ObjectClass::PRIVATE_KEY))
            .map_err(|e| TokenError::Key {
                uri: uri.to_string(),
                why: format!("searching the token: {e}"),
            })?;
        if !existing.is_empty() {
            return Err(TokenError::Key {
                uri: uri.to_string(),
                why: "a key with this name exists already; it is never replaced".into(),
            });
        }
        let mut named = Vec::new();
        if let Some(object) = &uri.object {
            named.push(Attribute::Label(object.as_bytes().to_vec()));
        }
        if let Some(id) = &uri.id {
            named.push(Attribute::Id(id.clone()));
        }
        let mut public_template = vec![
            Attribute::Token(true),
            Attribute::Verify(true),
            Attribute::EcParams(ED25519_OID_DER.to_vec()),
        ];
        public_template.extend(named.iter().cloned());
        let mut private_template = vec![
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
        ];
        private_template.extend(named);
        session
            .generate_key_pair(
                &Mechanism::EccEdwardsKeyPairGen,
                &public_template,
                &private_template,
            )
            .map_err(|e| TokenError::Key {
                uri: uri.to_string(),
                why: format!("generating an Ed25519 key pair: {e}"),
            })?;
        drop(session);
        TokenKey::open(access, uri)
    }

    pub fn uri(&self) -> &TokenUri {
        &self.uri
    }
}

fn read_public(
    session: &Session,
    uri: &TokenUri,
    object: ObjectHandle,
) -> Result<VerifyingKey, TokenError> {
    let bad = |why: String| TokenError::Key {
        uri: uri.to_string(),
        why,
    };
    let attributes = session
        .get_attributes(object, &[AttributeType::EcPoint])
        .map_err(|e| bad(format!("reading the public key: {e}")))?;
    let point = attributes
        .iter()
        .find_map(|a| match a {
            Attribute::EcPoint(p) => Some(p.as_slice()),
            _ => None,
        })
        .ok_or_else(|| bad("the public key has no EC point".into()))?;
    let bytes = ed25519_point(point).ok_or_else(|| {
        bad(format!(
            "the public key's EC point is not an Ed25519 key ({} bytes)",
            point.len()
        ))
    })?;
    keys::parse_public_key(bytes).map_err(|e| bad(e.to_string()))
}

impl Signer for TokenKey {
    fn sign_raw(&self, message: &[u8]) -> Result<Signature, SignError> {
        let failed = |reason: String| SignError {
            key: self.describe(),
            reason,
        };
        let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        let bytes = self
            .session
            .sign(&mechanism, self.private, message)
            .map_err(|e| failed(format!("the token refused to sign: {e}")))?;
        let signature = Signature::from_slice(&bytes).map_err(|_| {
            failed(format!(
                "the token returned {} bytes, not an Ed25519 signature",
                bytes.len()
            ))
        })?;
        // Assert in pairs: a token's signature is used only once it verifies.
        self.public
            .verify_strict(message, &signature)
            .map_err(|_| {
                failed("the token's signature does not verify under its public key".into())
            })?;
        Ok(signature)
    }

    fn public_key(&self) -> VerifyingKey {
        self.public
    }

    fn describe(&self) -> String {
        format!("{} (key id {})", self.uri, KeyId::of(&self.public))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("key name {uri:?}: {why}")]
    Uri { uri: String, why: String },
    #[error("PKCS#11 module {module}: {why}")]
    Module { module: String, why: String },
    #[error("PKCS#11 token {token:?}: {why}")]
    Token { token: String, why: String },
    #[error("token key {uri}: {why}")]
    Key { uri: String, why: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_uris_parse_and_refuse_precisely() {
        let uri = TokenUri::parse("pkcs11:token=dbond%20ledger;object=ledger-2026").unwrap();
        assert_eq!(uri.token, "dbond ledger");
        assert_eq!(uri.object.as_deref(), Some("ledger-2026"));
        assert_eq!(TokenUri::parse(&uri.to_string()).unwrap(), uri);
        let with_id = TokenUri::parse("pkcs11:token=t;id=%01%02;type=private").unwrap();
        assert_eq!(with_id.id, Some(vec![1, 2]));
        let refused = |text: &str, says: &str| match TokenUri::parse(text) {
            Err(e) => assert!(e.to_string().contains(says), "{text}: {e}"),
            Ok(u) => panic!("{text}: accepted as {u:?}"),
        };
        refused("token=t;object=k", "must start with");
        refused("pkcs11:object=k", "name the token");
        refused("pkcs11:token=t", "name the key");
        refused(
            "pkcs11:token=t;object=k?pin-value=1234",
            "pin-value is refused",
        );
        refused(
            "pkcs11:token=t;object=k;type=public",
            "type must be private",
        );
        refused(
            "pkcs11:token=t;object=k;slot-id=3",
            "\"slot-id\" is not understood",
        );
        refused("pkcs11:token=t;objectk", "not name=value");
        refused("pkcs11:token=%ff;object=k", "not UTF-8");
        assert!(TokenUri::is_uri("pkcs11:token=t"));
        assert!(!TokenUri::is_uri("/srv/dbond/ledger.key"));
    }

    #[test]
    fn ec_points_are_read_raw_or_der_wrapped() {
        let point = [5u8; 32];
        let mut wrapped = vec![0x04, 0x20];
        wrapped.extend_from_slice(&point);
        assert_eq!(ed25519_point(&wrapped), Some(&point[..]));
        assert_eq!(ed25519_point(&point), Some(&point[..]));
        assert_eq!(ed25519_point(&wrapped[..33]), None);
        assert_eq!(ed25519_point(&[0x04, 0x41, 1, 2]), None);
    }
}
