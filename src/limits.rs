//! Every bound the system enforces, named, documented and checked against each other
//! at compile time. Configurable limits take their defaults from here.

/// Largest gRPC message the server decodes or encodes. Bounds memory per request.
pub const GRPC_MESSAGE_BYTES_MAX: usize = 4 << 20;

/// Largest encoded `RequestPayload` a participant may sign. Everything a request
/// can say fits well inside; the rest is an attack on memory or on the ledger.
pub const REQUEST_PAYLOAD_BYTES_MAX: usize = 1 << 20;

/// Nonce length bounds: 16 bytes make collisions negligible, 64 bounds storage.
pub const NONCE_BYTES_MIN: usize = 16;
pub const NONCE_BYTES_MAX: usize = 64;

/// How old a signed request may be when it arrives. Nonces are remembered this long
/// (plus the future skew), so a replay is refused inside the window and stale outside.
pub const REQUEST_AGE_SECS_MAX: i64 = 300;

/// How far in the future a request's `issued_at` may be (client clock ahead).
pub const REQUEST_FUTURE_SKEW_SECS_MAX: i64 = 60;

/// Most requests one group commit (one flush) carries. Bounds the latency a single
/// flush adds, and the writer's cost per entry: sled applies a batch in hash
/// order, so a larger group touches more of its tree, while a much smaller one
/// makes the writer wait for more flushes (the measurements behind the figure are
/// in docs/BENCHMARKS.md).
pub const GROUP_COMMIT_ENTRIES_MAX: usize = 512;

/// Longest the writer holds a group open for requests whose signatures are being
/// checked at that moment (they reach its queue tens of microseconds later). It
/// waits only while such a request exists, so a lone caller never waits; under
/// load it trades at most this much latency for larger groups, which cost less
/// per request (docs/BENCHMARKS.md, "Single requests: what a group waits for").
pub const GROUP_ARRIVAL_WAIT: std::time::Duration = std::time::Duration::from_micros(500);

/// Entries the writer's working lists for a group keep room for between groups.
/// A larger group (an allotment, issue or coupon run for many holders) lets its
/// lists go once written: kept, they would hold memory sized for the largest group
/// ever written (some hundreds of bytes per entry) for the life of the server.
pub const WRITER_SCRATCH_ENTRIES_KEPT_MAX: usize = 8 * GROUP_COMMIT_ENTRIES_MAX;

/// Default records (entries, state records, the checkpoint) per sled batch (the
/// `limits.store_batch_records_max` setting; `config` bounds it). sled holds every
/// node it copies during a batch until the batch ends, so this bounds the memory a
/// group commit takes: a group with more records (an allotment, issue or coupon
/// run for many holders writes an entry and a record per holder) is written in
/// several batches under a pending marker that the last one removes, and an open
/// that finds the marker rolls the unfinished group back.
pub const STORE_BATCH_RECORDS_DEFAULT: usize = 16_384;

/// Entries (then state records) per group while a mirror or a backup writes
/// its first copy of a ledger. The first group starts the copy and is one atomic
/// engine write, so it stays small however large the source is.
pub const MIRROR_SEED_GROUP_RECORDS: usize = 4096;

/// A mirror's pause before it asks its source again when the source had nothing
/// new: the part of the mirror's lag an idle source adds, against one signed
/// checkpoint read per pause.
pub const MIRROR_IDLE_MS: u64 = 100;

/// A mirror's first wait before it tries an unreachable source again; each
/// failure doubles it, up to `MIRROR_RETRY_SECS_MAX`.
pub const MIRROR_RETRY_MS_MIN: u64 = 500;
pub const MIRROR_RETRY_SECS_MAX: u64 = 30;
/// The writer lease's term on a shared (PostgreSQL) store when none is
/// configured: a writer that dies is replaced within about this long, and a
/// holder renews three times per term, so a pause of a second or two costs
/// nothing.
pub const STORE_LEASE_SECS_DEFAULT: u64 = 5;

/// Most write jobs waiting for the writer. When full, callers wait (backpressure)
/// instead of the queue growing without bound.
pub const WRITE_QUEUE_JOBS_MAX: usize = 16384;

/// Most signed requests in one `SubmitBatch` call. A full batch of ordinary
/// requests fits inside `GRPC_MESSAGE_BYTES_MAX`; the message bound caps the rest.
pub const BATCH_REQUESTS_MAX: usize = 1000;

/// Default cap on requests the server works on at once, per connection.
pub const CONCURRENT_REQUESTS_PER_CONNECTION_MAX: usize = 1024;

/// Seconds in-flight requests may run after SIGINT/SIGTERM before the server exits.
pub const SHUTDOWN_GRACE_SECS: u64 = 5;

/// Default seconds between runs of the in-server accrual engine.
pub const ACCRUAL_INTERVAL_SECS_DEFAULT: u64 = 3600;

/// Most entries one `StreamEntries` call returns; callers page for more.
pub const STREAM_ENTRIES_PER_CALL_MAX: u64 = 1_000_000;

/// Participant ids: lowercase ASCII letters, digits and '-'.
pub const PARTICIPANT_ID_BYTES_MAX: usize = 64;
pub const DISPLAY_NAME_CHARS_MAX: usize = 128;
pub const REASON_CHARS_MAX: usize = 256;

/// Most keys in the recovery quorum of the ledger key (`SetRecoveryQuorum`),
/// and so most approvals one emergency replacement carries: each approval is an
/// Ed25519 signature every verifier checks, and a quorum is a handful of
/// officers, not a crowd.
pub const RECOVERY_KEYS_MAX: usize = 16;

/// Most references a registration form names (joint owners, beneficiaries): a
/// family's worth, and a bound on the entries one death notice writes.
pub const REGISTRATION_REFS_MAX: usize = 8;

/// Longest status message, and BadRequest field description, the server sends (in
/// bytes, cut at a character boundary). Messages quote what was refused; a status
/// travels in HTTP/2 headers, whose list clients bound (16 KiB by default), so an
/// unbounded quote would fail the client's connection instead of refusing the call.
pub const STATUS_MESSAGE_BYTES_MAX: usize = 1024;

/// Longest quote of a request's value inside a status message, in characters.
pub const STATUS_QUOTE_CHARS_MAX: usize = 64;

/// Most rows one paginated query returns.
pub const PAGE_SIZE_MAX: u32 = 1000;
pub const PAGE_SIZE_DEFAULT: u32 = 100;

const _: () = assert!(NONCE_BYTES_MIN <= NONCE_BYTES_MAX);
const _: () = assert!(REQUEST_PAYLOAD_BYTES_MAX < GRPC_MESSAGE_BYTES_MAX);
const _: () = assert!(GROUP_COMMIT_ENTRIES_MAX <= WRITE_QUEUE_JOBS_MAX);
const _: () = assert!(GROUP_COMMIT_ENTRIES_MAX <= WRITER_SCRATCH_ENTRIES_KEPT_MAX);
const _: () = assert!(BATCH_REQUESTS_MAX <= WRITE_QUEUE_JOBS_MAX);
const _: () = assert!(PAGE_SIZE_DEFAULT <= PAGE_SIZE_MAX);
const _: () = assert!(MIRROR_SEED_GROUP_RECORDS <= STORE_BATCH_RECORDS_DEFAULT);
const _: () = assert!(MIRROR_RETRY_MS_MIN < MIRROR_RETRY_SECS_MAX * 1000);
const _: () = assert!(REQUEST_FUTURE_SKEW_SECS_MAX < REQUEST_AGE_SECS_MAX);
// A quoted value (up to 4 bytes a character, escaped) fits in a message.
const _: () = assert!(STATUS_QUOTE_CHARS_MAX * 10 < STATUS_MESSAGE_BYTES_MAX);
