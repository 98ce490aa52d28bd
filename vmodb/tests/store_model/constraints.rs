//! Check constraints: violations are rejected and leave no version.

use crate::{OPEN, TABLE, in_group, row, row_store, task};
use serde::{Deserialize, Serialize};
use vmodb::internals;
use vmodb::{Check, Entity, TableDef, TxError};

// --- constraints ------------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Product {
    id: u32,
    name: String,
    price: f64,
    qty: i64,
    stock: i64,
}

impl Entity for Product {
    type Key = u32;
    fn key(&self) -> u32 {
        self.id
    }
}

fn product(id: u32) -> Product {
    Product {
        id,
        name: "widget".into(),
        price: 2.5,
        qty: 10,
        stock: 0,
    }
}

fn constraint_column(r: Result<(), TxError>) -> String {
    match r {
        Err(TxError::Constraint { table, column, .. }) => {
            assert_eq!(table, "products");
            column
        }
        other => panic!("expected a constraint error, got {other:?}"),
    }
}

#[test]
fn constraints_reject_violations_and_leave_no_version() {
    let store = internals::single_table_store(
        TableDef::<Product>::new("products", &["id"])
            .index("by_name", &["name"])
            .check("name", Check::NotEmpty)
            .check("price", Check::Positive)
            .check("qty", Check::Min(1.0))
            .check("qty", Check::Max(100.0))
            .check("stock", Check::NonNegative),
    )
    .expect("store");
    let violations: Vec<(Product, &str)> = vec![
        (
            Product {
                name: String::new(),
                ..product(1)
            },
            "name",
        ),
        (
            Product {
                name: "  ".into(),
                ..product(1)
            },
            "name",
        ),
        (
            Product {
                price: 0.0,
                ..product(1)
            },
            "price",
        ),
        (
            Product {
                price: -1.0,
                ..product(1)
            },
            "price",
        ),
        (
            Product {
                qty: 0,
                ..product(1)
            },
            "qty",
        ),
        (
            Product {
                qty: 101,
                ..product(1)
            },
            "qty",
        ),
        (
            Product {
                stock: -1,
                ..product(1)
            },
            "stock",
        ),
    ];
    let ctx = internals::write_ctx(&store, 1);
    {
        let t = ctx.table::<Product>().expect("table");
        for (p, col) in &violations {
            assert_eq!(constraint_column(t.insert(p.clone())), *col, "insert {p:?}");
            assert_eq!(constraint_column(t.upsert(p.clone())), *col, "upsert {p:?}");
        }
        assert_eq!(store.version_count(), 0);
        assert_eq!(store.index_entry_count(), 0);
        assert_eq!(t.get(&1), None);
        // Boundaries hold.
        t.insert(Product {
            qty: 1,
            ..product(1)
        })
        .expect("qty at Min");
        t.insert(Product {
            qty: 100,
            price: 0.01,
            ..product(2)
        })
        .expect("qty at Max");
    }
    internals::commit(&store, 1);
    let ctx = internals::write_ctx(&store, 2);
    let t = ctx.table::<Product>().expect("table");
    for (p, col) in &violations {
        assert_eq!(constraint_column(t.update(p.clone())), *col, "update {p:?}");
        assert_eq!(constraint_column(t.upsert(p.clone())), *col, "upsert {p:?}");
    }
    // The failed writes installed nothing: the committed row is still what this TID sees.
    assert_eq!(
        t.get(&1),
        Some(Product {
            qty: 1,
            ..product(1)
        })
    );
    assert_eq!(store.version_count(), 2);
    assert_eq!(store.index_entry_count(), 2);
    assert_eq!(
        t.by_index("by_name", ("",)).count().expect("count"),
        0,
        "no index entry from a rejected row"
    );
    // A write after a rejected one in the same task works.
    t.update(Product {
        stock: 5,
        ..product(1)
    })
    .expect("valid update");
    assert_eq!(t.get(&1).map(|p| p.stock), Some(5));
    // The error message names table, column and rule.
    let msg = t
        .update(Product {
            stock: -3,
            ..product(1)
        })
        .expect_err("violation")
        .to_string();
    assert!(
        msg.contains("products.stock") && msg.contains("NonNegative") && msg.contains("-3"),
        "{msg}"
    );
}

#[test]
fn constraint_on_the_model_table() {
    let store = row_store();
    let r = task(&store, 1, |t| t.insert(row(1, 0, OPEN, -1)));
    assert!(
        matches!(&r, Err(TxError::Constraint { table, column, .. }) if table == TABLE && column == "amount"),
        "{r:?}"
    );
    assert_eq!(store.version_count(), 0);
    assert_eq!(store.index_entry_count(), 0);
    assert_eq!(in_group(&store, 1, 0), Vec::<u32>::new());
}
