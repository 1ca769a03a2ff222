//! Published vectors, from transparency-dev/merkle `testonly/constants.go`
//! (LeafInputs, NodeHashes, RootHashes, CompactTrees) and `proof/verify_test.go`
//! (inclusionProofs, consistencyProofs), which carry over
//! google/certificate-transparency's merkle_tree_test.cc vectors. The Go tables
//! number leaves from 1; here the inclusion vectors use 0-based indices.

use super::super::*;
use super::{bytes, h, hs, tree_of};

pub(super) const LEAF_INPUTS: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Perfect-node hashes of the 8-leaf tree, by level then index.
pub(super) const NODE_HASHES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/// Roots of the trees of the first 0..=8 leaves.
pub(super) const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (index, size, audit path).
pub(super) const INCLUSION_VECTORS: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (old size, new size, consistency proof).
pub(super) const CONSISTENCY_VECTORS: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

/// An arbitrary hash that is no node of the vector tree (transparency-dev's
/// `sha256SomeHash`).
pub(super) const SOME_HASH: &str =
    "abacaba000000000000000000000000000000000000000000060061e00123456";

pub(super) fn vector_leaves() -> Vec<Hash> {
    LEAF_INPUTS.iter().map(|x| hash_leaf(&bytes(x))).collect()
}

pub(super) fn vector_tree() -> MemoryTree {
    tree_of(&vector_leaves())
}

#[test]
fn empty_root_is_sha256_of_nothing() {
    assert_eq!(empty_root(), h(ROOTS[0]));
    assert_eq!(Frontier::new().root(), h(ROOTS[0]));
    assert_eq!(MemoryTree::new().root(), h(ROOTS[0]));
    assert_eq!(root_at(0, &MemoryTree::new()).unwrap(), h(ROOTS[0]));
}

#[test]
fn vector_leaf_and_node_hashes() {
    let tree = vector_tree();
    for (level, nodes) in NODE_HASHES.iter().enumerate() {
        for (index, expected) in nodes.iter().enumerate() {
            assert_eq!(
                tree.node(level as u32, index as u64).unwrap(),
                h(expected),
                "node level {level} index {index}"
            );
        }
        // Nothing beyond the perfect nodes is stored.
        assert!(matches!(
            tree.node(level as u32, nodes.len() as u64),
            Err(MerkleError::MissingNode { .. })
        ));
    }
    assert_eq!(hash_leaf(b""), h(NODE_HASHES[0][0]));
}

#[test]
fn vector_roots_for_every_size() {
    let leaves = vector_leaves();
    let full = vector_tree();
    let mut tree = MemoryTree::new();
    for (size, expected) in ROOTS.iter().enumerate() {
        let expected = h(expected);
        assert_eq!(tree.root(), expected, "incremental root at size {size}");
        assert_eq!(
            root_at(size as u64, &full).unwrap(),
            expected,
            "root_at({size})"
        );
        assert_eq!(
            Frontier::load(size as u64, &full).unwrap().root(),
            expected,
            "loaded frontier root at size {size}"
        );
        if let Some(leaf) = leaves.get(size) {
            tree.push(*leaf);
        }
    }
}

#[test]
fn vector_compact_ranges() {
    // transparency-dev's CompactTrees: the frontier hashes for each size.
    let n = |level: usize, index: usize| h(NODE_HASHES[level][index]);
    let expected: [Vec<Hash>; 9] = [
        vec![],
        vec![n(0, 0)],
        vec![n(1, 0)],
        vec![n(1, 0), n(0, 2)],
        vec![n(2, 0)],
        vec![n(2, 0), n(0, 4)],
        vec![n(2, 0), n(1, 2)],
        vec![n(2, 0), n(1, 2), n(0, 6)],
        vec![n(3, 0)],
    ];
    let mut frontier = Frontier::new();
    for (size, want) in expected.iter().enumerate() {
        assert_eq!(&frontier.hashes, want, "frontier at size {size}");
        if let Some(leaf) = vector_leaves().get(size) {
            frontier.append(*leaf, |_, _, _| {});
        }
    }
}

#[test]
fn append_reports_completed_nodes_leaf_first() {
    let mut frontier = Frontier::new();
    let mut calls = Vec::new();
    for leaf in vector_leaves() {
        frontier.append(leaf, |level, index, hash| calls.push((level, index, *hash)));
    }
    let n = |level: u32, index: u64| (level, index, h(NODE_HASHES[level as usize][index as usize]));
    let expected = vec![
        n(0, 0),
        n(0, 1),
        n(1, 0),
        n(0, 2),
        n(0, 3),
        n(1, 1),
        n(2, 0),
        n(0, 4),
        n(0, 5),
        n(1, 2),
        n(0, 6),
        n(0, 7),
        n(1, 3),
        n(2, 1),
        n(3, 0),
    ];
    assert_eq!(calls, expected);
}

#[test]
fn vector_inclusion_proofs_build_and_verify() {
    let leaves = vector_leaves();
    let tree = vector_tree();
    for (index, size, path) in INCLUSION_VECTORS {
        let expected = hs(path);
        assert_eq!(
            inclusion_proof(index, size, &tree).unwrap(),
            expected,
            "inclusion proof for index {index} size {size}"
        );
        let root = h(ROOTS[size as usize]);
        verify_inclusion(&leaves[index as usize], index, size, &expected, &root)
            .unwrap_or_else(|e| panic!("index {index} size {size}: {e}"));
    }
}

#[test]
fn vector_consistency_proofs_build_and_verify() {
    let tree = vector_tree();
    for (old, new, path) in CONSISTENCY_VECTORS {
        let expected = hs(path);
        assert_eq!(
            consistency_proof(old, new, &tree).unwrap(),
            expected,
            "consistency proof {old} -> {new}"
        );
        let (old_root, new_root) = (h(ROOTS[old as usize]), h(ROOTS[new as usize]));
        verify_consistency(old, new, &old_root, &new_root, &expected)
            .unwrap_or_else(|e| panic!("{old} -> {new}: {e}"));
    }
}
