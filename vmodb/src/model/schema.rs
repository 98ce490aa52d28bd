//! Table declarations: what a developer writes to give the runtime an entity's key, indexes,
//! constraints, foreign keys and replication source. `TableDef` is compiled into a `TableMeta` when
//! the service is built; every column name is checked then, so a typo fails at bootstrap.

use crate::model::error::TxError;
use crate::model::row_codec::to_named_values;
use crate::model::value::{IndexKey, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::any::TypeId;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

/// Global transaction id, assigned densely by the coordinator. TID 0 is the initial load.
pub type Tid = u64;

/// A batch's id: batches commit in id order, each atomically across services.
pub type BatchId = u64;

/// A row type. Its serde field names are its column names; `Default` gives the runtime a sample
/// to read those names from at bootstrap (like the no-argument constructor JPA requires).
pub trait Entity:
    Serialize + DeserializeOwned + Default + Clone + Send + Sync + Debug + 'static
{
    /// The primary key: a scalar, a tuple for composite keys, or a newtype of those.
    type Key: Clone + Eq + Hash + Ord + Debug + Send + Sync + Serialize + DeserializeOwned + 'static;
    fn key(&self) -> Self::Key;
}

/// Column constraints, checked on every insert, update and upsert.
#[derive(Clone, Debug, PartialEq)]
/// Every numeric rule also refuses a non-finite number (infinity, NaN): none is ever stored in
/// a checked column.
pub enum Check {
    NonNegative,
    Positive,
    Min(f64),
    Max(f64),
    /// Any finite number.
    Finite,
    /// Strings must not be empty (or only white space); nulls are rejected too.
    NotEmpty,
}

impl Check {
    pub(crate) fn holds(&self, v: &Value) -> bool {
        let number = v.as_f64().filter(|x| x.is_finite());
        match self {
            Check::NonNegative => number.is_some_and(|x| x >= 0.0),
            Check::Positive => number.is_some_and(|x| x > 0.0),
            Check::Min(m) => number.is_some_and(|x| x >= *m),
            Check::Max(m) => number.is_some_and(|x| x <= *m),
            Check::Finite => number.is_some(),
            Check::NotEmpty => v.as_str().is_some_and(|s| !s.trim().is_empty()),
        }
    }
}

/// A foreign key from rows of `E` to the primary key of another table of the same service.
pub(crate) struct ForeignKeyDef<E: Entity> {
    pub name: String,
    pub parent_table: String,
    pub parent_type: TypeId,
    /// Child row → parent key values (`None`: the reference is null, nothing to check).
    pub parent_key_values: Arc<ParentKeyFn<E>>,
    /// Does the parent row exist at this TID? Typed lookup captured at declaration.
    pub parent_exists: Arc<ParentExistsFn<E>>,
}

/// What a foreign-key check found of the parent row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ParentCheck {
    pub exists: bool,
    /// The version read was written by the checking task itself (so no earlier task can
    /// change the answer), or the reference is null.
    pub own: bool,
}

pub(crate) type ParentKeyFn<E> = dyn Fn(&E) -> Option<IndexKey> + Send + Sync;
pub(crate) type ParentExistsFn<E> =
    dyn Fn(&E, &dyn ParentRows, Tid) -> Result<ParentCheck, TxError> + Send + Sync;

/// What a foreign-key check reads, implemented by the storage layer (`Store`), so that the
/// declarations here need not know it.
pub(crate) trait ParentRows {
    /// The version of the row with `key` (a `P::Key` for the entity type `parent`) visible at
    /// `tid`: its TID, and whether it is a row (not a deletion). An error if there is no such
    /// table.
    fn visible_version(
        &self,
        parent: (TypeId, &'static str),
        key: &dyn std::any::Any,
        tid: Tid,
    ) -> Result<Option<(Tid, bool)>, TxError>;
}

pub(crate) struct IndexDef {
    pub name: String,
    pub columns: Vec<String>,
    /// Partial index: only rows whose column equals the value are indexed.
    pub partial: Option<(String, Value)>,
}

/// The declaration of one table of a service.
pub struct TableDef<E: Entity> {
    pub(crate) name: String,
    pub(crate) key_columns: Vec<String>,
    pub(crate) indexes: Vec<IndexDef>,
    pub(crate) checks: Vec<(String, Check)>,
    pub(crate) foreign_keys: Vec<ForeignKeyDef<E>>,
    pub(crate) replica_of: Option<(String, String)>,
}

impl<E: Entity> TableDef<E> {
    /// A table named `name` whose primary key is made of `key_columns` (what `Entity::key` returns).
    pub fn new(name: &str, key_columns: &[&str]) -> Self {
        TableDef {
            name: name.to_string(),
            key_columns: key_columns.iter().map(|s| s.to_string()).collect(),
            indexes: Vec::new(),
            checks: Vec::new(),
            foreign_keys: Vec::new(),
            replica_of: None,
        }
    }

    /// A secondary, non-unique index over one or more columns.
    pub fn index(mut self, name: &str, columns: &[&str]) -> Self {
        self.indexes.push(IndexDef {
            name: name.to_string(),
            columns: columns.iter().map(|s| s.to_string()).collect(),
            partial: None,
        });
        self
    }

    /// A partial index: the rows whose `column` equals `value`, optionally keyed by `columns`.
    pub fn partial_index(
        mut self,
        name: &str,
        column: &str,
        value: impl Into<Value>,
        columns: &[&str],
    ) -> Self {
        self.indexes.push(IndexDef {
            name: name.to_string(),
            columns: columns.iter().map(|s| s.to_string()).collect(),
            partial: Some((column.to_string(), value.into())),
        });
        self
    }

    pub fn check(mut self, column: &str, check: Check) -> Self {
        self.checks.push((column.to_string(), check));
        self
    }

    /// A foreign key: `parent_key` maps a row to the primary key of a row of `P` (a table of the
    /// same service) that must exist; deleting a referenced parent is refused.
    pub fn foreign_key<P: Entity>(
        mut self,
        name: &str,
        parent_table: &str,
        parent_key: impl Fn(&E) -> Option<P::Key> + Send + Sync + Clone + 'static,
    ) -> Self {
        let key_fn = parent_key.clone();
        let values = move |row: &E| -> Option<IndexKey> {
            let key = key_fn(row)?;
            crate::model::row_codec::to_values(&key)
                .ok()
                .map(|v| v.into_iter().collect())
        };
        let exists = move |row: &E, rows: &dyn ParentRows, tid: Tid| {
            let Some(key) = parent_key(row) else {
                return Ok(ParentCheck {
                    exists: true,
                    own: true,
                });
            };
            let parent = (TypeId::of::<P>(), std::any::type_name::<P>());
            let seen = rows.visible_version(parent, &key, tid)?;
            Ok(ParentCheck {
                exists: seen.is_some_and(|(_, row)| row),
                own: seen.is_some_and(|(at, _)| at == tid),
            })
        };
        self.foreign_keys.push(ForeignKeyDef {
            name: name.to_string(),
            parent_table: parent_table.to_string(),
            parent_type: TypeId::of::<P>(),
            parent_key_values: Arc::new(values),
            parent_exists: Arc::new(exists),
        });
        self
    }

    /// Declares this table a replica of `table` at service `service`. Only handlers declared with
    /// `Handler::replicates(<this table>)` may write it.
    pub fn replica_of(mut self, service: &str, table: &str) -> Self {
        self.replica_of = Some((service.to_string(), table.to_string()));
        self
    }
}

/// A compiled index: column positions instead of names.
#[derive(Clone, Debug)]
pub(crate) struct IndexMeta {
    pub name: String,
    pub columns: Vec<usize>,
    pub partial: Option<(usize, Value)>,
}

impl IndexMeta {
    /// The entry key of a row in this index, or `None` when a partial index excludes it.
    pub fn key_of(&self, values: &[Value]) -> Option<IndexKey> {
        if let Some((col, want)) = &self.partial
            && &values[*col] != want
        {
            return None;
        }
        Some(self.columns.iter().map(|c| values[*c].clone()).collect())
    }
}

/// What the store needs of a table at run time, with names resolved to positions.
pub(crate) struct TableMeta<E: Entity> {
    pub name: String,
    pub columns: Vec<&'static str>,
    pub indexes: Vec<IndexMeta>,
    pub checks: Vec<(usize, Check)>,
    pub foreign_keys: Vec<ForeignKeyDef<E>>,
    pub replica_of: Option<(String, String)>,
    /// Whether a write must compute the row's column values (for checks or indexes).
    pub needs_values: bool,
    /// Columns that checks and indexes read; only these are materialized on writes.
    pub needed_columns: Vec<bool>,
}

impl<E: Entity> TableMeta<E> {
    pub fn compile(def: TableDef<E>) -> Result<Self, String> {
        let table = def.name.clone();
        let (columns, _) = to_named_values(&E::default()).map_err(|e| {
            format!(
                "table `{table}`: entity {}: {e}",
                std::any::type_name::<E>()
            )
        })?;
        let position = |col: &str, what: &str| {
            columns.iter().position(|c| *c == col).ok_or_else(|| {
                format!(
                    "table `{table}`: {what} names unknown column `{col}` (columns: {columns:?})"
                )
            })
        };
        for k in &def.key_columns {
            position(k, "primary key")?;
        }
        if def.key_columns.is_empty() {
            return Err(format!("table `{table}`: the primary key names no column"));
        }
        let mut indexes = Vec::new();
        for ix in &def.indexes {
            let cols = ix
                .columns
                .iter()
                .map(|c| position(c, &format!("index `{}`", ix.name)))
                .collect::<Result<Vec<_>, _>>()?;
            let partial = match &ix.partial {
                Some((c, v)) => Some((
                    position(c, &format!("partial index `{}`", ix.name))?,
                    v.clone(),
                )),
                None => None,
            };
            if indexes.iter().any(|m: &IndexMeta| m.name == ix.name) {
                return Err(format!(
                    "table `{table}`: index `{}` declared twice",
                    ix.name
                ));
            }
            indexes.push(IndexMeta {
                name: ix.name.clone(),
                columns: cols,
                partial,
            });
        }
        // Each foreign key gets an internal index on the child so a parent delete can find children.
        for fk in &def.foreign_keys {
            indexes.push(IndexMeta {
                name: format!("fk:{}", fk.name),
                columns: Vec::new(),
                partial: None,
            });
        }
        let checks = def
            .checks
            .iter()
            .map(|(c, chk)| Ok((position(c, "constraint")?, chk.clone())))
            .collect::<Result<Vec<_>, String>>()?;
        let needs_values = !indexes.is_empty() || !checks.is_empty();
        let mut needed_columns = vec![false; columns.len()];
        for ix in &indexes {
            for c in ix.columns.iter().chain(ix.partial.as_ref().map(|(c, _)| c)) {
                needed_columns[*c] = true;
            }
        }
        for (c, _) in &checks {
            needed_columns[*c] = true;
        }
        Ok(TableMeta {
            name: def.name,
            columns,
            indexes,
            checks,
            foreign_keys: def.foreign_keys,
            replica_of: def.replica_of,
            needs_values,
            needed_columns,
        })
    }

    pub fn index_position(&self, name: &str) -> Option<usize> {
        self.indexes.iter().position(|i| i.name == name)
    }

    /// The row's values for the needed columns (others are `Null`).
    pub fn needed_values(
        &self,
        row: &E,
    ) -> Result<Vec<Value>, crate::model::row_codec::CodecError> {
        crate::model::row_codec::to_values_masked(row, &self.needed_columns)
    }

    /// The index keys of a row, one slot per index (FK indexes last).
    pub fn index_keys(&self, row: &E, values: &[Value]) -> Vec<Option<IndexKey>> {
        let plain = self.indexes.len() - self.foreign_keys.len();
        let mut keys: Vec<Option<IndexKey>> = self.indexes[..plain]
            .iter()
            .map(|ix| ix.key_of(values))
            .collect();
        keys.extend(
            self.foreign_keys
                .iter()
                .map(|fk| (fk.parent_key_values)(row)),
        );
        keys
    }

    /// Checks column constraints; the error names the table, column and rule.
    pub fn check_row(&self, values: &[Value]) -> Result<(), TxError> {
        for (col, chk) in &self.checks {
            if !chk.holds(&values[*col]) {
                return Err(TxError::Constraint {
                    table: self.name.clone(),
                    column: self.columns[*col].to_string(),
                    rule: format!("{chk:?}"),
                    value: values[*col].to_string(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_checks_never_admit_a_non_finite_number() {
        for bad in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            let v = Value::Float(bad);
            for check in [
                Check::NonNegative,
                Check::Positive,
                Check::Min(f64::MIN),
                Check::Max(f64::MAX),
                Check::Finite,
            ] {
                assert!(!check.holds(&v), "{check:?} admits {bad}");
            }
        }
        assert!(Check::NonNegative.holds(&Value::Float(0.0)));
        assert!(Check::Finite.holds(&Value::Int(-3)));
        assert!(!Check::Finite.holds(&Value::Null));
    }
}
