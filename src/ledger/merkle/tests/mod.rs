//! The Merkle tree's tests: published vectors (`vectors`), tampered twins and edge
//! cases (`tampered`), and property tests against the RFC's own recursive
//! definitions (`properties`).

mod properties;
mod tampered;
mod vectors;

use super::*;

fn h(hex: &str) -> Hash {
    bytes(hex).try_into().expect("test vector is 32 bytes")
}

fn hs(hexes: &[&str]) -> Vec<Hash> {
    hexes.iter().map(|x| h(x)).collect()
}

fn bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("test vector is hex"))
        .collect()
}

fn tree_of(leaf_hashes: &[Hash]) -> MemoryTree {
    let mut tree = MemoryTree::new();
    for leaf in leaf_hashes {
        tree.push(*leaf);
    }
    tree
}

fn flip_bit(hash: &Hash, byte: usize, bit: u8) -> Hash {
    let mut out = *hash;
    out[byte] ^= 1 << bit;
    out
}
