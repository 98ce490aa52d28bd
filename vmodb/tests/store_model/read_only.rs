//! Read-only contexts and replica tables refuse writes.

use crate::{OPEN, Row, TABLE, at, entries_of, row, row_store, task};
use vmodb::internals;
use vmodb::{TableDef, TxError};

// --- read-only contexts and replicas ----------------------------------------------------------

#[test]
fn read_only_contexts_cannot_write() {
    let store = row_store();
    task(&store, 1, |r| r.insert(row(1, 1, OPEN, 1)).expect("insert"));
    internals::commit(&store, 1);
    let ctx = internals::read_ctx(&store, 1);
    assert!(ctx.is_read_only());
    let r = ctx.table::<Row>().expect("rows table");
    let read_only = Err(TxError::ReadOnly {
        table: TABLE.into(),
    });
    assert_eq!(r.insert(row(2, 1, OPEN, 1)), read_only);
    assert_eq!(r.update(row(1, 2, OPEN, 1)), read_only);
    assert_eq!(r.upsert(row(1, 2, OPEN, 1)), read_only);
    assert_eq!(r.delete(&1).map(|_| ()), read_only);
    // Even a violating or missing row reports the read-only error, and nothing is written.
    assert_eq!(r.update(row(9, 2, OPEN, -1)), read_only);
    assert_eq!(r.get(&1), Some(row(1, 1, OPEN, 1)));
    assert_eq!(store.version_count(), 1);
    assert_eq!(store.index_entry_count(), entries_of(&[row(1, 1, OPEN, 1)]));
    // Undoing a read-only context is harmless.
    internals::undo(&ctx);
    assert_eq!(store.version_count(), 1);
}

#[test]
fn replica_tables_refuse_undeclared_writers() {
    let store = internals::single_table_store(
        TableDef::<Row>::new("rows_copy", &["id"]).replica_of("origin", "rows"),
    )
    .expect("store");
    let r = task(&store, 1, |t| t.insert(row(1, 1, OPEN, 1)));
    assert_eq!(
        r,
        Err(TxError::ReplicaWrite {
            table: "rows_copy".into()
        })
    );
    assert_eq!(
        task(&store, 1, |t| t.delete(&1)),
        Err(TxError::ReplicaWrite {
            table: "rows_copy".into()
        })
    );
    assert_eq!(store.version_count(), 0);
    assert_eq!(at(&store, 1, |t| t.all().count().expect("count")), 0);
}
