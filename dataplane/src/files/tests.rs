use super::*;

fn limits(max_open: u64) -> FileLimits {
    FileLimits {
        max_open,
        max_name: 8,
        hash: true,
    }
}

#[test]
fn a_file_closes_with_its_hashes_and_is_logged_once() {
    let mut c = FileCounters::default();
    let mut s = FileSet::new(true);
    assert!(s.open(b"/a/b.txt-long-name", 3, &limits(4), &mut c));
    s.append(b"ab", &mut c);
    s.append(b"c", &mut c);
    assert!(s.next_unlogged().is_none(), "open files wait");
    s.close(FileState::Closed, &mut c);
    let f = s.next_unlogged().and_then(|id| s.get(id)).unwrap();
    assert_eq!(f.name(), b"/a/b.txt");
    assert_eq!(
        (f.size, f.gaps, f.state, f.tx_id),
        (3, false, FileState::Closed, 3)
    );
    assert_eq!(f.digests().unwrap().md5[0], 0x90);
    assert!(s.next_unlogged().is_none());
    assert_eq!((c.opened, c.closed, c.bytes, c.open_now), (1, 1, 3, 0));
}

#[test]
fn gaps_truncate_and_drop_hashes() {
    let mut c = FileCounters::default();
    let mut s = FileSet::new(true);
    s.open(b"x", 0, &limits(4), &mut c);
    s.append(b"abc", &mut c);
    s.gap(10);
    s.append(b"d", &mut c);
    s.close(FileState::Closed, &mut c);
    let f = s.next_unlogged().and_then(|id| s.get(id)).unwrap();
    assert_eq!((f.size, f.gaps, f.state), (14, true, FileState::Truncated));
    assert!(f.digests().is_none());
    assert_eq!((c.truncated, c.bytes), (1, 4));
}

#[test]
fn flow_end_truncates_the_open_file() {
    let mut c = FileCounters::default();
    let mut s = FileSet::new(true);
    s.open(b"x", 0, &limits(4), &mut c);
    s.append(b"abc", &mut c);
    s.close(FileState::Truncated, &mut c);
    let f = s.next_unlogged().and_then(|id| s.get(id)).unwrap();
    assert_eq!(f.state, FileState::Truncated);
    assert!(f.digests().is_some(), "no gap: the bytes seen are hashed");
    assert_eq!(c.open_now, 0);
}

#[test]
fn caps_count_what_they_drop() {
    let mut c = FileCounters::default();
    let mut a = FileSet::new(true);
    let mut b = FileSet::new(true);
    assert!(a.open(b"1", 0, &limits(1), &mut c));
    assert!(!b.open(b"2", 0, &limits(1), &mut c), "worker cap full");
    assert_eq!(c.dropped_cap, 1);
    b.append(b"ignored", &mut c);
    assert_eq!(c.bytes, 0);
    // A new file in the same direction ends the open one.
    assert!(a.open(b"3", 1, &limits(1), &mut c));
    assert_eq!(c.truncated, 1);
    // Closed files waiting for their records are bounded.
    for i in 0..MAX_PENDING as u64 + 2 {
        a.open(b"n", i, &limits(1), &mut c);
        a.close(FileState::Closed, &mut c);
    }
    assert_eq!(a.iter().count(), MAX_PENDING);
    assert_eq!(c.dropped_cap, 1 + 4);
}

#[test]
fn empty_bodies_are_no_files_and_unlogged_sets_keep_nothing_pending() {
    let mut c = FileCounters::default();
    let mut s = FileSet::new(false);
    s.open(b"x", 0, &limits(4), &mut c);
    assert!(s.forget_empty(&mut c));
    assert_eq!((c.opened, c.open_now, s.iter().count()), (0, 0, 0));
    for i in 0..MAX_PENDING as u64 * 2 {
        s.open(b"x", i, &limits(4), &mut c);
        s.append(b"a", &mut c);
        s.close(FileState::Closed, &mut c);
    }
    assert_eq!(
        c.dropped_cap, 0,
        "without records nothing waits to be logged"
    );
    assert!(s.next_unlogged().is_none());
}

#[test]
fn without_a_reader_of_digests_nothing_is_hashed() {
    let mut c = FileCounters::default();
    let mut s = FileSet::new(true);
    let off = FileLimits {
        hash: false,
        ..limits(4)
    };
    s.open(b"x", 0, &off, &mut c);
    s.append(b"abc", &mut c);
    s.close(FileState::Closed, &mut c);
    let f = s.iter().next().unwrap();
    assert_eq!((f.size, f.state), (3, FileState::Closed));
    assert!(f.digests().is_none());
    assert_eq!(c.bytes, 3, "tracked all the same");
}
