//! What model resolution costs at start-up: hashing a model file cold (sha256 of the
//! 78 MB test Whisper) against the verification-cache hit that every later start takes.
//!
//! Run with `make bench` (needs `make test-models`).

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ideadesk::models::verify::{IntegrityStore, sha256_file};

fn test_whisper() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/test/stt/ggml-tiny.en.bin");
    assert!(
        path.is_file(),
        "{} is missing: run `make test-models`",
        path.display()
    );
    path
}

fn verification(c: &mut Criterion) {
    let path = test_whisper();
    let n_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let mut group = c.benchmark_group("verify");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(n_bytes));
    group.bench_function("sha256_cold_tiny_en", |b| {
        b.iter(|| sha256_file(&path, false).expect("hashes"))
    });
    let data_dir = tempfile::tempdir().expect("a temp dir");
    let mut store = IntegrityStore::open(data_dir.path());
    store.sha256(&path, false).expect("hashes once");
    group.bench_function("cache_hit_tiny_en", |b| {
        b.iter(|| store.sha256(&path, false).expect("cached"))
    });
    group.finish();
}

criterion_group!(benches, verification);
criterion_main!(benches);
