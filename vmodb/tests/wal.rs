//! The write-ahead log against a simple model: whatever is appended and synced comes back on
//! reopen, in order, with continuous indexes; a torn tail of the last segment is cut (and never
//! comes back), the intact prefix survives, appends continue after it; damage followed by
//! intact records (anywhere), damage before the last segment, or a directory of another
//! identity, is refused.

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use vmodb::wal::{Wal, WalError};

type Rec = (u64, Vec<u8>);

fn scratch(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("vmodb-wal-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn open(dir: &Path, segment: u64) -> (Wal, Vec<(u64, Rec)>, u64) {
    let (wal, found) = Wal::open::<Rec>(dir, "test app", segment).expect("open");
    (wal, found.records, found.cut_bytes)
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut s: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    s.sort();
    s
}

fn write_all(dir: &Path, records: &[Rec], segment: u64) {
    let (mut wal, found, _) = open(dir, segment);
    assert!(found.is_empty());
    for r in records {
        wal.append(r).expect("append");
    }
    wal.sync().expect("sync");
}

/// The first record index of a segment (its name).
fn first_index(segment: &Path) -> u64 {
    let stem = segment.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    stem.strip_prefix("wal-")
        .and_then(|s| s.parse().ok())
        .expect("a segment name")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_torn_or_corrupt_tail_is_cut_and_the_prefix_survives(
        records in prop::collection::vec((any::<u64>(), prop::collection::vec(any::<u8>(), 0..300)), 1..60),
        segment in 200u64..4000,
        at in any::<prop::sample::Index>(),
        flip in any::<bool>(),
    ) {
        let dir = scratch("tail");
        write_all(&dir, &records, segment);
        let last = segments(&dir).last().expect("a segment").clone();
        let bytes = std::fs::read(&last).expect("read");
        prop_assume!(!bytes.is_empty());
        let at = at.index(bytes.len());
        // The model: where each record of the last segment ends (8-byte header + postcard).
        let first = first_index(&last) as usize;
        let mut ends = Vec::new();
        let mut end = 0usize;
        for r in &records[first..] {
            end += 8 + postcard::to_allocvec(r).expect("encode").len();
            ends.push(end);
        }
        // After the records, zeros written ahead of them.
        prop_assert!(bytes.len() >= end);
        prop_assert!(bytes[end..].iter().all(|b| *b == 0));
        let damaged = if flip {
            let mut d = bytes.clone();
            d[at] ^= 0x5a;
            d
        } else {
            bytes[..at].to_vec()
        };
        std::fs::write(&last, &damaged).expect("write");
        // Intact: the records that end at or before the damage (a flip damages its record).
        let intact = ends.iter().filter(|e| **e <= at).count();
        let valid = if intact == 0 { 0 } else { ends[intact - 1] };
        // A flip in a record with records after it damages acknowledged data: refused.
        if flip && intact + 1 < ends.len() {
            match Wal::open::<Rec>(&dir, "test app", segment) {
                Err(WalError::Corrupt { path, offset, .. }) => {
                    prop_assert_eq!(path, last);
                    prop_assert_eq!(offset, valid as u64);
                }
                Err(e) => prop_assert!(false, "unexpected error {}", e),
                Ok(_) => prop_assert!(false, "damage before intact records was cut"),
            }
            let _ = std::fs::remove_dir_all(&dir);
            return Ok(());
        }

        let (mut wal, found, cut_bytes) = open(&dir, segment);
        prop_assert_eq!(found.len(), first + intact);
        for (k, (i, r)) in found.iter().enumerate() {
            prop_assert_eq!(*i, k as u64);
            prop_assert_eq!(r, &records[k]);
        }
        // Zeros after the intact records are a clean end; anything else there is cut.
        let clean = damaged[valid..].iter().all(|b| *b == 0);
        prop_assert_eq!(cut_bytes, if clean { 0 } else { (damaged.len() - valid) as u64 });
        // Appending goes on after the intact prefix, and a reopen sees both.
        let extra: Rec = (7, vec![1, 2, 3]);
        prop_assert_eq!(wal.append(&extra).expect("append"), found.len() as u64);
        wal.sync().expect("sync");
        drop(wal);
        let (_, again, cut_again) = open(&dir, segment);
        prop_assert_eq!(cut_again, 0);
        prop_assert_eq!(again.len(), found.len() + 1);
        prop_assert_eq!(&again.last().expect("last").1, &extra);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn records_come_back_across_segments_and_old_segments_can_go() {
    let dir = scratch("segments");
    let records: Vec<Rec> = (0..500).map(|i| (i, vec![i as u8; 40])).collect();
    write_all(&dir, &records, 1000);
    let n = segments(&dir).len();
    assert!(n > 5, "{n} segments");
    let (mut wal, found, cut) = open(&dir, 1000);
    assert_eq!(cut, 0);
    assert_eq!(found.len(), 500);
    assert!(
        found
            .iter()
            .enumerate()
            .all(|(k, (i, r))| *i == k as u64 && *r == records[k])
    );
    let before = wal.disk_bytes().expect("bytes");
    let deleted = wal.truncate_before(400).expect("truncate");
    assert!(deleted > 0);
    assert!(wal.disk_bytes().expect("bytes") < before);
    assert_eq!(wal.next_index(), 500);
    drop(wal);
    let (_, found, _) = open(&dir, 1000);
    // What is left starts at a segment boundary at or below 400 and runs to the end.
    let first = found.first().expect("records").0;
    assert!(first > 0 && first <= 400, "first {first}");
    assert_eq!(found.last().expect("records").0, 499);
    assert!(found.windows(2).all(|w| w[1].0 == w[0].0 + 1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn damage_before_the_last_segment_is_refused() {
    let dir = scratch("damage");
    let records: Vec<Rec> = (0..200).map(|i| (i, vec![7; 40])).collect();
    write_all(&dir, &records, 1000);
    let first = segments(&dir)[0].clone();
    let mut bytes = std::fs::read(&first).expect("read");
    bytes[20] ^= 0xff;
    std::fs::write(&first, &bytes).expect("write");
    match Wal::open::<Rec>(&dir, "test app", 1000) {
        Err(WalError::Corrupt { path, .. }) => assert_eq!(path, first),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a damaged acknowledged record was accepted"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Damage in the middle of the last segment, with intact acknowledged records after it, is
/// corruption: the log refuses to open (naming file and offset) instead of cutting them.
#[test]
fn wal_damage_followed_by_intact_records_is_refused() {
    let dir = scratch("middle");
    let records: Vec<Rec> = (0..5).map(|i| (i, vec![9; 30])).collect();
    write_all(&dir, &records, 1 << 20);
    let only = segments(&dir)[0].clone();
    let mut bytes = std::fs::read(&only).expect("read");
    bytes[20] ^= 0x01; // inside the first record's body
    std::fs::write(&only, &bytes).expect("write");
    match Wal::open::<Rec>(&dir, "test app", 1 << 20) {
        Err(WalError::Corrupt { path, offset, why }) => {
            assert_eq!(path, only);
            assert_eq!(offset, 0);
            assert!(why.contains("intact"), "{why}");
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok((_, found)) => panic!(
            "opened, cutting acknowledged records: {} of 5 left",
            found.records.len()
        ),
    }
    // Nothing was cut: the damage is still there for an operator to look at.
    assert_eq!(std::fs::read(&only).expect("read"), bytes);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A record that encodes to nothing would read back as the end of the records: refused.
#[test]
fn empty_wal_records_are_refused() {
    let dir = scratch("empty");
    let (mut wal, _) = Wal::open::<()>(&dir, "test app", 1 << 20).expect("open");
    assert!(wal.append(&()).is_err());
    wal.append(&(1u8,)).expect("a non-empty record");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_directory_of_another_identity_is_refused() {
    let dir = scratch("identity");
    write_all(&dir, &[(1, vec![1])], 1000);
    let e = Wal::open::<Rec>(&dir, "another app", 1000)
        .err()
        .expect("refused");
    let msg = e.to_string();
    assert!(
        msg.contains("another app") && msg.contains("test app"),
        "{msg}"
    );
    // Settings (`key = value` lines) are named when they differ, and only those.
    let settled = scratch("identity-settings");
    let written = "test app\nscale = 0.1\nseed = 42";
    Wal::open::<Rec>(&settled, written, 1000).expect("a fresh directory");
    let e = Wal::open::<Rec>(&settled, "test app\nscale = 0.05\nseed = 42", 1000)
        .err()
        .expect("refused");
    let msg = e.to_string();
    assert!(msg.contains("scale = 0.1 there, 0.05 here"), "{msg}");
    assert!(!msg.contains("seed"), "{msg}");
    Wal::open::<Rec>(&settled, written, 1000).expect("the same settings open it");
    let _ = std::fs::remove_dir_all(&settled);
    // Log segments without their IDENTITY file are not adopted either.
    std::fs::remove_file(dir.join("IDENTITY")).expect("rm");
    let e = Wal::open::<Rec>(&dir, "test app", 1000)
        .err()
        .expect("refused");
    assert!(e.to_string().contains("without an IDENTITY"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
