//! Benchmarks of the ledger's Merkle tree and checkpoints: append rate, and proof
//! build and verify times from a 1M-leaf `MemoryTree` (a size that is not a power of
//! two, so every proof also recomputes an imperfect right-edge subtree).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use dbond::ledger::checkpoint::{self, Checkpoint};
use dbond::ledger::merkle::{
    Frontier, MemoryTree, consistency_proof, hash_leaf, inclusion_proof, root_at,
    verify_consistency, verify_inclusion,
};
use std::hint::black_box;
use std::time::Duration;

/// Leaves in the proof benchmarks' tree.
const TREE_LEAVES: u64 = 1_000_000;

/// A deterministic spread of indices, so runs compare; no randomness in the numbers.
fn spread(i: u64, modulus: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % modulus
}

fn tree() -> MemoryTree {
    let mut tree = MemoryTree::new();
    for i in 0..TREE_LEAVES {
        tree.push(hash_leaf(&i.to_be_bytes()));
    }
    tree
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(1));
    let leaf = hash_leaf(b"leaf");
    group.bench_function("frontier", |b| {
        let mut frontier = Frontier::new();
        b.iter(|| frontier.append(black_box(leaf), |_, _, _| {}));
    });
    group.bench_function("memory_tree", |b| {
        let mut tree = MemoryTree::new();
        b.iter(|| tree.push(black_box(leaf)));
    });
    group.bench_function("hash_leaf_then_frontier", |b| {
        let mut frontier = Frontier::new();
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            frontier.append(hash_leaf(&i.to_be_bytes()), |_, _, _| {});
        });
    });
    group.finish();
}

fn proofs(c: &mut Criterion) {
    let tree = tree();
    let size = TREE_LEAVES;
    let root = tree.root();
    let mut group = c.benchmark_group("proofs_1m");

    let mut i = 0u64;
    group.bench_function("inclusion_build", |b| {
        b.iter(|| {
            i += 1;
            inclusion_proof(spread(i, size), size, &tree).unwrap()
        })
    });
    let cases: Vec<_> = (0..1024)
        .map(|i| {
            let index = spread(i, size);
            let leaf = hash_leaf(&index.to_be_bytes());
            (index, leaf, inclusion_proof(index, size, &tree).unwrap())
        })
        .collect();
    let mut k = 0usize;
    group.bench_function("inclusion_verify", |b| {
        b.iter(|| {
            k = (k + 1) % cases.len();
            let (index, leaf, proof) = &cases[k];
            verify_inclusion(leaf, *index, size, proof, &root).unwrap()
        })
    });

    let mut i = 0u64;
    group.bench_function("consistency_build", |b| {
        b.iter(|| {
            i += 1;
            consistency_proof(spread(i, size - 1) + 1, size, &tree).unwrap()
        })
    });
    let cases: Vec<_> = (0..1024)
        .map(|i| {
            let old = spread(i, size - 1) + 1;
            let old_root = root_at(old, &tree).unwrap();
            (old, old_root, consistency_proof(old, size, &tree).unwrap())
        })
        .collect();
    let mut k = 0usize;
    group.bench_function("consistency_verify", |b| {
        b.iter(|| {
            k = (k + 1) % cases.len();
            let (old, old_root, proof) = &cases[k];
            verify_consistency(*old, size, old_root, &root, proof).unwrap()
        })
    });

    let mut i = 0u64;
    group.bench_function("root_at", |b| {
        b.iter(|| {
            i += 1;
            root_at(spread(i, size) + 1, &tree).unwrap()
        })
    });
    group.bench_function("frontier_load", |b| {
        b.iter(|| Frontier::load(black_box(size), &tree).unwrap())
    });
    group.finish();
}

fn checkpoints(c: &mut Criterion) {
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let cp = Checkpoint {
        origin: "dbond.example/registry".into(),
        size: TREE_LEAVES,
        root: hash_leaf(b"root"),
        extensions: vec![],
    };
    let note = checkpoint::sign(&cp, "dbond.example/registry", &key);
    let verifying = key.verifying_key();
    let mut group = c.benchmark_group("checkpoint");
    group.bench_function("sign", |b| {
        b.iter_batched(
            || cp.clone(),
            |cp| checkpoint::sign(&cp, "dbond.example/registry", &key),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("open", |b| {
        b.iter(|| checkpoint::open(black_box(&note), "dbond.example/registry", &verifying).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Two shared cores: short, modest runs that still settle.
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = append, proofs, checkpoints
}
criterion_main!(benches);
