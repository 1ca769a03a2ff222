//! Tampered twins of good proofs (each must be rejected), error messages that
//! name both values, and edge and out-of-range cases.

use super::super::proof::consistency_len;
use super::super::*;
use super::vectors::*;
use super::{flip_bit, h, hs};

/// One tampered input to `verify_inclusion`.
#[derive(Clone)]
struct InclusionProbe {
    name: String,
    index: u64,
    size: u64,
    proof: Vec<Hash>,
    root: Hash,
    leaf: Hash,
}

/// Tampered twins of a good inclusion proof, each of which must be rejected
/// (after transparency-dev's `corruptInclusionProof`, plus an empty proof).
fn inclusion_twins(good: &InclusionProbe) -> Vec<InclusionProbe> {
    let twin = |name: &str, tamper: &dyn Fn(&mut InclusionProbe)| {
        let mut probe = good.clone();
        probe.name = name.to_string();
        tamper(&mut probe);
        probe
    };
    let (zero, some, root) = ([0u8; 32], h(SOME_HASH), good.root);
    let mut twins = vec![
        twin("index - 1", &|p| p.index = p.index.wrapping_sub(1)),
        twin("index + 1", &|p| p.index += 1),
        twin("index ^ 2", &|p| p.index ^= 2),
        twin("size * 2", &|p| p.size *= 2),
        twin("size / 2", &|p| p.size /= 2),
        twin("wrong leaf", &|p| p.leaf = hash_leaf(b"WrongLeaf")),
        twin("empty root", &|p| p.root = empty_root()),
        twin("random root", &|p| p.root = some),
        twin("root bit flipped", &|p| p.root = flip_bit(&p.root, 31, 0)),
        twin("trailing zero hash", &|p| p.proof.push(zero)),
        twin("trailing root", &|p| p.proof.push(root)),
        twin("preceding zero hash", &|p| p.proof.insert(0, zero)),
        twin("preceding root", &|p| p.proof.insert(0, root)),
        twin("empty proof", &|p| p.proof.clear()),
        twin("truncated proof", &|p| p.proof.truncate(p.proof.len() - 1)),
    ];
    for i in 0..good.proof.len() {
        let name = format!("proof[{i}] bit 3 flipped");
        twins.push(twin(&name, &|p| p.proof[i] = flip_bit(&p.proof[i], 0, 3)));
    }
    if good.proof.len() > 1 {
        twins.push(twin("inserted hash", &|p| p.proof.insert(1, some)));
    }
    twins
}

#[test]
fn vector_inclusion_tampered_twins_are_rejected() {
    let leaves = vector_leaves();
    for (index, size, path) in INCLUSION_VECTORS.into_iter().skip(1) {
        let good = InclusionProbe {
            name: "good".into(),
            index,
            size,
            proof: hs(path),
            root: h(ROOTS[size as usize]),
            leaf: leaves[index as usize],
        };
        let verify =
            |p: &InclusionProbe| verify_inclusion(&p.leaf, p.index, p.size, &p.proof, &p.root);
        assert_eq!(verify(&good), Ok(()));
        for p in inclusion_twins(&good) {
            assert!(
                verify(&p).is_err(),
                "accepted tampered twin '{}' of inclusion ({index}, {size})",
                p.name
            );
        }
    }
}

/// One tampered input to `verify_consistency`.
#[derive(Clone)]
struct ConsistencyProbe {
    name: String,
    old: u64,
    new: u64,
    proof: Vec<Hash>,
    old_root: Hash,
    new_root: Hash,
}

/// Tampered twins of a good consistency proof, each of which must be rejected
/// (after transparency-dev's `corruptConsistencyProof`).
fn consistency_twins(good: &ConsistencyProbe) -> Vec<ConsistencyProbe> {
    let twin = |name: &str, tamper: &dyn Fn(&mut ConsistencyProbe)| {
        let mut probe = good.clone();
        probe.name = name.to_string();
        tamper(&mut probe);
        probe
    };
    let zero = [0u8; 32];
    let wrong = hash_leaf(b"WrongRoot");
    let (old_root, new_root, first) = (good.old_root, good.new_root, good.proof[0]);
    let mut twins = vec![
        twin("old size - 1", &|p| p.old -= 1),
        twin("old size + 1", &|p| p.old += 1),
        twin("old size ^ 2", &|p| p.old ^= 2),
        twin("new size * 2", &|p| p.new *= 2),
        twin("new size / 2", &|p| p.new /= 2),
        twin("wrong old root", &|p| p.old_root = wrong),
        twin("wrong new root", &|p| p.new_root = wrong),
        twin("swapped roots", &|p| {
            std::mem::swap(&mut p.old_root, &mut p.new_root)
        }),
        twin("empty proof", &|p| p.proof.clear()),
        twin("trailing zero hash", &|p| p.proof.push(zero)),
        twin("trailing old root", &|p| p.proof.push(old_root)),
        twin("trailing new root", &|p| p.proof.push(new_root)),
        twin("preceding zero hash", &|p| p.proof.insert(0, zero)),
        twin("preceding old root", &|p| p.proof.insert(0, old_root)),
        twin("preceding new root", &|p| p.proof.insert(0, new_root)),
        twin("preceding proof[0]", &|p| p.proof.insert(0, first)),
        twin("truncated proof", &|p| p.proof.truncate(p.proof.len() - 1)),
    ];
    for i in 0..good.proof.len() {
        let name = format!("proof[{i}] bit 4 flipped");
        twins.push(twin(&name, &|p| p.proof[i] = flip_bit(&p.proof[i], 0, 4)));
    }
    twins
}

#[test]
fn vector_consistency_tampered_twins_are_rejected() {
    for (old, new, path) in CONSISTENCY_VECTORS.into_iter().skip(1) {
        let good = ConsistencyProbe {
            name: "good".into(),
            old,
            new,
            proof: hs(path),
            old_root: h(ROOTS[old as usize]),
            new_root: h(ROOTS[new as usize]),
        };
        let verify = |p: &ConsistencyProbe| {
            verify_consistency(p.old, p.new, &p.old_root, &p.new_root, &p.proof)
        };
        assert_eq!(verify(&good), Ok(()));
        for p in consistency_twins(&good) {
            assert!(
                verify(&p).is_err(),
                "accepted tampered twin '{}' of consistency {old} -> {new}",
                p.name
            );
        }
    }
}

#[test]
fn inclusion_errors_say_what_was_expected_and_found() {
    let leaves = vector_leaves();
    let root = h(ROOTS[8]);
    let proof = hs(INCLUSION_VECTORS[1].2);
    let check = |index: u64, size: u64, proof: &[Hash], root: &Hash, want: ProofError| {
        assert_eq!(
            verify_inclusion(&leaves[0], index, size, proof, root),
            Err(want)
        );
    };
    check(
        8,
        8,
        &proof,
        &root,
        ProofError::IndexOutOfRange { index: 8, size: 8 },
    );
    check(
        0,
        0,
        &[],
        &root,
        ProofError::IndexOutOfRange { index: 0, size: 0 },
    );
    check(
        0,
        8,
        &proof[..2],
        &root,
        ProofError::WrongProofLength {
            expected: 3,
            found: 2,
        },
    );
    check(
        0,
        8,
        &[proof.clone(), vec![[0; 32]]].concat(),
        &root,
        ProofError::WrongProofLength {
            expected: 3,
            found: 4,
        },
    );
    check(
        0,
        8,
        &[],
        &root,
        ProofError::WrongProofLength {
            expected: 3,
            found: 0,
        },
    );
    check(
        0,
        8,
        &proof,
        &empty_root(),
        ProofError::RootMismatch {
            expected: empty_root(),
            calculated: root,
        },
    );
    let message = ProofError::RootMismatch {
        expected: empty_root(),
        calculated: root,
    }
    .to_string();
    assert_eq!(
        message,
        format!(
            "root mismatch: expected {}, calculated {}",
            ROOTS[0], ROOTS[8]
        )
    );
    assert_eq!(
        ProofError::WrongProofLength {
            expected: 3,
            found: 2
        }
        .to_string(),
        "proof has 2 hashes, expected 3"
    );
}

#[test]
fn consistency_edge_cases() {
    let (a, b) = (hash_leaf(b"a"), hash_leaf(b"b"));
    let check = |old: u64,
                 new: u64,
                 old_root: &Hash,
                 new_root: &Hash,
                 proof: &[Hash],
                 want: Result<(), ProofError>| {
        assert_eq!(
            verify_consistency(old, new, old_root, new_root, proof),
            want,
            "{old} -> {new}"
        );
    };
    // Equal sizes: consistent only with an empty proof and equal roots.
    check(1, 1, &a, &a, &[], Ok(()));
    check(5, 5, &b, &b, &[], Ok(()));
    check(
        1,
        1,
        &a,
        &b,
        &[],
        Err(ProofError::EqualSizeRootsDiffer {
            size: 1,
            old_root: a,
            new_root: b,
        }),
    );
    check(
        1,
        1,
        &a,
        &a,
        &[empty_root()],
        Err(ProofError::WrongProofLength {
            expected: 0,
            found: 1,
        }),
    );
    // The RFC's verifier needs 0 < old size: an empty tree proves nothing.
    check(
        0,
        0,
        &a,
        &a,
        &[],
        Err(ProofError::OldSizeZero { new_size: 0 }),
    );
    check(
        0,
        1,
        &a,
        &b,
        &[],
        Err(ProofError::OldSizeZero { new_size: 1 }),
    );
    check(
        0,
        1,
        &empty_root(),
        &empty_root(),
        &[empty_root()],
        Err(ProofError::OldSizeZero { new_size: 1 }),
    );
    // Time travel.
    check(
        1,
        0,
        &a,
        &b,
        &[],
        Err(ProofError::OldGreaterThanNew {
            old_size: 1,
            new_size: 0,
        }),
    );
    check(
        2,
        1,
        &a,
        &b,
        &[],
        Err(ProofError::OldGreaterThanNew {
            old_size: 2,
            new_size: 1,
        }),
    );
    // A growing tree always needs a proof (RFC §2.1.4.2 step 1).
    check(
        1,
        2,
        &a,
        &b,
        &[],
        Err(ProofError::WrongProofLength {
            expected: 1,
            found: 0,
        }),
    );

    let tree = vector_tree();
    let proof = consistency_proof(6, 8, &tree).unwrap();
    let (r6, r8) = (h(ROOTS[6]), h(ROOTS[8]));
    check(
        6,
        8,
        &a,
        &r8,
        &proof,
        Err(ProofError::OldRootMismatch {
            expected: a,
            calculated: r6,
        }),
    );
    check(
        6,
        8,
        &r6,
        &a,
        &proof,
        Err(ProofError::NewRootMismatch {
            expected: a,
            calculated: r8,
        }),
    );
    assert_eq!(
        ProofError::OldGreaterThanNew {
            old_size: 2,
            new_size: 1
        }
        .to_string(),
        "old tree size 2 is greater than new tree size 1"
    );
}

#[test]
fn builders_reject_out_of_range_arguments() {
    let tree = vector_tree();
    assert!(matches!(
        inclusion_proof(8, 8, &tree),
        Err(MerkleError::IndexOutOfRange { index: 8, size: 8 })
    ));
    assert!(matches!(
        inclusion_proof(0, 0, &tree),
        Err(MerkleError::IndexOutOfRange { index: 0, size: 0 })
    ));
    assert!(matches!(
        consistency_proof(0, 8, &tree),
        Err(MerkleError::SizeOutOfRange {
            old_size: 0,
            new_size: 8
        })
    ));
    assert!(matches!(
        consistency_proof(5, 4, &tree),
        Err(MerkleError::SizeOutOfRange {
            old_size: 5,
            new_size: 4
        })
    ));
    assert_eq!(consistency_proof(8, 8, &tree).unwrap(), Vec::<Hash>::new());
    // Sizes past what the store holds surface as a missing node, never a panic.
    assert!(matches!(
        inclusion_proof(0, 9, &tree),
        Err(MerkleError::MissingNode { level: 0, index: 8 })
    ));
    assert!(matches!(
        root_at(9, &tree),
        Err(MerkleError::MissingNode { .. })
    ));
    assert!(matches!(
        Frontier::load(16, &tree),
        Err(MerkleError::MissingNode { level: 4, index: 0 })
    ));
    assert_eq!(
        MerkleError::MissingNode { level: 4, index: 0 }.to_string(),
        "node at level 4, index 0 is not stored"
    );
}

#[test]
fn absurd_sizes_are_errors_not_panics() {
    let tree = vector_tree();
    let x = hash_leaf(b"x");
    let max = u64::MAX;
    // Builders: the store runs out long before the arithmetic could.
    assert!(inclusion_proof(max - 1, max, &tree).is_err());
    assert!(inclusion_proof(0, max, &tree).is_err());
    assert!(consistency_proof(1, max, &tree).is_err());
    assert!(consistency_proof(max - 1, max, &tree).is_err());
    assert!(consistency_proof(1 << 63, max, &tree).is_err());
    assert!(root_at(max, &tree).is_err());
    assert!(Frontier::load(max, &tree).is_err());

    // Verifiers.
    assert_eq!(
        verify_inclusion(&x, max, max, &[], &x),
        Err(ProofError::IndexOutOfRange {
            index: max,
            size: max
        })
    );
    assert_eq!(
        verify_inclusion(&x, 0, max, &[], &x),
        Err(ProofError::WrongProofLength {
            expected: 64,
            found: 0
        })
    );
    assert_eq!(
        verify_inclusion(&x, max - 1, max, &[], &x),
        Err(ProofError::WrongProofLength {
            expected: 63,
            found: 0
        })
    );
    assert!(matches!(
        verify_inclusion(&x, max - 1, max, &[x; 63], &x),
        Err(ProofError::RootMismatch { .. })
    ));
    assert!(matches!(
        verify_inclusion(&x, 0, max, &[x; 64], &x),
        Err(ProofError::RootMismatch { .. })
    ));
    for (old, new) in [
        (1, max),
        (max - 1, max),
        (1 << 63, max),
        ((1 << 63) + 1, max),
        (3, max),
    ] {
        assert!(verify_consistency(old, new, &x, &x, &[]).is_err());
        let expected = consistency_len(old, new);
        assert!(matches!(
            verify_consistency(old, new, &x, &x, &vec![x; expected]),
            Err(ProofError::OldRootMismatch { .. } | ProofError::NewRootMismatch { .. })
        ));
    }
    assert_eq!(verify_consistency(max, max, &x, &x, &[]), Ok(()));
    assert_eq!(
        verify_consistency(max, max, &x, &x, &[x]),
        Err(ProofError::WrongProofLength {
            expected: 0,
            found: 1
        })
    );
}
