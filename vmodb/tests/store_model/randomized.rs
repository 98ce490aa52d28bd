//! The proptest: random operations run on the engine and the reference model side by side.

use crate::model::{Model, check_accounting, check_snapshot, index_keys};
use crate::ops::{Op, Read, Shape, Src, Step, Undo, Write, apply, engine_read, read_at};
use crate::{GROUPS, KEYS, NOTES, Row, STATUSES, row_store};
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::BTreeSet;
use vmodb::Tid;
use vmodb::internals;

// ---------------------------------------------------------------------------------------------
// The proptest
// ---------------------------------------------------------------------------------------------

fn run_ops(ops: &[Op]) -> Result<(), TestCaseError> {
    let store = row_store();
    let mut model = Model::default();
    let mut last_tid: Tid = 0;
    let mut watermark: Tid = 0;
    // Horizon of the last GC: reads at or above it are guaranteed to be unchanged by GC.
    let mut horizon: Tid = 0;
    let mut pins = Vec::new();
    // A failed task whose undo is still to come.
    let mut pending = None;

    for (step_no, op) in ops.iter().enumerate() {
        let when = format!("op #{step_no} {op:?}");
        match op {
            Op::Task { gap, steps, undo } => {
                if let Some((ctx, tid)) = pending.take() {
                    internals::undo(&ctx);
                    model.undo(tid);
                    check_snapshot(&store, &model, tid, "after a deferred undo")?;
                }
                let tid = last_tid + gap;
                last_tid = tid;
                let ctx = internals::write_ctx(&store, tid);
                {
                    let repo = ctx.table::<Row>().expect("rows table");
                    for (i, step) in steps.iter().enumerate() {
                        match step {
                            Step::Write(w) => {
                                let got = apply(&repo, w);
                                match model.expect(tid, w) {
                                    Ok((want, effect)) => {
                                        prop_assert_eq!(
                                            &got,
                                            &want,
                                            "{}: step {} at TID {}",
                                            &when,
                                            i,
                                            tid
                                        );
                                        if let Some(new) = effect {
                                            model.install(tid, w.key(), new);
                                        }
                                    }
                                    Err(allowed) => prop_assert!(
                                        allowed.contains(&got),
                                        "{}: step {} at TID {}: got {:?}, expected one of {:?}",
                                        &when,
                                        i,
                                        tid,
                                        got,
                                        allowed
                                    ),
                                }
                            }
                            Step::Read(r) => prop_assert_eq!(
                                engine_read(&repo, r),
                                model.read(tid, r),
                                "{}: step {} (own TID {})",
                                &when,
                                i,
                                tid
                            ),
                        }
                    }
                }
                match undo {
                    Undo::No => {}
                    Undo::Now => {
                        internals::undo(&ctx);
                        model.undo(tid);
                    }
                    Undo::Later => pending = Some((ctx, tid)),
                }
            }
            Op::Commit(_) | Op::CommitAll => {
                // A batch never commits a failed task that is not undone yet.
                let hi = pending.as_ref().map_or(last_tid, |(_, t)| t - 1);
                if hi >= watermark {
                    let w = match op {
                        Op::Commit(ix) => {
                            watermark + ix.index((hi - watermark + 1) as usize) as Tid
                        }
                        _ => hi,
                    };
                    watermark = w;
                    let oldest_pin = pins.iter().map(|(_, t)| *t).min();
                    horizon = oldest_pin.map_or(w, |p: Tid| p.min(w));
                    let dropped = internals::commit(&store, w);
                    prop_assert_eq!(dropped, model.collect(horizon), "{}: dropped", &when);
                    if pins.is_empty() && pending.is_none() && w == last_tid {
                        prop_assert_eq!(
                            store.version_count(),
                            model.rows_at(w).len(),
                            "{}: versions after a full GC",
                            &when
                        );
                    }
                }
            }
            Op::Pin => pins.push((internals::pin(&store), watermark)),
            Op::Unpin(ix) => {
                if !pins.is_empty() {
                    drop(pins.remove(ix.index(pins.len())));
                }
            }
            Op::ReadAt(ix, r) => {
                let t = horizon + ix.index((last_tid + 2 - horizon) as usize) as Tid;
                prop_assert_eq!(
                    read_at(&store, t, r),
                    model.read(t, r),
                    "{} at TID {}",
                    &when,
                    t
                );
            }
            Op::ReadPinned(ix, r) => {
                if !pins.is_empty() {
                    let t = pins[ix.index(pins.len())].1;
                    prop_assert_eq!(
                        read_at(&store, t, r),
                        model.read(t, r),
                        "{} at pinned TID {}",
                        &when,
                        t
                    );
                }
            }
        }
        check_accounting(&store, &model, &when)?;
        let mut tids: BTreeSet<Tid> = pins.iter().map(|(_, t)| *t).collect();
        tids.extend([horizon, watermark, last_tid]);
        for t in tids {
            check_snapshot(&store, &model, t, &when)?;
        }
    }

    // Wind down: the pending undo happens, pins go, everything commits.
    if let Some((ctx, tid)) = pending.take() {
        internals::undo(&ctx);
        model.undo(tid);
    }
    pins.clear();
    let dropped = internals::commit(&store, last_tid);
    prop_assert_eq!(dropped, model.collect(last_tid), "final commit: dropped");
    check_accounting(&store, &model, "final commit")?;
    let live = model.rows_at(last_tid);
    prop_assert_eq!(
        store.version_count(),
        live.len(),
        "versions after the final commit"
    );
    let entries: usize = live
        .iter()
        .map(|r| index_keys(r).iter().flatten().count())
        .sum();
    prop_assert_eq!(store.index_entry_count(), entries, "index entries at rest");
    check_snapshot(&store, &model, last_tid, "final commit")
}

fn row_strategy() -> impl Strategy<Value = Row> {
    (
        0..KEYS,
        0..GROUPS,
        prop::sample::select(STATUSES),
        prop_oneof![9 => 0i64..40, 1 => -3i64..0],
        prop::sample::select(NOTES),
    )
        .prop_map(|(id, group, status, amount, note)| Row {
            id,
            group,
            status: status.to_string(),
            amount,
            note: note.to_string(),
        })
}

fn write_strategy() -> impl Strategy<Value = Write> {
    prop_oneof![
        3 => row_strategy().prop_map(Write::Insert),
        3 => row_strategy().prop_map(Write::Update),
        2 => row_strategy().prop_map(Write::Upsert),
        2 => (0..KEYS).prop_map(Write::Delete),
    ]
}

fn read_strategy() -> impl Strategy<Value = Read> {
    let src = prop_oneof![
        Just(Src::All),
        (0..GROUPS).prop_map(Src::Group),
        Just(Src::Open),
        (0..GROUPS).prop_map(Src::OpenGroup),
    ];
    let shape = prop_oneof![
        3 => Just(Shape::Rows),
        1 => Just(Shape::Count),
        1 => Just(Shape::Sum),
        1 => Just(Shape::Min),
        1 => Just(Shape::Max),
        1 => Just(Shape::First),
        1 => (0usize..4).prop_map(Shape::Limit),
        1 => (0i64..40, 0usize..4).prop_map(|(x, n)| Shape::AboveLimit(x, n)),
        1 => (0i64..40).prop_map(Shape::AboveCount),
        2 => (0..KEYS).prop_map(Shape::Get),
        1 => prop::collection::vec(0..KEYS, 0..4).prop_map(Shape::GetMany),
        1 => (0..KEYS).prop_map(Shape::Exists),
    ];
    (src, shape).prop_map(|(src, shape)| Read { src, shape })
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let step = prop_oneof![
        3 => write_strategy().prop_map(Step::Write),
        1 => read_strategy().prop_map(Step::Read),
    ];
    let undo = prop_oneof![8 => Just(Undo::No), 1 => Just(Undo::Now), 1 => Just(Undo::Later)];
    prop_oneof![
        8 => (1u64..4, prop::collection::vec(step, 1..6), undo)
            .prop_map(|(gap, steps, undo)| Op::Task { gap, steps, undo }),
        2 => any::<Index>().prop_map(Op::Commit),
        1 => Just(Op::CommitAll),
        1 => Just(Op::Pin),
        1 => any::<Index>().prop_map(Op::Unpin),
        2 => (any::<Index>(), read_strategy()).prop_map(|(i, r)| Op::ReadAt(i, r)),
        1 => (any::<Index>(), read_strategy()).prop_map(|(i, r)| Op::ReadPinned(i, r)),
    ]
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(128);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn store_matches_reference_model(ops in prop::collection::vec(op_strategy(), 1..60)) {
        run_ops(&ops)?;
    }
}
