//! Property tests against a reference implementation written straight from the
//! RFC's recursive definitions, and a check that the harness itself can fail.

use super::super::proof::{consistency_len, path_len};
use super::super::*;
use super::{flip_bit, tree_of};
use proptest::prelude::*;
use std::sync::OnceLock;

/// Largest power of two strictly below `n` (`n >= 2`): the RFC's split point.
fn split(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// MTH straight from RFC 6962 §2.1: recursive, O(n). The yardstick.
fn ref_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            hash_children(&ref_root(&leaves[..k]), &ref_root(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]) from RFC 6962 §2.1.1.
fn ref_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return vec![];
    }
    let k = split(n);
    if m < k {
        let mut p = ref_path(m, &leaves[..k]);
        p.push(ref_root(&leaves[k..]));
        p
    } else {
        let mut p = ref_path(m - k, &leaves[k..]);
        p.push(ref_root(&leaves[..k]));
        p
    }
}

/// SUBPROOF(m, D[n], b) from RFC 6962 §2.1.2.
fn ref_subproof(m: usize, leaves: &[Hash], whole: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if whole {
            vec![]
        } else {
            vec![ref_root(leaves)]
        };
    }
    let k = split(n);
    if m <= k {
        let mut p = ref_subproof(m, &leaves[..k], whole);
        p.push(ref_root(&leaves[k..]));
        p
    } else {
        let mut p = ref_subproof(m - k, &leaves[k..], false);
        p.push(ref_root(&leaves[..k]));
        p
    }
}

/// Leaf hashes derived from a seed, so a failing case replays from its seed.
fn seeded_leaves(seed: u64, n: usize) -> Vec<Hash> {
    (0..n as u64)
        .map(|i| hash_leaf(&[seed.to_be_bytes(), i.to_be_bytes()].concat()))
        .collect()
}

const PROPTEST_SIZE_MAX: usize = 2000;
const PROPTEST_CASES: u32 = 64;

fn proptest_config() -> ProptestConfig {
    ProptestConfig {
        cases: PROPTEST_CASES,
        // Proptest prints the minimal failing input; no regression file is written
        // into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Builds every inclusion proof and every consistency proof of a tree of `size`
/// leaves from `reader` and verifies each against the given roots (`roots[k]` is
/// the root of the first `k` leaves). The property tests run through this, and
/// `harness_detects_a_corrupted_node` shows that it can fail.
fn check_all_proofs(
    reader: &impl NodeReader,
    leaves: &[Hash],
    roots: &[Hash],
) -> Result<(), String> {
    let size = leaves.len() as u64;
    let root = roots[leaves.len()];
    for (index, leaf) in leaves.iter().enumerate() {
        let index = index as u64;
        let proof = inclusion_proof(index, size, reader).map_err(|e| e.to_string())?;
        verify_inclusion(leaf, index, size, &proof, &root)
            .map_err(|e| format!("inclusion of {index} in {size}: {e}"))?;
    }
    for old in 1..=size {
        let proof = consistency_proof(old, size, reader).map_err(|e| e.to_string())?;
        verify_consistency(old, size, &roots[old as usize], &root, &proof)
            .map_err(|e| format!("consistency {old} -> {size}: {e}"))?;
    }
    Ok(())
}

fn prefix_roots(leaves: &[Hash]) -> Vec<Hash> {
    let mut tree = MemoryTree::new();
    let mut roots = vec![tree.root()];
    for leaf in leaves {
        tree.push(*leaf);
        roots.push(tree.root());
    }
    roots
}

/// A store whose node `(level, index)` has one bit flipped.
struct CorruptReader<'a> {
    inner: &'a MemoryTree,
    level: u32,
    index: u64,
}

impl NodeReader for CorruptReader<'_> {
    fn node(&self, level: u32, index: u64) -> Result<Hash, MerkleError> {
        let hash = self.inner.node(level, index)?;
        Ok(if (level, index) == (self.level, self.index) {
            flip_bit(&hash, 7, 1)
        } else {
            hash
        })
    }
}

#[test]
fn harness_detects_a_corrupted_node() {
    let leaves = seeded_leaves(42, 300);
    let tree = tree_of(&leaves);
    let roots = prefix_roots(&leaves);
    assert_eq!(check_all_proofs(&tree, &leaves, &roots), Ok(()));
    for (level, index) in [(0, 0), (0, 299), (3, 17), (8, 0), (5, 8)] {
        let corrupt = CorruptReader {
            inner: &tree,
            level,
            index,
        };
        assert!(
            check_all_proofs(&corrupt, &leaves, &roots).is_err(),
            "a flipped bit in node ({level}, {index}) went unnoticed"
        );
    }
}

/// A long-lived 2048-leaf store: proofs for any smaller size read only its
/// perfect nodes, which every prefix shares.
fn big_tree() -> &'static (Vec<Hash>, MemoryTree) {
    static BIG: OnceLock<(Vec<Hash>, MemoryTree)> = OnceLock::new();
    BIG.get_or_init(|| {
        let leaves = seeded_leaves(7, 2048);
        let tree = tree_of(&leaves);
        (leaves, tree)
    })
}

proptest! {
    #![proptest_config(proptest_config())]

    #[test]
    fn every_proof_of_a_random_tree_verifies(seed in any::<u64>(), size in 1..=PROPTEST_SIZE_MAX) {
        let leaves = seeded_leaves(seed, size);
        let tree = tree_of(&leaves);
        let roots = prefix_roots(&leaves);
        prop_assert_eq!(tree.root(), ref_root(&leaves));
        prop_assert_eq!(check_all_proofs(&tree, &leaves, &roots), Ok(()));
    }

    #[test]
    fn proofs_match_the_rfc_reference(seed in any::<u64>(), size in 1..=300usize, picks in proptest::collection::vec(any::<prop::sample::Index>(), 8)) {
        let leaves = seeded_leaves(seed, size);
        let tree = tree_of(&leaves);
        for pick in &picks {
            let m = pick.index(size);
            prop_assert_eq!(
                inclusion_proof(m as u64, size as u64, &tree).unwrap(),
                ref_path(m, &leaves),
                "inclusion of {} in {}", m, size
            );
            let old = m + 1;
            let want = if old == size { vec![] } else { ref_subproof(old, &leaves, true) };
            prop_assert_eq!(
                consistency_proof(old as u64, size as u64, &tree).unwrap(),
                want,
                "consistency {} -> {}", old, size
            );
        }
    }

    #[test]
    fn load_and_root_at_agree_with_appends(size in 0..=2048usize) {
        let (leaves, big) = big_tree();
        let mut fresh = MemoryTree::new();
        for (k, leaf) in leaves.iter().enumerate().take(size) {
            prop_assert_eq!(root_at(k as u64, big).unwrap(), fresh.root(), "root_at({})", k);
            prop_assert_eq!(&Frontier::load(k as u64, big).unwrap(), fresh.frontier(), "load({})", k);
            fresh.push(*leaf);
        }
        let k = size as u64;
        prop_assert_eq!(root_at(k, big).unwrap(), fresh.root(), "root_at({})", k);
        prop_assert_eq!(&Frontier::load(k, big).unwrap(), fresh.frontier(), "load({})", k);
        prop_assert_eq!(fresh.root(), ref_root(&leaves[..size]));
    }

    #[test]
    fn a_flipped_bit_in_any_proof_is_rejected(size in 2..=2048u64, pick in any::<prop::sample::Index>(), byte in 0..32usize, bit in 0..8u8, which in any::<prop::sample::Index>()) {
        let (_, big) = big_tree();
        let index = pick.index(size as usize) as u64;
        let root = root_at(size, big).unwrap();
        let leaf = big.node(0, index).unwrap();
        let mut proof = inclusion_proof(index, size, big).unwrap();
        prop_assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
        let i = which.index(proof.len());
        proof[i] = flip_bit(&proof[i], byte, bit);
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &root).is_err());

        let old = index + 1;
        if old < size {
            let old_root = root_at(old, big).unwrap();
            let mut proof = consistency_proof(old, size, big).unwrap();
            prop_assert_eq!(verify_consistency(old, size, &old_root, &root, &proof), Ok(()));
            let i = which.index(proof.len());
            proof[i] = flip_bit(&proof[i], byte, bit);
            prop_assert!(verify_consistency(old, size, &old_root, &root, &proof).is_err());
        }
    }

    #[test]
    fn verifiers_never_panic(index in any::<u64>(), size in any::<u64>(), old in any::<u64>(), len in 0..70usize, fill in any::<[u8; 32]>()) {
        let proof = vec![fill; len];
        let _ = verify_inclusion(&fill, index, size, &proof, &fill);
        let _ = verify_inclusion(&fill, index % size.max(1), size, &proof, &fill);
        let _ = verify_consistency(old, size, &fill, &fill, &proof);
        let _ = verify_consistency(old % size.max(1) + 1, size, &fill, &fill, &proof);
        // Only right-length proofs reach the RFC loop, so hand it one too.
        let old = old % size.max(1) + 1;
        if old < size {
            let proof = vec![fill; consistency_len(old, size)];
            prop_assert!(verify_consistency(old, size, &fill, &[0; 32], &proof).is_err());
        }
        if size > 0 {
            let index = index % size;
            let proof = vec![fill; path_len(index, size)];
            prop_assert!(verify_inclusion(&fill, index, size, &proof, &[0; 32]).is_err());
        }
    }
}
