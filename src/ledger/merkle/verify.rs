//! Verifying RFC 9162 proofs: each recomputes the root(s) from the proof and
//! compares, and a rejection names the expected and the found value.

use super::hash::hash_children;
use super::proof::{consistency_len, path_len};
use super::{Hash, ProofError};

/// RFC 9162 §2.1.3.2: recomputes the root from `leaf_hash` and its audit path and
/// compares it with `root`.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    // Step 1.
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = path_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            found: proof.len(),
        });
    }
    // Steps 2 and 3.
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf_hash;
    // Step 4.
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongProofLength {
                expected,
                found: proof.len(),
            });
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = hash_children(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = hash_children(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5.
    if s_n != 0 {
        return Err(ProofError::WrongProofLength {
            expected,
            found: proof.len(),
        });
    }
    if r != *root {
        return Err(ProofError::RootMismatch {
            expected: *root,
            calculated: r,
        });
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2: recomputes both roots from the consistency proof and compares
/// them with `old_root` and `new_root`. Equal sizes need an empty proof and equal
/// roots; `old_size == 0` is rejected (the RFC requires `0 < first`; trust in a first
/// tree comes from its signed checkpoint, not from a proof).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size == 0 {
        return Err(ProofError::OldSizeZero { new_size });
    }
    if old_size > new_size {
        return Err(ProofError::OldGreaterThanNew { old_size, new_size });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                expected: 0,
                found: proof.len(),
            });
        }
        if old_root != new_root {
            return Err(ProofError::EqualSizeRootsDiffer {
                size: old_size,
                old_root: *old_root,
                new_root: *new_root,
            });
        }
        return Ok(());
    }
    // Step 1 (an empty proof) is covered here: the expected length is never 0.
    let expected = consistency_len(old_size, new_size);
    let wrong_length = ProofError::WrongProofLength {
        expected,
        found: proof.len(),
    };
    if proof.len() != expected {
        return Err(wrong_length);
    }
    // Step 2: a perfect old tree is its own seed; prepending is done by iterating a
    // chain of `old_root` and the proof, so nothing is allocated.
    let (seed, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        match proof.split_first() {
            Some(split) => split,
            None => return Err(wrong_length),
        }
    };
    // Step 3.
    let mut f_n = old_size - 1;
    let mut s_n = new_size - 1;
    // Step 4.
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5.
    let mut f_r = *seed;
    let mut s_r = *seed;
    // Step 6.
    for c in rest {
        if s_n == 0 {
            return Err(wrong_length);
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = hash_children(c, &f_r);
            s_r = hash_children(c, &s_r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            s_r = hash_children(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 7.
    if s_n != 0 {
        return Err(wrong_length);
    }
    if f_r != *old_root {
        return Err(ProofError::OldRootMismatch {
            expected: *old_root,
            calculated: f_r,
        });
    }
    if s_r != *new_root {
        return Err(ProofError::NewRootMismatch {
            expected: *new_root,
            calculated: s_r,
        });
    }
    Ok(())
}
