//! Allotment of an oversubscribed book, in whole units.
//!
//! Invariants (property-tested): for every line, allotted + refunded = subscribed
//! and allotted <= subscribed; the sum allotted <= cap; when the book fits under
//! the cap every line is filled; the result depends only on the book (in ledger
//! order), the cap and the rule.

use crate::money::Units;
use serde::{Deserialize, Serialize};

/// How an oversubscribed book is shared out. Named in snake case (serde,
/// `Display`): "first_come_first_served", "pro_rata", "retail_priority".
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AllotmentRule {
    /// In ledger order until the cap is reached; the subscription that crosses the
    /// cap gets what is left.
    FirstComeFirstServed,
    /// Each line gets floor(units × cap / total). The units left over go, one each,
    /// to the lines with the largest remainders (units × cap mod total), ties to
    /// the earlier line: the largest-remainder (Hamilton) method.
    ProRata,
    /// Every line is filled up to `units` first (pro rata over those first slices
    /// if even they exceed the cap); what is left of the cap is shared pro rata
    /// over what is left of each line.
    RetailPriority { units: u64 },
}

impl AllotmentRule {
    pub fn as_str(&self) -> &'static str {
        self.into()
    }
}

/// Allots `cap` units over `book` (units per subscription, in ledger order).
/// Returns the units allotted to each line, in the same order.
pub fn allot(book: &[Units], cap: Units, rule: AllotmentRule) -> Vec<Units> {
    let counts: Vec<u64> = book.iter().map(|u| u.get()).collect();
    allot_counts(&counts, cap.get(), rule)
        .into_iter()
        .map(Units::new)
        .collect()
}

/// [`allot`] on plain counts. Sums are taken in `u128`, so no book overflows.
fn allot_counts(book: &[u64], cap: u64, rule: AllotmentRule) -> Vec<u64> {
    let total: u128 = book.iter().map(|&u| u as u128).sum();
    if total <= cap as u128 {
        return book.to_vec();
    }
    match rule {
        AllotmentRule::FirstComeFirstServed => {
            let mut left = cap;
            book.iter()
                .map(|&u| {
                    let a = u.min(left);
                    left -= a;
                    a
                })
                .collect()
        }
        AllotmentRule::ProRata => pro_rata(book, cap),
        AllotmentRule::RetailPriority { units } => {
            let first: Vec<u64> = book.iter().map(|&u| u.min(units)).collect();
            let first_total: u128 = first.iter().map(|&u| u as u128).sum();
            if first_total >= cap as u128 {
                return pro_rata(&first, cap);
            }
            // Cannot underflow: first_total < cap.
            let rest_cap = cap - first_total as u64;
            let rest: Vec<u64> = book.iter().zip(&first).map(|(&u, &f)| u - f).collect();
            let rest_allotted = pro_rata(&rest, rest_cap);
            first
                .iter()
                .zip(rest_allotted)
                .map(|(&f, r)| f + r)
                .collect()
        }
    }
}

/// Largest-remainder pro rata of `cap` over `book`. When the book fits, all lines
/// are filled.
fn pro_rata(book: &[u64], cap: u64) -> Vec<u64> {
    let total: u128 = book.iter().map(|&u| u as u128).sum();
    if total <= cap as u128 {
        return book.to_vec();
    }
    let cap128 = cap as u128;
    let mut allotted: Vec<u64> = Vec::with_capacity(book.len());
    let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(book.len());
    let mut given: u128 = 0;
    for (i, &u) in book.iter().enumerate() {
        let product = u as u128 * cap128;
        // floor(u × cap / total) <= u because cap < total.
        let base = (product / total) as u64;
        allotted.push(base);
        given += base as u128;
        remainders.push((product % total, i));
    }
    // Fewer leftover units than lines: each sum of floors is within one unit per
    // line of the exact share.
    let mut left = (cap128 - given) as usize;
    // Largest remainder first; ties to the earlier line (ledger order).
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(r, i) in &remainders {
        if left == 0 {
            break;
        }
        // A zero remainder means the line already has its exact share; leftover
        // units only arise from positive remainders, so these come first.
        if r == 0 {
            break;
        }
        allotted[i] += 1;
        left -= 1;
    }
    allotted
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// [`allot`] on plain counts, through its typed interface.
    fn allot(book: &[u64], cap: u64, rule: AllotmentRule) -> Vec<u64> {
        let book: Vec<Units> = book.iter().copied().map(Units::new).collect();
        super::allot(&book, Units::new(cap), rule)
            .into_iter()
            .map(Units::get)
            .collect()
    }

    fn check(book: &[u64], cap: u64, rule: AllotmentRule, expected: &[u64]) {
        assert_eq!(
            allot(book, cap, rule),
            expected,
            "book {book:?} cap {cap} rule {rule:?}"
        );
    }

    #[test]
    fn examples() {
        use AllotmentRule::*;
        check(&[10, 20, 30], 100, ProRata, &[10, 20, 30]);
        check(&[10, 20, 30], 60, FirstComeFirstServed, &[10, 20, 30]);
        check(&[10, 20, 30], 25, FirstComeFirstServed, &[10, 15, 0]);
        // 30 units over 60 subscribed: exactly half each.
        check(&[10, 20, 30], 30, ProRata, &[5, 10, 15]);
        // 10 over 3 × 10: shares 3.33 each; one leftover unit to the earliest.
        check(&[10, 10, 10], 10, ProRata, &[4, 3, 3]);
        // Largest remainder wins over ledger order: 7×5/12=2.92, 5×5/12=2.08.
        check(&[5, 7], 5, ProRata, &[2, 3]);
        check(&[1, 1, 1], 2, ProRata, &[1, 1, 0]);
        check(&[100, 1, 1], 3, ProRata, &[3, 0, 0]);
        // Retail priority 5: everyone gets min(units,5) = 5,3,5 = 13; 7 more over 95,0,15.
        check(&[100, 3, 20], 20, RetailPriority { units: 5 }, &[11, 3, 6]);
        // First slices alone exceed the cap: pro rata over the slices.
        check(
            &[100, 100, 100],
            10,
            RetailPriority { units: 5 },
            &[4, 3, 3],
        );
        check(&[], 10, ProRata, &[]);
        check(&[5], 0, ProRata, &[0]);
    }

    fn rules() -> impl Strategy<Value = AllotmentRule> {
        prop_oneof![
            Just(AllotmentRule::FirstComeFirstServed),
            Just(AllotmentRule::ProRata),
            (1u64..50).prop_map(|units| AllotmentRule::RetailPriority { units }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn conservation_and_cap(book in prop::collection::vec(0u64..1_000, 0..200), cap in 0u64..50_000, rule in rules()) {
            let a = allot(&book, cap, rule);
            prop_assert_eq!(a.len(), book.len());
            let total: u64 = book.iter().sum();
            let allotted: u64 = a.iter().sum();
            for (x, u) in a.iter().zip(&book) {
                prop_assert!(x <= u, "allotted more than subscribed");
                // allotted + refunded = subscribed, with refunded = u - x >= 0.
                prop_assert_eq!(x + (u - x), *u);
            }
            prop_assert!(allotted <= cap);
            if total <= cap {
                prop_assert_eq!(&a, &book);
            } else {
                // An oversubscribed book is allotted in full: nothing of the cap is lost.
                prop_assert_eq!(allotted, cap);
            }
        }

        #[test]
        fn pro_rata_is_within_one_unit_of_the_exact_share(book in prop::collection::vec(1u64..10_000, 1..100), cap in 1u64..100_000) {
            let a = allot(&book, cap, AllotmentRule::ProRata);
            let total: u128 = book.iter().map(|&u| u as u128).sum();
            if total > cap as u128 {
                for (x, u) in a.iter().zip(&book) {
                    let exact_floor = (*u as u128 * cap as u128 / total) as u64;
                    prop_assert!(*x == exact_floor || *x == exact_floor + 1);
                }
            }
        }

        #[test]
        fn huge_values_do_not_overflow(book in prop::collection::vec(0u64..u64::MAX / 4, 0..8), cap in 0u64..u64::MAX, rule in rules()) {
            let a = allot(&book, cap, rule);
            prop_assert!(a.iter().map(|&x| x as u128).sum::<u128>() <= cap as u128);
        }
    }

    #[test]
    fn the_harness_can_fail() {
        // A deliberately wrong expectation must be caught by `check`.
        let caught =
            std::panic::catch_unwind(|| check(&[10, 10], 10, AllotmentRule::ProRata, &[10, 0]));
        assert!(caught.is_err());
    }
}
