//! Validated server configuration: a TOML file, overridden by environment
//! variables and flags (read in `main` only), checked once into a `ServerConfig`.
//! Unknown keys are refused; every limit is named.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One layer of settings (the file, or the flags and environment). `None` = not
/// set in this layer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigLayer {
    pub data: Option<PathBuf>,
    pub listen: Option<String>,
    pub origin: Option<String>,
    pub allow_plaintext_remote: Option<bool>,
    pub engine_key: Option<PathBuf>,
    /// The ledger key: a key file, or a PKCS#11 token key's URI
    /// (`pkcs11:token=...;object=...`). Default: `ledger.key` in the data folder.
    pub ledger_key: Option<String>,
    /// The key a ledger key rotation hands over to (`dbond ledger-key rotate`):
    /// a key file or a PKCS#11 token key's URI. Default: none.
    pub next_ledger_key: Option<String>,
    /// `dbond serve --emergency-rotation` alone: a one-off of a restart, never
    /// a setting a configuration file keeps.
    #[serde(skip)]
    pub emergency_rotation: bool,
    pub accrual_interval_secs: Option<u64>,
    pub metrics_listen: Option<String>,
    /// A tracing filter such as "info" or "dbond=debug".
    pub log: Option<String>,
    #[serde(default)]
    pub limits: LimitsLayer,
    #[serde(default)]
    pub tls: TlsLayer,
    #[serde(default)]
    pub pkcs11: Pkcs11Layer,
    #[serde(default)]
    pub store: StoreLayer,
}

/// `[store]`: where the ledger is kept when it is not the sled store in the data
/// folder.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreLayer {
    /// A PostgreSQL URL (libpq's form; several hosts allowed). Absent: the sled
    /// store in the data folder.
    pub url: Option<String>,
    /// The writer lease's term in seconds (PostgreSQL only).
    pub lease_secs: Option<u64>,
    /// The address clients reach this server at, named to them by the other
    /// servers of the ledger when they refuse a write (PostgreSQL only).
    pub advertise: Option<String>,
}

/// The PKCS#11 module that holds token keys, and where its user PIN comes from
/// (a file or an environment variable, never a flag).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Layer {
    /// The module (shared library), e.g. /usr/lib/softhsm/libsofthsm2.so.
    pub module: Option<PathBuf>,
    /// A file holding the user PIN (trailing newline ignored).
    pub pin_file: Option<PathBuf>,
    /// The name of an environment variable holding the user PIN.
    pub pin_env: Option<String>,
}

/// Where a token's user PIN comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    File(PathBuf),
    Env(String),
}

/// The checked `[pkcs11]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Config {
    pub module: PathBuf,
    pub pin: PinSource,
}

impl Pkcs11Layer {
    /// The checked section, `None` if it is empty.
    pub fn resolve(self) -> anyhow::Result<Option<Pkcs11Config>> {
        let pin = match (self.pin_file, self.pin_env) {
            (Some(file), None) => Some(PinSource::File(file)),
            (None, Some(name)) => Some(PinSource::Env(name)),
            (None, None) => None,
            (Some(_), Some(_)) => {
                anyhow::bail!("pkcs11.pin_file and pkcs11.pin_env are exclusive: give one")
            }
        };
        match (self.module, pin) {
            (Some(module), Some(pin)) => Ok(Some(Pkcs11Config { module, pin })),
            (None, None) => Ok(None),
            (Some(_), None) => {
                anyhow::bail!(
                    "pkcs11.module needs the user PIN's source: pkcs11.pin_file or pkcs11.pin_env"
                )
            }
            (None, Some(_)) => {
                anyhow::bail!("pkcs11.pin_file or pkcs11.pin_env needs pkcs11.module")
            }
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsLayer {
    pub message_bytes_max: Option<usize>,
    pub concurrent_requests_per_connection_max: Option<usize>,
    pub shutdown_grace_secs: Option<u64>,
    pub store_batch_records_max: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsLayer {
    /// PEM certificate chain of the server.
    pub cert: Option<PathBuf>,
    /// PEM private key of the server.
    pub key: Option<PathBuf>,
    /// PEM CA certificate(s): when set, clients must present a certificate it signed.
    pub client_ca: Option<PathBuf>,
}

/// TLS files of a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// The contents of a server's TLS files (PEM).
#[derive(Clone, PartialEq, Eq)]
pub struct TlsPem {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
    pub client_ca: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsPem {
    /// Never prints the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsPem")
            .field("cert_bytes", &self.cert.len())
            .field("client_ca", &self.client_ca.is_some())
            .finish_non_exhaustive()
    }
}

impl TlsFiles {
    /// Reads the PEM files, naming any that cannot be read.
    pub fn read(&self) -> anyhow::Result<TlsPem> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))
        };
        Ok(TlsPem {
            cert: read(&self.cert)?,
            key: read(&self.key)?,
            client_ca: self.client_ca.as_deref().map(read).transpose()?,
        })
    }
}

/// Limits of a gRPC server, named and configurable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// Largest message decoded or encoded.
    pub message_bytes_max: usize,
    /// Requests worked on at once per connection.
    pub concurrent_requests_per_connection_max: usize,
    /// How long in-flight requests may run after SIGINT/SIGTERM.
    pub shutdown_grace: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            message_bytes_max: crate::limits::GRPC_MESSAGE_BYTES_MAX,
            concurrent_requests_per_connection_max:
                crate::limits::CONCURRENT_REQUESTS_PER_CONNECTION_MAX,
            shutdown_grace: Duration::from_secs(crate::limits::SHUTDOWN_GRACE_SECS),
        }
    }
}

/// The checked configuration of `dbond serve`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data: PathBuf,
    pub listen: SocketAddr,
    pub origin: Option<String>,
    pub engine_key: Option<PathBuf>,
    /// The ledger key as configured: a file path or a `pkcs11:` URI (checked
    /// where it is opened); `None` = `ledger.key` in the data folder.
    pub ledger_key: Option<String>,
    /// The key a ledger key rotation hands over to, as configured (a file path
    /// or a `pkcs11:` URI); `None`: rotations are refused.
    pub next_ledger_key: Option<String>,
    /// The ledger key may be a fresh key that replaces the key in force on the
    /// recovery quorum's approval (`--emergency-rotation`).
    pub emergency_rotation: bool,
    /// The PKCS#11 module and PIN source, for a ledger key in a token.
    pub pkcs11: Option<Pkcs11Config>,
    pub accrual_interval: Duration,
    pub metrics_listen: Option<SocketAddr>,
    pub log: String,
    pub limits: ServerLimits,
    /// Records per sled batch (`limits::STORE_BATCH_RECORDS_DEFAULT` by default).
    pub store_batch_records: usize,
    pub tls: Option<TlsFiles>,
    /// A PostgreSQL store; `None`: the sled store in the data folder.
    pub store: Option<SharedStoreConfig>,
}

/// A ledger kept in PostgreSQL, shared by every server of the ledger.
#[derive(Clone)]
pub struct SharedStoreConfig {
    /// A `postgres://` or `postgresql://` URL; the store reads the rest of it
    /// when it opens. Printed without its password.
    pub url: String,
    /// The writer lease's term.
    pub lease: Duration,
    /// What this server tells clients to reach it at; `None`: its listening
    /// address.
    pub advertise: Option<String>,
}

impl std::fmt::Debug for SharedStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStoreConfig")
            .field("url", &without_password(&self.url))
            .field("lease", &self.lease)
            .field("advertise", &self.advertise)
            .finish()
    }
}

/// `url` with the password of its user part and of a `password=` parameter
/// replaced by `***`.
fn without_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user, hosts)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{hosts}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some(("password", _)) => "password=***".to_string(),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Bounds on configurable limits: a message under 64 KiB cannot carry a series'
/// terms and schedule; above 64 MiB one request could pin too much memory.
pub const MESSAGE_BYTES_MIN: usize = 64 << 10;
pub const MESSAGE_BYTES_MAX: usize = 64 << 20;
pub const CONCURRENCY_MAX: usize = 1 << 16;
/// Records per sled batch: sled holds about 9 KB per record of a batch until it
/// ends, so a million would need some 9 GB.
pub const STORE_BATCH_RECORDS_MAX: usize = 1 << 20;
const _: () = assert!(crate::limits::STORE_BATCH_RECORDS_DEFAULT <= STORE_BATCH_RECORDS_MAX);

/// The writer lease's term, in seconds: under a second, renewals (a third of it)
/// would race the database's commits; over ten minutes, a dead writer would keep
/// the ledger without one for that long.
pub const LEASE_SECS_MIN: u64 = 1;
pub const LEASE_SECS_MAX: u64 = 600;
const _: () = assert!(LEASE_SECS_MIN <= 5 && 5 <= LEASE_SECS_MAX);

const _: () = assert!(MESSAGE_BYTES_MIN <= crate::limits::GRPC_MESSAGE_BYTES_MAX);
const _: () = assert!(crate::limits::GRPC_MESSAGE_BYTES_MAX <= MESSAGE_BYTES_MAX);

/// `value` if it lies in `range`, else an error naming the setting and its bounds.
fn within(
    name: &str,
    value: usize,
    range: std::ops::RangeInclusive<usize>,
) -> anyhow::Result<usize> {
    if !range.contains(&value) {
        anyhow::bail!(
            "{name} must be {} to {}, found {value}",
            range.start(),
            range.end()
        );
    }
    Ok(value)
}

impl ConfigLayer {
    /// Reads a TOML file, refusing unknown keys (with the key's name).
    pub fn read(path: &Path) -> anyhow::Result<ConfigLayer> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))
    }

    /// This layer over `below`: a setting here wins.
    pub fn over(self, below: ConfigLayer) -> ConfigLayer {
        ConfigLayer {
            data: self.data.or(below.data),
            listen: self.listen.or(below.listen),
            origin: self.origin.or(below.origin),
            allow_plaintext_remote: self.allow_plaintext_remote.or(below.allow_plaintext_remote),
            engine_key: self.engine_key.or(below.engine_key),
            ledger_key: self.ledger_key.or(below.ledger_key),
            next_ledger_key: self.next_ledger_key.or(below.next_ledger_key),
            emergency_rotation: self.emergency_rotation || below.emergency_rotation,
            accrual_interval_secs: self.accrual_interval_secs.or(below.accrual_interval_secs),
            metrics_listen: self.metrics_listen.or(below.metrics_listen),
            log: self.log.or(below.log),
            limits: LimitsLayer {
                message_bytes_max: self
                    .limits
                    .message_bytes_max
                    .or(below.limits.message_bytes_max),
                concurrent_requests_per_connection_max: self
                    .limits
                    .concurrent_requests_per_connection_max
                    .or(below.limits.concurrent_requests_per_connection_max),
                shutdown_grace_secs: self
                    .limits
                    .shutdown_grace_secs
                    .or(below.limits.shutdown_grace_secs),
                store_batch_records_max: self
                    .limits
                    .store_batch_records_max
                    .or(below.limits.store_batch_records_max),
            },
            tls: TlsLayer {
                cert: self.tls.cert.or(below.tls.cert),
                key: self.tls.key.or(below.tls.key),
                client_ca: self.tls.client_ca.or(below.tls.client_ca),
            },
            pkcs11: Pkcs11Layer {
                module: self.pkcs11.module.or(below.pkcs11.module),
                pin_file: self.pkcs11.pin_file.or(below.pkcs11.pin_file),
                pin_env: self.pkcs11.pin_env.or(below.pkcs11.pin_env),
            },
            store: StoreLayer {
                url: self.store.url.or(below.store.url),
                lease_secs: self.store.lease_secs.or(below.store.lease_secs),
                advertise: self.store.advertise.or(below.store.advertise),
            },
        }
    }

    /// Applies defaults and checks everything, with messages naming the setting.
    pub fn resolve(self) -> anyhow::Result<ServerConfig> {
        let listen_text = self.listen.unwrap_or_else(|| "127.0.0.1:50051".into());
        let listen: SocketAddr = listen_text.parse().map_err(|e| {
            anyhow::anyhow!("listen {listen_text:?} is not HOST:PORT with a numeric host: {e}")
        })?;
        let tls = match (self.tls.cert, self.tls.key, self.tls.client_ca) {
            (Some(cert), Some(key), client_ca) => Some(TlsFiles {
                cert,
                key,
                client_ca,
            }),
            (None, None, None) => None,
            (None, None, Some(_)) => anyhow::bail!("tls.client_ca needs tls.cert and tls.key"),
            _ => anyhow::bail!("tls.cert and tls.key must be given together"),
        };
        if !listen.ip().is_loopback()
            && tls.is_none()
            && !self.allow_plaintext_remote.unwrap_or(false)
        {
            anyhow::bail!(
                "refusing to serve plaintext gRPC on {listen}, which is not loopback; configure TLS (tls.cert, tls.key) or set allow_plaintext_remote"
            );
        }
        let message_bytes_max = within(
            "limits.message_bytes_max",
            self.limits
                .message_bytes_max
                .unwrap_or(crate::limits::GRPC_MESSAGE_BYTES_MAX),
            MESSAGE_BYTES_MIN..=MESSAGE_BYTES_MAX,
        )?;
        let concurrency = within(
            "limits.concurrent_requests_per_connection_max",
            self.limits
                .concurrent_requests_per_connection_max
                .unwrap_or(crate::limits::CONCURRENT_REQUESTS_PER_CONNECTION_MAX),
            1..=CONCURRENCY_MAX,
        )?;
        let store_batch_records = within(
            "limits.store_batch_records_max",
            self.limits
                .store_batch_records_max
                .unwrap_or(crate::limits::STORE_BATCH_RECORDS_DEFAULT),
            1..=STORE_BATCH_RECORDS_MAX,
        )?;
        let accrual_secs = self
            .accrual_interval_secs
            .unwrap_or(crate::limits::ACCRUAL_INTERVAL_SECS_DEFAULT);
        if accrual_secs == 0 {
            anyhow::bail!("accrual_interval_secs must be at least 1");
        }
        let metrics_listen = match self.metrics_listen {
            None => None,
            Some(m) => Some(
                m.parse()
                    .map_err(|e| anyhow::anyhow!("metrics_listen {m:?} is not HOST:PORT: {e}"))?,
            ),
        };
        let pkcs11 = self.pkcs11.resolve()?;
        for (name, key) in [
            ("ledger_key", &self.ledger_key),
            ("next_ledger_key", &self.next_ledger_key),
        ] {
            if let Some(key) = key {
                if key.starts_with("pkcs11:") && pkcs11.is_none() {
                    anyhow::bail!(
                        "{name} {key:?} names a PKCS#11 token key: configure [pkcs11] module and pin_file or pin_env"
                    );
                }
            }
        }
        if self.next_ledger_key.is_some() && self.next_ledger_key == self.ledger_key {
            anyhow::bail!("next_ledger_key names the ledger key itself: give the key to rotate to");
        }
        let store = match self.store.url {
            None => {
                if self.store.lease_secs.is_some() || self.store.advertise.is_some() {
                    anyhow::bail!(
                        "store.lease_secs and store.advertise need store.url (a PostgreSQL store)"
                    );
                }
                None
            }
            Some(url) => {
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    anyhow::bail!(
                        "store.url: a store URL starts with postgres:// or postgresql://, found {:?}",
                        without_password(&url)
                    );
                }
                let lease_secs = self
                    .store
                    .lease_secs
                    .unwrap_or(crate::limits::STORE_LEASE_SECS_DEFAULT);
                let lease_secs = within(
                    "store.lease_secs",
                    lease_secs as usize,
                    LEASE_SECS_MIN as usize..=LEASE_SECS_MAX as usize,
                )?;
                Some(SharedStoreConfig {
                    url,
                    lease: Duration::from_secs(lease_secs as u64),
                    advertise: self.store.advertise,
                })
            }
        };
        Ok(ServerConfig {
            store,
            data: self.data.unwrap_or_else(|| PathBuf::from("./dbond-data")),
            listen,
            origin: self.origin,
            engine_key: self.engine_key,
            ledger_key: self.ledger_key,
            next_ledger_key: self.next_ledger_key,
            emergency_rotation: self.emergency_rotation,
            pkcs11,
            accrual_interval: Duration::from_secs(accrual_secs),
            metrics_listen,
            log: self.log.unwrap_or_else(|| "info".into()),
            limits: ServerLimits {
                message_bytes_max,
                concurrent_requests_per_connection_max: concurrency,
                shutdown_grace: Duration::from_secs(
                    self.limits
                        .shutdown_grace_secs
                        .unwrap_or(crate::limits::SHUTDOWN_GRACE_SECS),
                ),
            },
            store_batch_records,
            tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<ConfigLayer> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = parse("listne = \"127.0.0.1:1\"").unwrap_err().to_string();
        assert!(err.contains("listne"), "{err}");
        let err = parse("[limits]\nmessage_bytes = 5")
            .unwrap_err()
            .to_string();
        assert!(err.contains("message_bytes"), "{err}");
        let err = parse("[store]\nurl = \"postgres://h/d\"\nleases = 5")
            .unwrap_err()
            .to_string();
        assert!(err.contains("leases"), "{err}");
    }

    #[test]
    fn a_postgresql_store_is_read_with_its_lease() {
        let c = parse("[store]\nurl = \"postgres://dbond:pw@db1:5433,db2/ledger?target_session_attrs=read-write\"\nlease_secs = 3\nadvertise = \"http://10.1.2.3:50051\"")
            .unwrap()
            .resolve()
            .unwrap();
        let store = c.store.unwrap();
        assert_eq!(store.lease, Duration::from_secs(3));
        assert_eq!(store.advertise.as_deref(), Some("http://10.1.2.3:50051"));
        assert_eq!(
            store.url,
            "postgres://dbond:pw@db1:5433,db2/ledger?target_session_attrs=read-write"
        );
        assert!(!format!("{store:?}").contains("pw"), "no password printed");
        assert_eq!(
            without_password("postgresql://u:secret@h/d?sslmode=require&password=other"),
            "postgresql://u:***@h/d?sslmode=require&password=***"
        );
        let c = parse("[store]\nurl = \"postgres://h/d\"")
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(
            c.store.unwrap().lease,
            Duration::from_secs(crate::limits::STORE_LEASE_SECS_DEFAULT)
        );
        assert!(
            parse("").unwrap().resolve().unwrap().store.is_none(),
            "sled by default"
        );
    }

    #[test]
    fn flags_override_the_file_and_defaults_fill_the_rest() {
        let file = parse("listen = \"127.0.0.1:7000\"\ndata = \"/srv/dbond\"\n[limits]\nmessage_bytes_max = 1048576").unwrap();
        let flags = ConfigLayer {
            listen: Some("127.0.0.1:8000".into()),
            ..Default::default()
        };
        let c = flags.over(file).resolve().unwrap();
        assert_eq!(c.listen.port(), 8000);
        assert_eq!(c.data, PathBuf::from("/srv/dbond"));
        assert_eq!(c.limits.message_bytes_max, 1 << 20);
        assert_eq!(
            c.store_batch_records,
            crate::limits::STORE_BATCH_RECORDS_DEFAULT
        );
        assert_eq!(
            c.accrual_interval,
            Duration::from_secs(crate::limits::ACCRUAL_INTERVAL_SECS_DEFAULT)
        );
    }

    #[test]
    fn bad_settings_are_refused_with_their_name() {
        let check = |text: &str, needle: &str| {
            let err = parse(text).unwrap().resolve().unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        };
        check("listen = \"0.0.0.0:50051\"", "not loopback");
        check("listen = \"localhost\"", "listen");
        check("[limits]\nmessage_bytes_max = 10", "message_bytes_max");
        check(
            "[limits]\nconcurrent_requests_per_connection_max = 0",
            "concurrent_requests",
        );
        check("accrual_interval_secs = 0", "accrual_interval_secs");
        check(
            "[limits]\nstore_batch_records_max = 0",
            "store_batch_records_max",
        );
        check("[tls]\ncert = \"a.pem\"", "together");
        check("[store]\nurl = \"mysql://h/d\"", "store.url");
        check(
            "[store]\nurl = \"postgres://h/d\"\nlease_secs = 0",
            "store.lease_secs",
        );
        check("[store]\nlease_secs = 5", "need store.url");

        check("[tls]\nclient_ca = \"ca.pem\"", "client_ca");
        check("[pkcs11]\nmodule = \"m.so\"", "pin_file or pkcs11.pin_env");
        check("[pkcs11]\npin_env = \"PIN\"", "needs pkcs11.module");
        check(
            "[pkcs11]\nmodule = \"m.so\"\npin_env = \"P\"\npin_file = \"p\"",
            "exclusive",
        );
        check(
            "ledger_key = \"pkcs11:token=t;object=k\"",
            "configure [pkcs11]",
        );
        let token = parse(
            "ledger_key = \"pkcs11:token=t;object=k\"\n[pkcs11]\nmodule = \"m.so\"\npin_env = \"DBOND_PIN\"",
        )
        .unwrap()
        .resolve()
        .unwrap();
        assert_eq!(
            token.pkcs11,
            Some(Pkcs11Config {
                module: PathBuf::from("m.so"),
                pin: PinSource::Env("DBOND_PIN".into())
            })
        );
        // Non-loopback is fine with TLS or an explicit opt-in.
        assert!(
            parse("listen = \"0.0.0.0:1\"\n[tls]\ncert = \"c\"\nkey = \"k\"")
                .unwrap()
                .resolve()
                .is_ok()
        );
        assert!(
            parse("listen = \"0.0.0.0:1\"\nallow_plaintext_remote = true")
                .unwrap()
                .resolve()
                .is_ok()
        );
    }

    #[test]
    fn tls_files_are_read_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert, "CERT").unwrap();
        std::fs::write(&key, "KEY").unwrap();
        let files = TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: None,
        };
        let pem = files.read().unwrap();
        assert_eq!(
            (pem.cert.as_slice(), pem.key.as_slice()),
            (&b"CERT"[..], &b"KEY"[..])
        );
        assert!(
            !format!("{pem:?}").contains("KEY"),
            "the key is never printed"
        );
        let missing = dir.path().join("ca.pem");
        let err = TlsFiles {
            client_ca: Some(missing.clone()),
            ..files
        }
        .read()
        .unwrap_err()
        .to_string();
        assert!(err.contains(missing.to_str().unwrap()), "{err}");
    }
}
