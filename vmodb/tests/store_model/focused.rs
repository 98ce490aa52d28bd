//! Focused tests: index moves, a key written twice, delete and re-insert, visibility, memory.

use crate::{
    GROUPS, OPEN, Row, STATUSES, TABLE, at, entries_of, ids, in_group, open, open_in_group, row,
    row_store, task,
};
use vmodb::TxError;
use vmodb::internals;

#[test]
fn index_scan_after_an_update_that_changes_the_indexed_column() {
    let store = row_store();
    let before = row(1, 1, OPEN, 5);
    let after = row(1, 2, "closed", 5);
    task(&store, 1, |r| {
        r.insert(before.clone()).expect("insert");
        r.insert(row(2, 1, OPEN, 7)).expect("insert");
    });
    internals::commit(&store, 1);
    let pin = internals::pin(&store); // snapshot at 1
    task(&store, 2, |r| {
        r.update(after.clone()).expect("update");
        // The writer sees its own update through the indexes at once.
        assert_eq!(
            ids(r.by_index("by_group", (1u32,)).rows().expect("scan")),
            vec![2]
        );
        assert_eq!(
            ids(r.by_index("by_group", (2u32,)).rows().expect("scan")),
            vec![1]
        );
        assert_eq!(ids(r.in_partial("open").rows().expect("scan")), vec![2]);
    });
    internals::commit(&store, 2); // horizon stays at the pinned 1
    for _ in 0..2 {
        // At the new TID the old probe no longer returns the row...
        assert_eq!(in_group(&store, 2, 1), vec![2]);
        assert_eq!(in_group(&store, 2, 2), vec![1]);
        assert_eq!(open(&store, 2), vec![2]);
        assert_eq!(open_in_group(&store, 2, 1), vec![2]);
        assert_eq!(
            at(&store, 2, |r| r
                .by_index("by_group", (1u32,))
                .count()
                .expect("count")),
            1
        );
        assert_eq!(
            at(&store, 2, |r| r
                .by_index("by_group", (1u32,))
                .sum(|x| x.amount)
                .expect("sum")),
            7
        );
        // ...but the pinned snapshot still finds it under the old key, and only there.
        assert_eq!(in_group(&store, 1, 1), vec![1, 2]);
        assert_eq!(in_group(&store, 1, 2), Vec::<u32>::new());
        assert_eq!(open(&store, 1), vec![1, 2]);
        assert_eq!(open_in_group(&store, 1, 1), vec![1, 2]);
        assert_eq!(at(&store, 1, |r| r.get(&1)), Some(before.clone()));
        assert_eq!(at(&store, 2, |r| r.get(&1)), Some(after.clone()));
        // GC again with the pin held changes nothing.
        internals::commit(&store, 2);
    }
    assert_eq!(store.version_count(), 3);
    drop(pin);
    internals::commit(&store, 2);
    assert_eq!(store.version_count(), 2);
    assert_eq!(in_group(&store, 2, 1), vec![2]);
    assert_eq!(in_group(&store, 2, 2), vec![1]);
    assert_eq!(open(&store, 2), vec![2]);
    // The old version's entries went with it.
    assert_eq!(
        store.index_entry_count(),
        entries_of(&[after, row(2, 1, OPEN, 7)])
    );
}

#[test]
fn same_task_writing_a_key_twice() {
    let store = row_store();
    let v1 = row(1, 1, OPEN, 1);
    task(&store, 1, |r| r.insert(v1.clone()).expect("insert"));
    internals::commit(&store, 1);

    // Task 2 updates twice, to different groups; then fails.
    let v2a = row(1, 2, OPEN, 2);
    let v2b = row(1, 0, "closed", 3);
    let ctx = internals::write_ctx(&store, 2);
    {
        let r = ctx.table::<Row>().expect("rows table");
        r.update(v2a.clone()).expect("update");
        r.update(v2b.clone()).expect("second update");
        assert_eq!(r.get(&1), Some(v2b.clone()));
        for (g, want) in [(0, vec![1]), (1, vec![]), (2, vec![])] {
            assert_eq!(
                ids(r.by_index("by_group", (g,)).rows().expect("scan")),
                want,
                "group {g}"
            );
        }
        assert_eq!(
            ids(r.in_partial("open").rows().expect("scan")),
            Vec::<u32>::new()
        );
    }
    assert_eq!(store.version_count(), 2, "one version per TID");
    // The first update's index entry (group 2) is carried by no version any more.
    assert_eq!(store.index_entry_count(), entries_of(&[v1.clone(), v2b]));
    assert_eq!(at(&store, 1, |r| r.get(&1)), Some(v1.clone()));
    internals::undo(&ctx);
    drop(ctx);
    assert_eq!(at(&store, 2, |r| r.get(&1)), Some(v1.clone()));
    assert_eq!(in_group(&store, 2, 1), vec![1]);
    assert_eq!(in_group(&store, 2, 0), Vec::<u32>::new());
    assert_eq!(in_group(&store, 2, 2), Vec::<u32>::new());
    assert_eq!(open(&store, 2), vec![1]);
    assert_eq!(store.version_count(), 1);
    assert_eq!(
        store.index_entry_count(),
        entries_of(std::slice::from_ref(&v1))
    );

    // Task 3: delete, then insert again, then upsert; the delete returns the visible row.
    let v3 = row(1, 2, OPEN, 9);
    task(&store, 3, |r| {
        assert_eq!(r.delete(&1).expect("delete"), Some(v1.clone()));
        assert_eq!(r.delete(&1).expect("delete again"), None);
        assert_eq!(r.get(&1), None);
        assert!(matches!(
            r.update(v3.clone()),
            Err(TxError::NotFound { .. })
        ));
        r.insert(row(1, 0, OPEN, 4))
            .expect("re-insert in the same task");
        assert!(matches!(
            r.insert(v3.clone()),
            Err(TxError::DuplicateKey { .. })
        ));
        r.upsert(v3.clone()).expect("upsert");
        assert_eq!(r.get(&1), Some(v3.clone()));
    });
    assert_eq!(store.version_count(), 2);
    assert_eq!(in_group(&store, 3, 0), Vec::<u32>::new());
    assert_eq!(in_group(&store, 3, 1), Vec::<u32>::new());
    assert_eq!(in_group(&store, 3, 2), vec![1]);
    assert_eq!(in_group(&store, 2, 1), vec![1]);
    internals::commit(&store, 3);
    assert_eq!(store.version_count(), 1);
    assert_eq!(store.index_entry_count(), entries_of(&[v3]));

    // A fresh key written twice and deleted by one task, then undone: no trace.
    let ctx = internals::write_ctx(&store, 4);
    {
        let r = ctx.table::<Row>().expect("rows table");
        r.insert(row(5, 1, OPEN, 1)).expect("insert");
        r.update(row(5, 2, OPEN, 1)).expect("update");
        assert_eq!(r.delete(&5).expect("delete"), Some(row(5, 2, OPEN, 1)));
        r.upsert(row(5, 0, "held", 1)).expect("upsert");
    }
    internals::undo(&ctx);
    drop(ctx);
    assert_eq!(at(&store, 4, |r| r.get(&5)), None);
    assert_eq!(store.version_count(), 1);
    assert_eq!(store.index_entry_count(), entries_of(&[row(1, 2, OPEN, 9)]));

    // A fresh key inserted and deleted by one task leaves only a tombstone, which GC drops.
    task(&store, 5, |r| {
        r.insert(row(6, 1, OPEN, 1)).expect("insert");
        assert_eq!(r.delete(&6).expect("delete"), Some(row(6, 1, OPEN, 1)));
    });
    assert_eq!(at(&store, 5, |r| r.get(&6)), None);
    assert_eq!(in_group(&store, 5, 1), Vec::<u32>::new());
    internals::commit(&store, 5);
    assert_eq!(store.version_count(), 1);
    assert_eq!(store.index_entry_count(), entries_of(&[row(1, 2, OPEN, 9)]));
}

#[test]
fn delete_then_reinsert() {
    let store = row_store();
    let v1 = row(3, 1, OPEN, 1);
    let v3 = row(3, 2, "closed", 2);
    task(&store, 1, |r| r.insert(v1.clone()).expect("insert"));
    internals::commit(&store, 1);
    let pin = internals::pin(&store);
    task(&store, 2, |r| {
        assert_eq!(r.delete(&3).expect("delete"), Some(v1.clone()));
    });
    task(&store, 3, |r| {
        assert_eq!(r.get(&3), None);
        r.insert(v3.clone()).expect("re-insert");
    });
    internals::commit(&store, 3);
    for _ in 0..2 {
        assert_eq!(at(&store, 1, |r| r.get(&3)), Some(v1.clone()));
        assert_eq!(at(&store, 2, |r| r.get(&3)), None);
        assert_eq!(at(&store, 3, |r| r.get(&3)), Some(v3.clone()));
        assert_eq!(in_group(&store, 1, 1), vec![3]);
        assert_eq!(in_group(&store, 2, 1), Vec::<u32>::new());
        assert_eq!(in_group(&store, 3, 1), Vec::<u32>::new());
        assert_eq!(in_group(&store, 3, 2), vec![3]);
        assert_eq!(open(&store, 1), vec![3]);
        assert_eq!(open(&store, 3), Vec::<u32>::new());
        assert_eq!(at(&store, 2, |r| r.all().count().expect("count")), 0);
        assert_eq!(store.version_count(), 3, "v1, tombstone, v3");
        internals::commit(&store, 3);
    }
    drop(pin);
    internals::commit(&store, 3);
    assert_eq!(store.version_count(), 1);
    assert_eq!(
        store.index_entry_count(),
        entries_of(std::slice::from_ref(&v3))
    );
    assert_eq!(in_group(&store, 3, 1), Vec::<u32>::new());

    // Delete, let GC drop the tombstone, then insert again.
    task(&store, 4, |r| {
        assert_eq!(r.delete(&3).expect("delete"), Some(v3.clone()));
    });
    internals::commit(&store, 4);
    assert_eq!(store.version_count(), 0);
    assert_eq!(store.index_entry_count(), 0);
    let v5 = row(3, 1, OPEN, 5);
    task(&store, 5, |r| {
        r.insert(v5.clone()).expect("insert after GC")
    });
    assert_eq!(in_group(&store, 5, 1), vec![3]);
    assert_eq!(in_group(&store, 4, 1), Vec::<u32>::new());
    assert_eq!(open(&store, 5), vec![3]);
    // An undone delete brings the row back, in its indexes too.
    let ctx = internals::write_ctx(&store, 6);
    assert_eq!(
        ctx.table::<Row>()
            .expect("rows table")
            .delete(&3)
            .expect("delete"),
        Some(v5.clone())
    );
    internals::undo(&ctx);
    drop(ctx);
    assert_eq!(in_group(&store, 6, 1), vec![3]);
    assert_eq!(open_in_group(&store, 6, 1), vec![3]);
    internals::commit(&store, 6);
    assert_eq!(store.version_count(), 1);
    assert_eq!(store.index_entry_count(), entries_of(&[v5]));
}

/// Why every reader of a committed snapshot pins it (`Cluster::state`, queries, table reads,
/// checkpoints): a commit's garbage collection keeps only the newest version at or below the
/// new watermark, so a reader still at the old watermark, unpinned, finds updated rows gone.
/// Pinned, it finds them all.
#[test]
fn an_unpinned_old_snapshot_loses_rows_to_gc() {
    let store = row_store();
    task(&store, 1, |r| r.insert(row(1, 1, OPEN, 1)).expect("insert"));
    internals::commit(&store, 1);
    // A reader takes the watermark (1) and, unpinned, is overtaken by a commit and its GC.
    task(&store, 2, |r| r.update(row(1, 2, OPEN, 2)).expect("update"));
    internals::commit(&store, 2);
    assert_eq!(
        at(&store, 1, |r| r.get(&1)),
        None,
        "the old version was collected"
    );
    // Pinned at the watermark (2), the same happens to nothing it can see.
    let pin = internals::pin(&store);
    task(&store, 3, |r| r.update(row(1, 3, OPEN, 3)).expect("update"));
    internals::commit(&store, 3);
    assert_eq!(at(&store, 2, |r| r.get(&1)).map(|r| r.group), Some(2));
    drop(pin);
    internals::commit(&store, 3);
    assert_eq!(
        at(&store, 2, |r| r.get(&1)),
        None,
        "collected once unpinned"
    );
}

#[test]
fn readers_never_see_later_tids() {
    let store = row_store();
    task(&store, 5, |r| r.insert(row(1, 1, OPEN, 1)).expect("insert"));
    task(&store, 4, |r| {
        // A writer at an earlier TID (parallel work) does not see TID 5's row.
        assert_eq!(r.get(&1), None);
        assert_eq!(r.by_index("by_group", (1u32,)).count().expect("count"), 0);
    });
    assert_eq!(at(&store, 4, |r| r.get(&1)), None);
    assert_eq!(in_group(&store, 4, 1), Vec::<u32>::new());
    assert_eq!(in_group(&store, 5, 1), vec![1]);
    assert_eq!(in_group(&store, 9, 1), vec![1]);
}

#[test]
fn memory_is_bounded_by_live_rows_not_by_transactions() {
    let store = row_store();
    task(&store, 1, |r| {
        for id in 0..10 {
            r.insert(row(id, id % GROUPS, OPEN, 0)).expect("insert");
        }
    });
    internals::commit(&store, 1);
    let mut tid = 1;
    for round in 0..300u32 {
        for k in 0..10u32 {
            tid += 1;
            task(&store, tid, |r| {
                let mut x = r.get(&k).expect("row");
                x.group = (x.group + round + k) % GROUPS;
                x.status = STATUSES[((round + k) % 3) as usize].to_string();
                x.amount += 1;
                x.note = format!("{round}");
                r.update(x).expect("update");
                if (round + k) % 7 == 0 {
                    // Churn: delete and re-insert in the next TID.
                    let gone = r.delete(&k).expect("delete").expect("row");
                    assert_eq!(r.get(&k), None);
                    r.upsert(gone).expect("upsert");
                }
            });
            if (round + k) % 11 == 0 {
                // A failed task.
                tid += 1;
                let ctx = internals::write_ctx(&store, tid);
                ctx.table::<Row>()
                    .expect("rows table")
                    .upsert(row(100 + k, 0, OPEN, 1))
                    .expect("upsert");
                internals::undo(&ctx);
            }
        }
        internals::commit(&store, tid);
        assert_eq!(store.version_count(), 10, "round {round}");
        let live = at(&store, tid, |r| r.all().rows().expect("scan"));
        assert_eq!(
            store.index_entry_count(),
            entries_of(&live),
            "round {round}"
        );
    }
    let total: i64 = at(&store, tid, |r| r.all().sum(|x| x.amount).expect("sum"));
    assert_eq!(total, 300 * 10);
}

#[test]
fn unknown_index_is_an_error() {
    let store = row_store();
    let err = at(&store, 0, |r| r.by_index("by_nothing", (1u32,)).rows());
    assert_eq!(
        err,
        Err(TxError::UnknownIndex {
            table: TABLE.into(),
            index: "by_nothing".into()
        })
    );
}

/// Readers that stop early read the index in chunks: stale entries (rows that moved to another
/// group but whose old version a pinned snapshot keeps) fill whole chunks before the first
/// match, and a limit spans several chunks; every answer is still the model's.
#[test]
fn limited_index_reads_cross_chunks_of_stale_entries() {
    let store = row_store();
    task(&store, 1, |r| {
        for id in 1..=100 {
            r.insert(row(id, 1, OPEN, 1)).expect("insert");
        }
    });
    internals::commit(&store, 1);
    let _pin = internals::pin(&store); // keeps the group-1 versions: stale entries for TID 2
    task(&store, 2, |r| {
        for id in 1..=40 {
            r.update(row(id, 2, OPEN, 1)).expect("update");
        }
    });
    internals::commit(&store, 2);
    let first = at(&store, 2, |r| r.by_index("by_group", (1u32,)).first());
    assert_eq!(first.expect("first").map(|r| r.id), Some(41));
    let some = at(&store, 2, |r| {
        r.by_index("by_group", (1u32,)).limit(37).rows()
    });
    assert_eq!(ids(some.expect("limit")), (41..=77).collect::<Vec<_>>());
    let filtered = at(&store, 2, |r| {
        r.by_index("by_group", (1u32,))
            .filter(|x| x.id % 10 == 0)
            .limit(3)
            .rows()
    });
    assert_eq!(ids(filtered.expect("filter")), vec![50, 60, 70]);
    // The pinned snapshot still sees all hundred in group 1, from the first.
    let old = at(&store, 1, |r| {
        r.by_index("by_group", (1u32,)).limit(20).rows()
    });
    assert_eq!(ids(old.expect("old")), (1..=20).collect::<Vec<_>>());
    assert_eq!(in_group(&store, 2, 2), (1..=40).collect::<Vec<_>>());
}

#[test]
fn read_projects_the_visible_row_without_copying_it() {
    let store = row_store();
    task(&store, 1, |r| r.insert(row(1, 1, OPEN, 5)).expect("insert"));
    task(&store, 2, |r| r.update(row(1, 1, OPEN, 9)).expect("update"));
    assert_eq!(at(&store, 1, |r| r.read(&1, |x| x.amount)), Some(5));
    assert_eq!(at(&store, 2, |r| r.read(&1, |x| x.amount)), Some(9));
    assert_eq!(at(&store, 2, |r| r.read(&2, |x| x.amount)), None);
}
