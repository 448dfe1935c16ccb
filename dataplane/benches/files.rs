//! File tracking throughput: bytes through [`FileSet::append`] (MD5, SHA-1 and SHA-256 of
//! every byte) in the piece sizes a TCP stream delivers, and a whole small file's life
//! (open, append, close, record taken). Reported as bytes per second; no shared data needed.
//!
//! `cargo bench -p dataplane --bench files` (groups `files::append`, `files::small_file`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::files::{FileCounters, FileLimits, FileSet, FileState};

fn append(c: &mut Criterion) {
    let data: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let limits = FileLimits::default();
    let mut g = c.benchmark_group("files::append");
    for piece in [1460usize, 16 * 1024] {
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function(format!("{piece}B_pieces"), |b| {
            let mut ctr = FileCounters::default();
            let mut set = FileSet::new(false);
            b.iter(|| {
                set.open(b"/f.bin", 0, &limits, &mut ctr);
                for p in data.chunks(piece) {
                    set.append(black_box(p), &mut ctr);
                }
                set.close(FileState::Closed, &mut ctr);
            });
        });
    }
    g.finish();
}

fn small_file(c: &mut Criterion) {
    let body = [0x41u8; 1460];
    let limits = FileLimits::default();
    let mut g = c.benchmark_group("files::small_file");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("1460B_with_record", |b| {
        let mut ctr = FileCounters::default();
        let mut set = FileSet::new(true);
        b.iter(|| {
            set.open(b"/index.html", 0, &limits, &mut ctr);
            set.append(black_box(&body), &mut ctr);
            set.close(FileState::Closed, &mut ctr);
            black_box(set.next_unlogged());
        });
    });
    g.finish();
}

criterion_group!(benches, append, small_file);
criterion_main!(benches);
