//! Micro-benchmarks of Lightning DB's hot paths, through its storage building blocks
//! (`lightning_db::testing::internals`, with the `testing` feature):
//! memtable insert and get, block build/encode/decode, bloom filters, log batch encoding and
//! record framing, and block cache lookups. Run with `cargo bench --bench micro`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use lightning_db::testing::internals::{
    bloom, decode_from_disk, encode_batch, encode_for_disk, encode_record, read_record, Block,
    BlockBuilder, BlockCache, BlockLayout, MappedBlock, MemTable, OpRef, RecordRead,
};
use lightning_db::ChecksumAlgorithm;

const KEY_LEN: usize = 24;
const VALUE_LEN: usize = 150;

/// `n` sorted random keys and one random value, from a fixed seed.
fn keys_and_value(n: usize) -> (Vec<[u8; KEY_LEN]>, Vec<u8>) {
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut keys: Vec<[u8; KEY_LEN]> = (0..n)
        .map(|_| {
            let mut k = [0u8; KEY_LEN];
            for chunk in k.chunks_mut(8) {
                chunk.copy_from_slice(&next().to_le_bytes()[..chunk.len()]);
            }
            k
        })
        .collect();
    keys.sort_unstable();
    let value: Vec<u8> = (0..VALUE_LEN).map(|_| next() as u8).collect();
    (keys, value)
}

/// A 4 KiB-ish block payload of consecutive keys.
fn block_payload(keys: &[[u8; KEY_LEN]], value: &[u8]) -> (Vec<u8>, usize) {
    let mut builder = BlockBuilder::default();
    let mut n = 0;
    for (i, key) in keys.iter().enumerate() {
        if builder.size() >= 4096 {
            break;
        }
        builder.add(key, i as u64 + 1, Some(value));
        n += 1;
    }
    (builder.finish(), n)
}

fn memtable(c: &mut Criterion) {
    let (keys, value) = keys_and_value(100_000);
    let mut group = c.benchmark_group("memtable");
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("insert 100k", |b| {
        b.iter_batched(
            || MemTable::new(1),
            |table| {
                for (i, key) in keys.iter().enumerate() {
                    table.insert(key, i as u64 + 1, Some(&value));
                }
                table
            },
            BatchSize::LargeInput,
        );
    });
    let table = MemTable::new(1);
    for (i, key) in keys.iter().enumerate() {
        table.insert(key, i as u64 + 1, Some(&value));
    }
    group.bench_function("get 100k", |b| {
        b.iter(|| {
            for key in &keys {
                black_box(table.get(key, u64::MAX));
            }
        });
    });
    group.finish();
}

fn block(c: &mut Criterion) {
    let (keys, value) = keys_and_value(1_000);
    let (payload, entries) = block_payload(&keys, &value);
    let algorithm = ChecksumAlgorithm::Xxh64;
    let mut group = c.benchmark_group("block");
    group.throughput(Throughput::Bytes(payload.len() as u64));
    group.bench_function("build", |b| {
        b.iter(|| black_box(block_payload(&keys[..entries], &value)));
    });
    for compress in [false, true] {
        let name = if compress { "lz4" } else { "raw" };
        group.bench_function(format!("encode_for_disk {name}"), |b| {
            b.iter(|| black_box(encode_for_disk(&payload, compress, algorithm, 4096)));
        });
        let on_disk = encode_for_disk(&payload, compress, algorithm, 4096);
        group.bench_function(format!("decode_from_disk {name}"), |b| {
            b.iter_batched(
                || on_disk.clone(),
                |raw| black_box(decode_from_disk(raw, algorithm, 4096)),
                BatchSize::SmallInput,
            );
        });
    }
    group.bench_function("Block::decode", |b| {
        b.iter_batched(
            || payload.clone(),
            |p| black_box(Block::decode(p)),
            BatchSize::SmallInput,
        );
    });
    let decoded = Block::decode(payload.clone()).expect("decode block");
    group.bench_function("lower_bound", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 7) % entries;
            black_box(decoded.lower_bound(&keys[i], u64::MAX))
        });
    });
    // The mapped-read path: the one-time layout of a verified block, then searches that
    // read the block where it lies.
    group.bench_function("BlockLayout::build", |b| {
        b.iter(|| black_box(BlockLayout::build(&payload)));
    });
    let layout = BlockLayout::build(&payload).expect("layout");
    let mapped = MappedBlock::new(&payload, &layout);
    group.bench_function("mapped lower_bound", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 7) % entries;
            black_box(mapped.lower_bound(&keys[i], u64::MAX))
        });
    });
    group.finish();
}

fn bloom_filter(c: &mut Criterion) {
    let (keys, _) = keys_and_value(100_000);
    let hashes: Vec<u64> = keys.iter().map(|k| bloom::key_hash(k)).collect();
    let mut group = c.benchmark_group("bloom");
    group.throughput(Throughput::Elements(hashes.len() as u64));
    group.bench_function("build 100k keys, 10 bits", |b| {
        b.iter(|| black_box(bloom::build(&hashes, 10)));
    });
    let filter = bloom::build(&hashes, 10);
    group.bench_function("hash + may_contain 100k", |b| {
        b.iter(|| {
            let mut hits = 0u32;
            for k in &keys {
                hits += u32::from(bloom::may_contain(&filter, bloom::key_hash(k)));
            }
            black_box(hits)
        });
    });
    group.finish();
}

fn wal(c: &mut Criterion) {
    let (keys, value) = keys_and_value(1_000);
    let algorithm = ChecksumAlgorithm::Xxh64;
    let mut group = c.benchmark_group("wal");
    for n in [1usize, 1_000] {
        let ops: Vec<OpRef<'_>> = keys[..n]
            .iter()
            .map(|k| OpRef {
                key: k,
                value: Some(&value),
            })
            .collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("encode_batch + frame, {n} puts"), |b| {
            let mut out = Vec::with_capacity(256 * n);
            b.iter(|| {
                out.clear();
                let payload = encode_batch(42, ops.iter().copied());
                encode_record(&mut out, algorithm, &payload);
                black_box(out.len())
            });
        });
        let payload = encode_batch(42, ops.iter().copied());
        let mut framed = Vec::new();
        encode_record(&mut framed, algorithm, &payload);
        group.bench_function(format!("read_record, {n} puts"), |b| {
            b.iter(|| match read_record(&framed, 0, algorithm) {
                RecordRead::Ok(p, end) => black_box((p.len(), end)),
                _ => panic!("record did not read back"),
            });
        });
    }
    group.finish();
}

fn cache(c: &mut Criterion) {
    let (keys, value) = keys_and_value(1_000);
    let (payload, _) = block_payload(&keys, &value);
    let block = Arc::new(Block::decode(payload).expect("decode block"));
    let cache = BlockCache::new(64 << 20);
    for i in 0..10_000u64 {
        cache.insert(i / 100, (i % 100) * 4096, Arc::clone(&block));
    }
    let mut group = c.benchmark_group("cache");
    group.bench_function("get hit", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = (i + 7919) % 10_000;
            black_box(cache.get(i / 100, (i % 100) * 4096))
        });
    });
    group.bench_function("get miss", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            black_box(cache.get(1_000_000 + i, 0))
        });
    });
    group.finish();
}

criterion_group!(benches, memtable, block, bloom_filter, wal, cache);
criterion_main!(benches);
