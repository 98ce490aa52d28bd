//! Turns a `Serialize` entity or key into column values (and, for structs, column names), so that
//! entities need no hand-written column accessors: `#[derive(Serialize)]` is the column declaration.
//!
//! Supported shapes: a struct of scalar fields (integers, floats, bool, strings, `Option` of those,
//! unit enum variants, newtypes of those) for rows; a scalar, tuple or tuple struct of scalars for
//! keys. Anything nested is rejected with an error that names the field.

use crate::model::value::Value;
use serde::ser::{self, Impossible, Serialize};
use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for CodecError {}
impl ser::Error for CodecError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        CodecError(msg.to_string())
    }
}

/// The column values of a row (struct) or a key (scalar, tuple), in declaration order.
pub fn to_values<T: Serialize + ?Sized>(value: &T) -> Result<Vec<Value>, CodecError> {
    let mut out = Flat {
        values: Vec::with_capacity(8),
        names: Vec::new(),
        want_names: false,
        mask: None,
    };
    value.serialize(&mut out)?;
    Ok(out.values)
}

/// Like `to_values` for a struct row, but only the columns whose `mask` entry is true are
/// materialized; the others are `Null` (so unneeded strings cost no allocation).
pub(crate) fn to_values_masked<T: Serialize + ?Sized>(
    value: &T,
    mask: &[bool],
) -> Result<Vec<Value>, CodecError> {
    let mut out = Flat {
        values: Vec::with_capacity(mask.len()),
        names: Vec::new(),
        want_names: false,
        mask: Some(mask),
    };
    value.serialize(&mut out)?;
    Ok(out.values)
}

/// Column names and values of a struct row.
pub fn to_named_values<T: Serialize + ?Sized>(
    value: &T,
) -> Result<(Vec<&'static str>, Vec<Value>), CodecError> {
    let mut out = Flat {
        values: Vec::with_capacity(8),
        names: Vec::new(),
        want_names: true,
        mask: None,
    };
    value.serialize(&mut out)?;
    Ok((out.names, out.values))
}

struct Flat<'m> {
    values: Vec<Value>,
    names: Vec<&'static str>,
    want_names: bool,
    mask: Option<&'m [bool]>,
}

impl Flat<'_> {
    fn push(&mut self, v: Value) -> Result<(), CodecError> {
        self.values.push(v);
        Ok(())
    }
}

macro_rules! scalar_methods {
    ($ok:ty, $wrap:expr) => {
        fn serialize_bool(self, v: bool) -> Result<$ok, CodecError> {
            $wrap(self, Value::Bool(v))
        }
        fn serialize_i8(self, v: i8) -> Result<$ok, CodecError> {
            $wrap(self, Value::from(v))
        }
        fn serialize_i16(self, v: i16) -> Result<$ok, CodecError> {
            $wrap(self, Value::from(v))
        }
        fn serialize_i32(self, v: i32) -> Result<$ok, CodecError> {
            $wrap(self, Value::from(v))
        }
        fn serialize_i64(self, v: i64) -> Result<$ok, CodecError> {
            $wrap(self, Value::from(v))
        }
        fn serialize_u8(self, v: u8) -> Result<$ok, CodecError> {
            $wrap(self, Value::from(v))
        }
        fn serialize_u16(self, v: u16) -> Result<$ok, CodecError> {
            $wrap(self, Value::from(v))
        }
        fn serialize_u32(self, v: u32) -> Result<$ok, CodecError> {
            $wrap(self, Value::from(v))
        }
        fn serialize_u64(self, v: u64) -> Result<$ok, CodecError> {
            $wrap(self, Value::from(v))
        }
        fn serialize_f32(self, v: f32) -> Result<$ok, CodecError> {
            $wrap(self, Value::from(v))
        }
        fn serialize_f64(self, v: f64) -> Result<$ok, CodecError> {
            $wrap(self, Value::from(v))
        }
        fn serialize_char(self, v: char) -> Result<$ok, CodecError> {
            $wrap(self, Value::Str(Arc::from(v.to_string())))
        }
        fn serialize_str(self, v: &str) -> Result<$ok, CodecError> {
            $wrap(self, Value::from(v))
        }
        fn serialize_none(self) -> Result<$ok, CodecError> {
            $wrap(self, Value::Null)
        }
        fn serialize_unit(self) -> Result<$ok, CodecError> {
            $wrap(self, Value::Null)
        }
        fn serialize_unit_struct(self, _: &'static str) -> Result<$ok, CodecError> {
            $wrap(self, Value::Null)
        }
        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
        ) -> Result<$ok, CodecError> {
            $wrap(self, Value::from(variant))
        }
        fn serialize_bytes(self, _: &[u8]) -> Result<$ok, CodecError> {
            Err(CodecError(
                "byte arrays are not supported as columns".into(),
            ))
        }
    };
}

impl ser::Serializer for &mut Flat<'_> {
    type Ok = ();
    type Error = CodecError;
    type SerializeSeq = Impossible<(), CodecError>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Impossible<(), CodecError>;
    type SerializeMap = Impossible<(), CodecError>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Impossible<(), CodecError>;

    scalar_methods!((), |s: &mut Flat, v| s.push(v));

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), CodecError> {
        let value = v.serialize(Scalar)?;
        self.push(value)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), CodecError> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), CodecError> {
        Err(CodecError(format!(
            "enum {name} with data is not a column type"
        )))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, CodecError> {
        Err(CodecError(
            "sequences are not supported as rows or keys".into(),
        ))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, CodecError> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, CodecError> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, CodecError> {
        Err(CodecError(format!(
            "enum {name} with data is not a row or key"
        )))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, CodecError> {
        Err(CodecError("maps are not supported as rows or keys".into()))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, CodecError> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, CodecError> {
        Err(CodecError(format!(
            "enum {name} with data is not a row or key"
        )))
    }
}

impl ser::SerializeTuple for &mut Flat<'_> {
    type Ok = ();
    type Error = CodecError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CodecError> {
        let value = v.serialize(Scalar)?;
        self.push(value)
    }
    fn end(self) -> Result<(), CodecError> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Flat<'_> {
    type Ok = ();
    type Error = CodecError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CodecError> {
        let value = v.serialize(Scalar)?;
        self.push(value)
    }
    fn end(self) -> Result<(), CodecError> {
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Flat<'_> {
    type Ok = ();
    type Error = CodecError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), CodecError> {
        let skip = self
            .mask
            .is_some_and(|m| !m.get(self.values.len()).copied().unwrap_or(false));
        let value = if skip {
            Value::Null
        } else {
            v.serialize(Scalar)
                .map_err(|e| CodecError(format!("column `{key}`: {}", e.0)))?
        };
        if self.want_names {
            self.names.push(key);
        }
        self.push(value)
    }
    fn end(self) -> Result<(), CodecError> {
        Ok(())
    }
}

/// Serializes exactly one scalar value.
struct Scalar;

impl ser::Serializer for Scalar {
    type Ok = Value;
    type Error = CodecError;
    type SerializeSeq = Impossible<Value, CodecError>;
    type SerializeTuple = Impossible<Value, CodecError>;
    type SerializeTupleStruct = Impossible<Value, CodecError>;
    type SerializeTupleVariant = Impossible<Value, CodecError>;
    type SerializeMap = Impossible<Value, CodecError>;
    type SerializeStruct = Impossible<Value, CodecError>;
    type SerializeStructVariant = Impossible<Value, CodecError>;

    scalar_methods!(Value, |_s: Scalar, v| Ok(v));

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Value, CodecError> {
        v.serialize(Scalar)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Value, CodecError> {
        v.serialize(Scalar)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Value, CodecError> {
        Err(nested(name))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, CodecError> {
        Err(nested("sequence"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, CodecError> {
        Err(nested("tuple"))
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, CodecError> {
        Err(nested(name))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, CodecError> {
        Err(nested(name))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, CodecError> {
        Err(nested("map"))
    }
    fn serialize_struct(
        self,
        name: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, CodecError> {
        Err(nested(name))
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, CodecError> {
        Err(nested(name))
    }
}

fn nested(what: &str) -> CodecError {
    CodecError(format!("nested value ({what}) is not a scalar column"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize)]
    enum Status {
        Open,
    }

    #[derive(Serialize)]
    struct Row {
        id: u32,
        name: String,
        price: f64,
        note: Option<String>,
        status: Status,
    }

    #[derive(Serialize)]
    struct Bad {
        items: Vec<u32>,
    }

    #[test]
    fn struct_rows_give_names_and_values() {
        let r = Row {
            id: 7,
            name: "a".into(),
            price: 1.5,
            note: None,
            status: Status::Open,
        };
        let (names, values) = to_named_values(&r).unwrap();
        assert_eq!(names, ["id", "name", "price", "note", "status"]);
        assert_eq!(
            values,
            vec![
                Value::Int(7),
                Value::from("a"),
                Value::Float(1.5),
                Value::Null,
                Value::from("Open")
            ]
        );
    }

    #[test]
    fn keys_flatten() {
        assert_eq!(
            to_values(&(1u32, 2u64)).unwrap(),
            vec![Value::Int(1), Value::Int(2)]
        );
        assert_eq!(to_values(&5u64).unwrap(), vec![Value::Int(5)]);
    }

    #[test]
    fn nested_columns_are_rejected_with_the_column_name() {
        let err = to_values(&Bad { items: vec![1] }).unwrap_err();
        assert!(err.0.contains("items"), "{err}");
    }
}
