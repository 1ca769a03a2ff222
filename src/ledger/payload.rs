//! Reading a signed `RequestPayload` for what the ledger checks before deciding it.
//!
//! Invariant: a field read here is read from the same bytes, and as the same
//! value, as a full decode of the payload would give it.

use chrono::{DateTime, Utc};
use prost::Message;

/// A `RequestPayload` read for its issue time alone: the other fields (the command
/// above all) are skipped, not decoded.
#[derive(Clone, PartialEq, prost::Message)]
struct IssueTime {
    /// `RequestPayload.issued_at`'s tag.
    #[prost(message, optional, tag = "2")]
    issued_at: Option<prost_types::Timestamp>,
}

/// The issue time of an encoded `RequestPayload`, or `None` when the bytes do not
/// decode or carry no time a `DateTime` can hold. Nanoseconds outside 0..1e9 are
/// clamped into it.
pub fn issued_at(payload: &[u8]) -> Option<DateTime<Utc>> {
    let t = IssueTime::decode(payload).ok()?.issued_at?;
    DateTime::from_timestamp(t.seconds, t.nanos.clamp(0, 999_999_999) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto as pb;

    fn payload(issued_at: Option<prost_types::Timestamp>) -> Vec<u8> {
        pb::RequestPayload {
            ledger_origin: "payload.test/dbond".into(),
            issued_at,
            nonce: vec![9; 16],
            command: Some(pb::Command {
                kind: Some(pb::command::Kind::RevokeParticipant(
                    pb::RevokeParticipant {
                        participant_id: "bank-a".into(),
                        reason: "test".into(),
                    },
                )),
            }),
        }
        .encode_to_vec()
    }

    #[test]
    fn the_issue_time_is_read_past_the_other_fields_as_the_whole_payload_gives_it() {
        let t = prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 123_000_000,
        };
        let bytes = payload(Some(t));
        assert_eq!(
            IssueTime::decode(bytes.as_slice()).unwrap().issued_at,
            pb::RequestPayload::decode(bytes.as_slice())
                .unwrap()
                .issued_at,
            "the issue time alone reads what the whole payload says"
        );
        assert_eq!(
            issued_at(&bytes),
            DateTime::from_timestamp(1_800_000_000, 123_000_000)
        );
        assert_eq!(issued_at(&payload(None)), None);
        assert_eq!(issued_at(b"\xff\xff not protobuf"), None);
        let beyond = prost_types::Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        };
        assert_eq!(issued_at(&payload(Some(beyond))), None);
    }
}
