//! Reading a signed `RequestPayload` for what the ledger checks before deciding it,
//! and the time window its issue time must fall in.
//!
//! Invariants: a field read here is read from the same bytes, and as the same
//! value, as a full decode of the payload would give it. The window is one
//! function, to the nanosecond, for the server (against its clock, then against
//! the time the entry is recorded at) and for every verifier (against the
//! recorded time).

use crate::limits::{REQUEST_AGE_SECS_MAX, REQUEST_FUTURE_SKEW_SECS_MAX};
use chrono::{DateTime, TimeDelta, Utc};
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
/// decode or carry no valid time (nanoseconds outside 0..=999,999,999, or seconds
/// a `DateTime` cannot hold).
pub fn issued_at(payload: &[u8]) -> Option<DateTime<Utc>> {
    let t = IssueTime::decode(payload).ok()?.issued_at?;
    let nanos = u32::try_from(t.nanos).ok().filter(|n| *n < 1_000_000_000)?;
    DateTime::from_timestamp(t.seconds, nanos)
}

/// An issue time outside the window around the time it is checked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OutsideWindow {
    /// Issued more than `REQUEST_AGE_SECS_MAX` before.
    #[error(
        "issued {} s before {at}; the limit is {REQUEST_AGE_SECS_MAX} s",
        seconds(*.age)
    )]
    Stale { age: TimeDelta, at: DateTime<Utc> },
    /// Issued more than `REQUEST_FUTURE_SKEW_SECS_MAX` after.
    #[error(
        "issued {} s after {at}; the limit is {REQUEST_FUTURE_SKEW_SECS_MAX} s ahead",
        seconds(*.ahead)
    )]
    Ahead { ahead: TimeDelta, at: DateTime<Utc> },
}

/// Checks that `issued_at` lies in `[at - REQUEST_AGE_SECS_MAX s, at +
/// REQUEST_FUTURE_SKEW_SECS_MAX s]`, both ends included, compared to the
/// nanosecond: 300 s old is fresh, 300.000000001 s is not.
pub fn check_window(issued_at: DateTime<Utc>, at: DateTime<Utc>) -> Result<(), OutsideWindow> {
    let age = at - issued_at;
    if age > TimeDelta::seconds(REQUEST_AGE_SECS_MAX) {
        return Err(OutsideWindow::Stale { age, at });
    }
    let ahead = -age;
    if ahead > TimeDelta::seconds(REQUEST_FUTURE_SKEW_SECS_MAX) {
        return Err(OutsideWindow::Ahead { ahead, at });
    }
    Ok(())
}

/// A duration as exact decimal seconds, without trailing zeros ("300.001").
pub fn seconds(d: TimeDelta) -> String {
    let nanos = d
        .num_nanoseconds()
        .map(i128::from)
        .unwrap_or_else(|| i128::from(d.num_seconds()) * 1_000_000_000);
    rust_decimal::Decimal::try_from_i128_with_scale(nanos, 9)
        .map(|s| s.normalize().to_string())
        .unwrap_or_else(|_| d.num_seconds().to_string())
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
        for nanos in [-1, 1_000_000_000, i32::MAX] {
            let bad = prost_types::Timestamp {
                seconds: 1_800_000_000,
                nanos,
            };
            assert_eq!(issued_at(&payload(Some(bad))), None, "nanos {nanos}");
        }
    }

    #[test]
    fn the_window_is_exact_to_the_nanosecond_at_both_ends() {
        let at = DateTime::from_timestamp(1_800_000_000, 500_000_000).unwrap();
        let nanos = TimeDelta::nanoseconds;
        let secs = TimeDelta::seconds;
        let oldest = at - secs(REQUEST_AGE_SECS_MAX);
        let latest = at + secs(REQUEST_FUTURE_SKEW_SECS_MAX);
        for fresh in [at, oldest, latest, oldest + nanos(1), latest - nanos(1)] {
            assert_eq!(check_window(fresh, at), Ok(()), "{fresh}");
        }
        match check_window(oldest - nanos(1), at) {
            Err(e @ OutsideWindow::Stale { .. }) => assert_eq!(
                e.to_string(),
                "issued 300.000000001 s before 2027-01-15 08:00:00.500 UTC; the limit is 300 s"
            ),
            other => panic!("300.000000001 s old was {other:?}"),
        }
        match check_window(oldest - TimeDelta::milliseconds(1), at) {
            Err(OutsideWindow::Stale { age, .. }) => assert_eq!(seconds(age), "300.001"),
            other => panic!("300.001 s old was {other:?}"),
        }
        match check_window(latest + TimeDelta::milliseconds(1), at) {
            Err(e @ OutsideWindow::Ahead { .. }) => {
                assert!(e.to_string().starts_with("issued 60.001 s after"), "{e}")
            }
            other => panic!("60.001 s ahead was {other:?}"),
        }
        assert!(
            check_window(at - TimeDelta::days(1), at).is_err(),
            "a day early"
        );
        assert_eq!(seconds(secs(300)), "300");
    }
}
