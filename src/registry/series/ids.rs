//! Series ids and the ISO 3166-1 country codes eligibility rules name.

use crate::registry::RegistryError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A series id: 1 to 40 of upper-case ASCII letters, digits and '-'.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SeriesId(std::sync::Arc<str>);

impl SeriesId {
    pub fn parse(field: &str, s: &str) -> Result<Self, RegistryError> {
        let ok = !s.is_empty()
            && s.len() <= 40
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        if !ok {
            return Err(RegistryError::invalid(
                field,
                format!("must be 1 to 40 upper-case letters, digits and '-', found {s:?}"),
            ));
        }
        Ok(SeriesId(s.into()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SeriesId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for SeriesId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// An ISO 3166-1 alpha-2 country code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

/// ISO 3166-1 alpha-2 codes, officially assigned.
const ISO_3166: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Whether `code` is in `ISO_3166` (sorted, so found by bisection: the replay
/// at open parses a country per subscription).
fn iso_3166_assigned(code: [u8; 2]) -> bool {
    let table = ISO_3166.as_bytes();
    let (mut lo, mut hi) = (0, table.len().div_ceil(3));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match [table[3 * mid], table[3 * mid + 1]].cmp(&code) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

impl Country {
    pub fn parse(field: &str, s: &str) -> Result<Self, RegistryError> {
        let b = s.as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_uppercase) && iso_3166_assigned([b[0], b[1]]) {
            return Ok(Country([b[0], b[1]]));
        }
        Err(RegistryError::invalid(
            field,
            format!("expected an ISO 3166-1 alpha-2 country code such as DE, found {s:?}"),
        ))
    }
    pub fn as_str(&self) -> &str {
        // Only built from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Country::parse("country", &s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_table_is_sorted_and_every_code_and_only_those_parse() {
        let codes: Vec<&str> = ISO_3166.split(' ').collect();
        assert_eq!(
            ISO_3166.len(),
            codes.len() * 3 - 1,
            "two letters and a space each"
        );
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
        for c in &codes {
            assert_eq!(Country::parse("c", c).unwrap().as_str(), *c);
        }
        let mut refused = 0;
        for a in b'A'..=b'Z' {
            for b in b'A'..=b'Z' {
                let s = String::from_utf8(vec![a, b]).unwrap();
                if Country::parse("c", &s).is_err() {
                    assert!(!codes.contains(&s.as_str()));
                    refused += 1;
                }
            }
        }
        assert_eq!(refused, 26 * 26 - codes.len());
        for bad in ["", "D", "de", "DEU", "XX", "ZZ", "AA"] {
            assert!(Country::parse("c", bad).is_err(), "{bad:?}");
        }
    }
}
