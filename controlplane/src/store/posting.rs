//! Batch-level postings of the alert indices (`idx_sid`, `idx_src`, `idx_dst`; store format
//! version 3).
//!
//! A write batch stores, per sid (or address) and per time bucket, one index entry whose key
//! is `prefix ‖ max_akey` (the newest alert key of the batch with that prefix in that bucket)
//! and whose value lists the batch's other alert keys for it. One skiplist insert then covers
//! all alerts of a sid in a batch instead of one each, which was most of the write path.
//!
//! **Buckets.** All keys of a posting share their bucket: `ts_nanos >> BUCKET_SHIFT`
//! (2^30 ns ≈ 1.07 s of packet time). A batch whose alerts span several buckets writes one
//! posting per bucket. This bounds where an alert can hide: an alert key `k` is in a posting
//! whose key lies between `k` and the end of `k`'s bucket, so a query bounded above by `hi`
//! starts at the end of `hi`'s bucket, and a posting whose bucket starts at or after `hi`
//! holds nothing below it.
//!
//! **Value.** The keys other than `max_akey`, newest first, each as the difference to the
//! previous (newer) key: `varint(Δts)` then `varint(zigzag(Δid))` (ids are not ordered by time
//! inside a batch). An empty value is a posting of one alert. Decoding checks that keys
//! strictly decrease and stay in the bucket, so a damaged value is an error, never a wrong
//! result or a panic.

use prost::encoding::{decode_varint, encode_varint};

/// Bucket width: 2^30 ns of packet time.
pub const BUCKET_SHIFT: u32 = 30;

/// Bit position of the bucket inside a `u128` alert key (`ts_nanos` is the high 64 bits).
const KEY_SHIFT: u32 = 64 + BUCKET_SHIFT;

/// Why a posting value could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PostingError {
    #[error("posting value: truncated or overlong varint")]
    Varint,
    #[error("posting value: keys not strictly decreasing")]
    NotDescending,
    #[error("posting value: key outside the posting's time bucket")]
    OutsideBucket,
}

/// The first key of `key`'s bucket.
pub fn bucket_start(key: u128) -> u128 {
    (key >> KEY_SHIFT) << KEY_SHIFT
}

/// The last key of `key`'s bucket.
pub fn bucket_end(key: u128) -> u128 {
    bucket_start(key) | ((1u128 << KEY_SHIFT) - 1)
}

/// Whether two keys share a bucket (and may share a posting).
pub fn same_bucket(a: u128, b: u128) -> bool {
    a >> KEY_SHIFT == b >> KEY_SHIFT
}

fn split(key: u128) -> (u64, u64) {
    ((key >> 64) as u64, key as u64)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Encodes a posting's value. `keys` are ascending, in one bucket, and the last is the
/// posting's `max_akey` (which goes into the index key, not here). Appends to `out`.
pub fn encode(keys: &[u128], out: &mut Vec<u8>) {
    debug_assert!(keys.windows(2).all(|w| w[0] < w[1]));
    debug_assert!(keys
        .first()
        .zip(keys.last())
        .is_none_or(|(a, b)| same_bucket(*a, *b)));
    let Some((&max, rest)) = keys.split_last() else {
        return;
    };
    let (mut ts, mut id) = split(max);
    for &k in rest.iter().rev() {
        let (t, i) = split(k);
        encode_varint(ts - t, out);
        encode_varint(zigzag(i.wrapping_sub(id) as i64), out);
        (ts, id) = (t, i);
    }
}

/// Decodes the posting `max ‖ value`: pushes its keys onto `out`, newest (`max`) first.
/// On error `out` may hold the keys decoded so far.
pub fn decode(max: u128, mut value: &[u8], out: &mut Vec<u128>) -> Result<(), PostingError> {
    out.push(max);
    let (mut ts, mut id) = split(max);
    let mut prev = max;
    while !value.is_empty() {
        let dts = decode_varint(&mut value).map_err(|_| PostingError::Varint)?;
        let did = decode_varint(&mut value).map_err(|_| PostingError::Varint)?;
        ts = ts.checked_sub(dts).ok_or(PostingError::OutsideBucket)?;
        id = id.wrapping_add(unzigzag(did) as u64);
        let k = (u128::from(ts) << 64) | u128::from(id);
        if k >= prev {
            return Err(PostingError::NotDescending);
        }
        if !same_bucket(k, max) {
            return Err(PostingError::OutsideBucket);
        }
        out.push(k);
        prev = k;
    }
    Ok(())
}

/// Splits `entries` (sorted by prefix, then key) into postings: calls `emit(prefix, keys)`
/// for each run of one prefix in one bucket, keys ascending, in index key order.
pub fn group<P: Eq + Copy>(
    entries: &[(P, u128)],
    keys: &mut Vec<u128>,
    mut emit: impl FnMut(P, &[u128]),
) {
    let mut i = 0;
    while i < entries.len() {
        let (p, first) = entries[i];
        keys.clear();
        while let Some(&(q, k)) = entries.get(i) {
            if q != p || !same_bucket(k, first) {
                break;
            }
            keys.push(k);
            i += 1;
        }
        emit(p, keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(ts: u64, id: u64) -> u128 {
        (u128::from(ts) << 64) | u128::from(id)
    }

    #[test]
    fn one_alert_is_an_empty_value() {
        let mut v = Vec::new();
        encode(&[key(5, 9)], &mut v);
        assert!(v.is_empty());
        let mut out = Vec::new();
        decode(key(5, 9), &v, &mut out).unwrap();
        assert_eq!(out, [key(5, 9)]);
    }

    #[test]
    fn damaged_values_are_errors() {
        let max = key(1 << 31, 100);
        let mut out = Vec::new();
        // Truncated varint.
        assert_eq!(decode(max, &[0x80], &mut out), Err(PostingError::Varint));
        // Δts 0 and Δid 0: the same key again.
        out.clear();
        assert_eq!(
            decode(max, &[0, 0], &mut out),
            Err(PostingError::NotDescending)
        );
        // Δts 0 and Δid +1: newer than max.
        out.clear();
        assert_eq!(
            decode(max, &[0, 2], &mut out),
            Err(PostingError::NotDescending)
        );
        // Δts leaving the bucket.
        out.clear();
        let mut v = Vec::new();
        encode_varint(1 << 30, &mut v);
        v.push(0);
        assert_eq!(decode(max, &v, &mut out), Err(PostingError::OutsideBucket));
        // Δts below zero time.
        out.clear();
        let mut v = Vec::new();
        encode_varint(u64::MAX, &mut v);
        v.push(0);
        assert_eq!(decode(max, &v, &mut out), Err(PostingError::OutsideBucket));
    }

    #[test]
    fn group_splits_by_prefix_and_bucket() {
        let b = 1u64 << BUCKET_SHIFT;
        let entries = [
            (1u32, key(0, 1)),
            (1, key(b - 1, 2)),
            (1, key(b, 3)),
            (2, key(b, 4)),
            (2, key(b + 5, 0)),
        ];
        let mut got = Vec::new();
        group(&entries, &mut Vec::new(), |p, k| got.push((p, k.to_vec())));
        assert_eq!(
            got,
            vec![
                (1, vec![key(0, 1), key(b - 1, 2)]),
                (1, vec![key(b, 3)]),
                (2, vec![key(b, 4), key(b + 5, 0)]),
            ]
        );
    }

    proptest! {
        /// Any sorted set of keys in one bucket round-trips, newest first.
        #[test]
        fn round_trip(bucket in 0u64..(1 << 34), mut raw in proptest::collection::vec((0u64..(1 << BUCKET_SHIFT), any::<u64>()), 1..200)) {
            let base = bucket << BUCKET_SHIFT;
            let mut keys: Vec<u128> = raw.drain(..).map(|(t, id)| key(base + t, id)).collect();
            keys.sort_unstable();
            keys.dedup();
            let mut v = Vec::new();
            encode(&keys, &mut v);
            let mut out = Vec::new();
            decode(*keys.last().unwrap(), &v, &mut out).unwrap();
            keys.reverse();
            prop_assert_eq!(out, keys);
        }

        /// Arbitrary bytes never panic, and what decodes is descending and in the bucket.
        #[test]
        fn arbitrary_values_decode_safely(ts in any::<u64>(), id in any::<u64>(), v in proptest::collection::vec(any::<u8>(), 0..64)) {
            let max = key(ts, id);
            let mut out = Vec::new();
            let r = decode(max, &v, &mut out);
            prop_assert_eq!(out[0], max);
            prop_assert!(out.windows(2).all(|w| w[0] > w[1]));
            prop_assert!(out.iter().all(|k| same_bucket(*k, max)));
            if r.is_ok() {
                let mut asc = out.clone();
                asc.reverse();
                let mut again = Vec::new();
                encode(&asc, &mut again);
                let mut back = Vec::new();
                decode(max, &again, &mut back).unwrap();
                prop_assert_eq!(back, out);
            }
        }
    }
}
