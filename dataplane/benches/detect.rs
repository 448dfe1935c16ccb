//! Detection cost per packet over real traffic: the first packets of
//! `../shared/data/pcaps/public_mix.pcap` against ET Open rules (`../shared/data/et-open`),
//! at 1k payload-only rules and at the whole loadable ruleset (~25k).
//!
//! `detect::decode_only` is the baseline; subtract it from the others for detection alone.
//! Run: `cargo bench -p dataplane --bench detect`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::decode::{DecodeConfig, Decoder, LinkType};
use dataplane::detect::{DetectConfig, Detector, PacketView};
use dataplane::time::Timestamp;
use rules::ir::{Buffer, Proto};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use vocab::Direction;

const PACKETS: usize = 20_000;

type Frame = (Vec<u8>, Timestamp, Option<Direction>);

fn frames() -> Option<(LinkType, Vec<Frame>)> {
    let f = std::fs::File::open(vocab::testing::shared_data("pcaps/public_mix.pcap")?).ok()?;
    let mut r = pcap_file::pcap::PcapReader::new(std::io::BufReader::new(f)).ok()?;
    let link = LinkType::try_from(u32::from(r.header().datalink)).ok()?;
    let mut dec = Decoder::new(DecodeConfig {
        checksum_validation: false,
        ..DecodeConfig::default()
    })
    .ok()?;
    let mut seen: HashMap<(std::net::IpAddr, u16, std::net::IpAddr, u16), ()> = HashMap::new();
    let mut out = Vec::with_capacity(PACKETS);
    while let Some(Ok(p)) = r.next_packet() {
        if out.len() == PACKETS {
            break;
        }
        let ts = Timestamp(p.timestamp.as_nanos() as u64);
        let d = dec.decode(link, &p.data, ts);
        let dir = d.ip.map(|ip| {
            let (sp, dp) = d.ports();
            if seen.contains_key(&(ip.dst, dp, ip.src, sp)) {
                Direction::ToClient
            } else {
                seen.insert((ip.src, sp, ip.dst, dp), ());
                Direction::ToServer
            }
        });
        out.push((p.data.to_vec(), ts, dir));
    }
    Some((link, out))
}

fn engine(limit_payload: Option<usize>) -> Option<Arc<rules::Engine>> {
    let mut files: Vec<_> = std::fs::read_dir(vocab::testing::shared_data("et-open")?)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rules"))
        .collect();
    files.sort();
    let mut rs = rules::load_files(&files, rules::LoadOptions::default()).ok()?;
    if let Some(n) = limit_payload {
        rs.rules.retain(|r| {
            matches!(r.ir.proto, Proto::Tcp | Proto::Udp)
                && !r.ir.lists.is_empty()
                && r.ir.lists.iter().all(|l| l.buffer == Buffer::Payload)
        });
        rs.rules.truncate(n);
    }
    let opts = rules::CompileOptions {
        cache_dir: Some(std::env::temp_dir().join("osprey-hscache")),
        threads: 1,
        ..Default::default()
    };
    let e = rules::Engine::compile(&rs.rules, &opts).ok()?;
    eprintln!("engine: {} rules, {} groups", e.stats.rules, e.stats.groups);
    Some(Arc::new(e))
}

fn run(
    c: &mut Criterion,
    name: &str,
    link: LinkType,
    frames: &[Frame],
    det: Option<&mut Detector>,
) {
    let mut dec = Decoder::new(DecodeConfig {
        checksum_validation: false,
        ..DecodeConfig::default()
    })
    .expect("decoder");
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(8));
    let mut det = det;
    g.bench_function(name, |b| {
        b.iter(|| {
            let mut alerts = 0u64;
            for (i, (f, ts, dir)) in frames.iter().enumerate() {
                let p = dec.decode(link, f, *ts);
                if let Some(d) = det.as_deref_mut() {
                    let mut v = PacketView::stateless(&p);
                    v.dir = *dir;
                    v.established = true;
                    d.inspect_packet(&v, None, *ts, &mut |_| alerts += 1);
                    if i % 32 == 31 {
                        d.end_burst();
                    }
                }
            }
            black_box(alerts)
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let Some((link, frames)) = frames() else {
        return;
    };
    run(c, "decode_only", link, &frames, None);
    for (name, lim) in [("payload_1k", Some(1000)), ("et_open_all", None)] {
        let Some(e) = engine(lim) else {
            return;
        };
        let mut det = Detector::new(e, DetectConfig::default()).expect("detector");
        run(c, name, link, &frames, Some(&mut det));
        eprintln!("{name}: {:?}", det.counters());
    }
}

criterion_group!(detect, benches);
criterion_main!(detect);
