//! Dynamically typed column values: what constraints, secondary indexes, aggregates and state dumps
//! see of a row. Typed access (`Repo<E>`) never goes through here on the primary-key path.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// One column value of a row, an index key component, or a key component of a dump.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// Unsigned integers that do not fit `i64` (rare: ids are normally `u32`/`u64` below 2^63).
    UInt(u64),
    Float(f64),
    Str(Arc<str>),
}

impl Value {
    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) | Value::UInt(_) | Value::Float(_) => 2,
            Value::Str(_) => 3,
        }
    }

    /// The numeric value as `f64`, for constraint checks and aggregates.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(*v as f64),
            Value::UInt(v) => Some(*v as f64),
            Value::Float(v) => Some(*v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Value {}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    /// A total order: nulls first, then booleans, numbers (compared by value across integer and
    /// float representations), strings.
    fn cmp(&self, other: &Self) -> Ordering {
        use Value::*;
        match (self, other) {
            (Int(a), Int(b)) => a.cmp(b),
            (UInt(a), UInt(b)) => a.cmp(b),
            (Int(a), UInt(b)) => i128::from(*a).cmp(&i128::from(*b)),
            (UInt(a), Int(b)) => i128::from(*a).cmp(&i128::from(*b)),
            (Bool(a), Bool(b)) => a.cmp(b),
            (Str(a), Str(b)) => a.cmp(b),
            (Null, Null) => Ordering::Equal,
            (Float(a), Float(b)) => a.total_cmp(b),
            (Int(a), Float(b)) => cmp_int_float(i128::from(*a), *b),
            (UInt(a), Float(b)) => cmp_int_float(i128::from(*a), *b),
            (Float(a), Int(b)) => cmp_int_float(i128::from(*b), *a).reverse(),
            (Float(a), UInt(b)) => cmp_int_float(i128::from(*b), *a).reverse(),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

/// Largest magnitude below which an integral float converts to `i128` exactly.
const I128_SAFE: f64 = 1.0e38;

/// Exact comparison of an integer with a float (no rounding of the integer through `f64`), so
/// that equality agrees with hashing and stays transitive.
fn cmp_int_float(a: i128, b: f64) -> Ordering {
    if b.fract() == 0.0 && b.abs() < I128_SAFE {
        a.cmp(&(b as i128))
    } else {
        // b is NaN, infinite, huge, or has a fraction (then |b| < 2^52 and `a as f64` is exact
        // wherever it could matter).
        (a as f64).total_cmp(&b)
    }
}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Equal values must hash equally across representations: integral numbers hash as i128.
        match self {
            Value::Null => state.write_u8(0),
            Value::Bool(b) => {
                state.write_u8(1);
                b.hash(state)
            }
            Value::Int(v) => {
                state.write_u8(2);
                i128::from(*v).hash(state)
            }
            Value::UInt(v) => {
                state.write_u8(2);
                i128::from(*v).hash(state)
            }
            Value::Float(f) => {
                state.write_u8(2);
                if f.fract() == 0.0 && f.abs() < I128_SAFE {
                    (*f as i128).hash(state)
                } else {
                    f.to_bits().hash(state)
                }
            }
            Value::Str(s) => {
                state.write_u8(3);
                s.hash(state)
            }
        }
    }
}

impl fmt::Display for Value {
    /// The CSV / human form: nulls are empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(v) => write!(f, "{v}"),
            Value::UInt(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
            Value::Str(s) => f.write_str(s),
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::Int(i64::from(v)) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        i64::try_from(v).map_or(Value::UInt(v), Value::Int)
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::from(v as u64)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(f64::from(v))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(Arc::from(v))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(Arc::from(v))
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Str(Arc::from(v.as_str()))
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// The key of a secondary-index entry: the indexed columns' values, in declaration order.
pub type IndexKey = smallvec::SmallVec<[Value; 4]>;

/// Converts a probe such as `(seller_id,)` or `(seller_id, status)` into an [`IndexKey`].
pub trait ToIndexKey {
    fn to_index_key(self) -> IndexKey;
}

impl ToIndexKey for IndexKey {
    fn to_index_key(self) -> IndexKey {
        self
    }
}
impl ToIndexKey for Vec<Value> {
    fn to_index_key(self) -> IndexKey {
        self.into_iter().collect()
    }
}
impl ToIndexKey for () {
    fn to_index_key(self) -> IndexKey {
        IndexKey::new()
    }
}

macro_rules! tuple_key {
    ($($name:ident),+) => {
        impl<$($name: Into<Value>),+> ToIndexKey for ($($name,)+) {
            #[allow(non_snake_case)]
            fn to_index_key(self) -> IndexKey {
                let ($($name,)+) = self;
                smallvec::smallvec![$($name.into()),+]
            }
        }
    };
}
tuple_key!(A);
tuple_key!(A, B);
tuple_key!(A, B, C);
tuple_key!(A, B, C, D);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn h(v: &Value) -> u64 {
        let mut s = DefaultHasher::new();
        v.hash(&mut s);
        s.finish()
    }

    #[test]
    fn numbers_compare_and_hash_across_representations() {
        assert_eq!(Value::Int(3), Value::UInt(3));
        assert_eq!(Value::Int(3), Value::Float(3.0));
        assert_eq!(h(&Value::Int(3)), h(&Value::Float(3.0)));
        assert_eq!(h(&Value::Int(3)), h(&Value::UInt(3)));
        assert!(Value::Int(-1) < Value::UInt(u64::MAX));
        assert!(Value::Float(2.5) > Value::Int(2));
        assert!(Value::Null < Value::Bool(false));
        assert!(Value::Int(i64::MAX) < Value::from("a"));
    }

    #[test]
    fn tuples_become_index_keys() {
        let k = (1u32, "x").to_index_key();
        assert_eq!(k.as_slice(), &[Value::Int(1), Value::from("x")]);
    }
}
