//! Regression tests for known engine bugs.

use serde::{Deserialize, Serialize};
use vmodb::internals;
use vmodb::{Entity, TableDef, Value};

// --- known engine bug -------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Priced {
    id: u32,
    price: f64,
}

impl Entity for Priced {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

/// Regression (value.rs): `Value` once compared an `Int` with a `Float` through `f64` (lossy above
/// 2^53) but hashed integral floats as `i128`, so an index probe the engine called equal to a
/// row's column missed the row. Equality is now exact, agrees with hashing, and is transitive.
#[test]
fn index_probes_agree_with_value_equality_beyond_2_pow_53() {
    use std::hash::{BuildHasher, RandomState};
    let big = 1i64 << 53;
    let store = internals::single_table_store(
        TableDef::<Priced>::new("priced", &["id"]).index("by_price", &["price"]),
    )
    .expect("store");
    let ctx = internals::write_ctx(&store, 1);
    let repo = ctx.table::<Priced>().expect("table");
    repo.insert(Priced {
        id: 1,
        price: big as f64,
    })
    .expect("insert");
    let s = RandomState::new();
    for (probe, expected) in [
        (Value::Int(big), 1),
        (Value::Int(big + 1), 0),
        (Value::Float(big as f64), 1),
    ] {
        let p = probe.clone();
        let by_scan = repo
            .all()
            .filter(move |r| Value::from(r.price) == p)
            .count()
            .expect("scan");
        let by_index = repo
            .by_index("by_price", vec![probe.clone()])
            .count()
            .expect("index");
        assert_eq!(by_scan, expected, "scan with probe {probe:?}");
        assert_eq!(
            by_index, by_scan,
            "index and scan disagree for probe {probe:?}"
        );
        let col = Value::Float(big as f64);
        assert!(
            probe != col || s.hash_one(&probe) == s.hash_one(&col),
            "equal values must hash equally"
        );
    }
    assert_ne!(
        Value::Int(big + 1),
        Value::Float(big as f64),
        "no rounding through f64"
    );
    assert!(Value::Int(big + 1) > Value::Float(big as f64));
}
