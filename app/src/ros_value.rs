//! Values of any ROS 2 message type, in and out of CDR.
//!
//! In: a YAML (or JSON) value, as `ros2 topic pub` takes it, checked against the type's
//! definition field by field (unknown fields, values that do not fit, wrong array lengths are
//! refused with the field's path), missing fields taking their zero value, into a [`Dyn`]
//! value that serde serializes with the CDR serializer of the `cdr-encoding` crate. Out: the
//! CDR deserializer of the same crate driven by the definition (a `DeserializeSeed`), into a
//! JSON value with the fields in definition order, printed as YAML like `ros2 topic echo` or
//! as JSON.

use crate::ros_msg::{Base, Field, MsgDef, Prim, Registry, Shape};
use cdr_encoding::CdrDeserializer;
use pollen_engine::wire::Endian;
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::Serialize;
use serde_json::{Map, Number, Value};
use std::fmt;

/// A typed value, shaped as its CDR.
#[derive(Debug, Clone, PartialEq)]
pub enum Dyn {
    Bool(bool),
    U8(u8),
    I8(i8),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    F32(f32),
    F64(f64),
    Str(String),
    /// A fixed-size array or a struct: the elements, nothing before them.
    Tuple(Vec<Dyn>),
    /// A sequence: its length, then the elements.
    Seq(Vec<Dyn>),
}

impl Serialize for Dyn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Dyn::Bool(v) => s.serialize_bool(*v),
            Dyn::U8(v) => s.serialize_u8(*v),
            Dyn::I8(v) => s.serialize_i8(*v),
            Dyn::I16(v) => s.serialize_i16(*v),
            Dyn::U16(v) => s.serialize_u16(*v),
            Dyn::I32(v) => s.serialize_i32(*v),
            Dyn::U32(v) => s.serialize_u32(*v),
            Dyn::I64(v) => s.serialize_i64(*v),
            Dyn::U64(v) => s.serialize_u64(*v),
            Dyn::F32(v) => s.serialize_f32(*v),
            Dyn::F64(v) => s.serialize_f64(*v),
            Dyn::Str(v) => s.serialize_str(v),
            Dyn::Tuple(items) => {
                let mut t = s.serialize_tuple(items.len())?;
                for i in items {
                    t.serialize_element(i)?;
                }
                t.end()
            }
            Dyn::Seq(items) => s.collect_seq(items),
        }
    }
}

/// The serialized sample of `def` with `value` (YAML/JSON), encapsulation header (CDR_LE)
/// included.
pub fn encode(reg: &Registry, def: &MsgDef, value: &Value) -> Result<Vec<u8>, String> {
    let d = build_struct(reg, def, Some(value), "")?;
    let body = cdr_encoding::to_vec::<Dyn, byteorder::LittleEndian>(&d)
        .map_err(|e| format!("{}: cannot serialize: {e}", def.name))?;
    let mut out = crate::payload::cdr_le_header(0).to_vec();
    out.extend_from_slice(&body);
    Ok(out)
}

/// Parses a message value as `ros2 topic pub` takes it (YAML, so JSON too); empty is `{}`.
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    serde_norway::from_str(text).map_err(|e| format!("{text:?} is not YAML: {e}"))
}

fn path(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}.{name}")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn build_struct(reg: &Registry, def: &MsgDef, v: Option<&Value>, at: &str) -> Result<Dyn, String> {
    let empty = Map::new();
    let map = match v {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(format!(
                "{}: expected a mapping of {}'s fields, got {}",
                if at.is_empty() { "the message" } else { at },
                def.name,
                kind(other)
            ))
        }
    };
    for k in map.keys() {
        if !def.fields.iter().any(|f| &f.name == k) {
            let names: Vec<&str> = def.fields.iter().map(|f| f.name.as_str()).collect();
            return Err(format!(
                "{}: {} has no field {k:?} (its fields: {})",
                path(at, k),
                def.name,
                names.join(", ")
            ));
        }
    }
    let mut out = Vec::with_capacity(def.fields.len());
    for f in &def.fields {
        out.push(build_field(reg, f, map.get(&f.name), &path(at, &f.name))?);
    }
    // An empty struct is one octet on the wire (ROS 2's structure_needs_at_least_one_member).
    if out.is_empty() {
        out.push(Dyn::U8(0));
    }
    Ok(Dyn::Tuple(out))
}

fn build_field(reg: &Registry, f: &Field, v: Option<&Value>, at: &str) -> Result<Dyn, String> {
    let items = |v: Option<&Value>| -> Result<Vec<Value>, String> {
        match v {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => Ok(a.clone()),
            // A byte array may be given as a string of its bytes.
            Some(Value::String(s)) if f.base == Base::Prim(Prim::U8) => {
                Ok(s.bytes().map(|b| Value::Number(b.into())).collect())
            }
            Some(other) => Err(format!("{at}: expected a list, got {}", kind(other))),
        }
    };
    match f.shape {
        Shape::Single => build_base(reg, &f.base, v, at),
        Shape::Array(n) => {
            let given = items(v)?;
            if v.is_some_and(|v| !v.is_null()) && given.len() != n {
                return Err(format!(
                    "{at}: expected exactly {n} elements, got {}",
                    given.len()
                ));
            }
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                out.push(build_base(
                    reg,
                    &f.base,
                    given.get(i),
                    &format!("{at}[{i}]"),
                )?);
            }
            Ok(Dyn::Tuple(out))
        }
        Shape::Seq(bound) => {
            let given = items(v)?;
            if let Some(b) = bound.filter(|b| given.len() > *b) {
                return Err(format!("{at}: at most {b} elements, got {}", given.len()));
            }
            let out = given
                .iter()
                .enumerate()
                .map(|(i, e)| build_base(reg, &f.base, Some(e), &format!("{at}[{i}]")))
                .collect::<Result<_, _>>()?;
            Ok(Dyn::Seq(out))
        }
    }
}

fn build_base(reg: &Registry, b: &Base, v: Option<&Value>, at: &str) -> Result<Dyn, String> {
    match b {
        Base::Msg(m) => {
            let def = reg
                .get(m)
                .ok_or_else(|| format!("{at}: the definition of {m} is not loaded"))?;
            build_struct(reg, def, v, at)
        }
        Base::String(bound) => {
            let s = match v {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(other) => return Err(format!("{at}: expected a string, got {}", kind(other))),
            };
            if let Some(b) = bound.filter(|b| s.len() > *b) {
                return Err(format!("{at}: at most {b} bytes, got {}", s.len()));
            }
            Ok(Dyn::Str(s))
        }
        Base::Prim(p) => build_prim(*p, v, at),
    }
}

fn build_prim(p: Prim, v: Option<&Value>, at: &str) -> Result<Dyn, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(zero(p));
    };
    let name = prim_name(p);
    let bad = || format!("{at}: {v} does not fit {name}");
    if p == Prim::Bool {
        return match v {
            Value::Bool(b) => Ok(Dyn::Bool(*b)),
            _ => Err(format!(
                "{at}: expected true or false (bool), got {}",
                kind(v)
            )),
        };
    }
    let Value::Number(n) = v else {
        return Err(format!("{at}: expected a number ({name}), got {}", kind(v)));
    };
    if matches!(p, Prim::F32 | Prim::F64) {
        let f = n.as_f64().ok_or_else(bad)?;
        return Ok(if p == Prim::F32 {
            Dyn::F32(f as f32)
        } else {
            Dyn::F64(f)
        });
    }
    // Integers: exactly, no rounding of a fraction.
    let i: i128 = match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => i.into(),
        (None, Some(u)) => u.into(),
        _ => return Err(format!("{at}: {v} is not an integer ({name})")),
    };
    Ok(match p {
        Prim::U8 => Dyn::U8(i.try_into().map_err(|_| bad())?),
        Prim::I8 => Dyn::I8(i.try_into().map_err(|_| bad())?),
        Prim::I16 => Dyn::I16(i.try_into().map_err(|_| bad())?),
        Prim::U16 => Dyn::U16(i.try_into().map_err(|_| bad())?),
        Prim::I32 => Dyn::I32(i.try_into().map_err(|_| bad())?),
        Prim::U32 => Dyn::U32(i.try_into().map_err(|_| bad())?),
        Prim::I64 => Dyn::I64(i.try_into().map_err(|_| bad())?),
        Prim::U64 => Dyn::U64(i.try_into().map_err(|_| bad())?),
        Prim::Bool | Prim::F32 | Prim::F64 => unreachable!("handled above"),
    })
}

fn zero(p: Prim) -> Dyn {
    match p {
        Prim::Bool => Dyn::Bool(false),
        Prim::U8 => Dyn::U8(0),
        Prim::I8 => Dyn::I8(0),
        Prim::I16 => Dyn::I16(0),
        Prim::U16 => Dyn::U16(0),
        Prim::I32 => Dyn::I32(0),
        Prim::U32 => Dyn::U32(0),
        Prim::I64 => Dyn::I64(0),
        Prim::U64 => Dyn::U64(0),
        Prim::F32 => Dyn::F32(0.0),
        Prim::F64 => Dyn::F64(0.0),
    }
}

fn prim_name(p: Prim) -> &'static str {
    match p {
        Prim::Bool => "bool",
        Prim::U8 => "uint8",
        Prim::I8 => "int8",
        Prim::I16 => "int16",
        Prim::U16 => "uint16",
        Prim::I32 => "int32",
        Prim::U32 => "uint32",
        Prim::I64 => "int64",
        Prim::U64 => "uint64",
        Prim::F32 => "float32",
        Prim::F64 => "float64",
    }
}

// ---------------------------------------------------------------------------------------------
// Out of CDR.

/// Decodes a sample of `def` (encapsulation header included, CDR in either byte order) into
/// a JSON value with the fields in definition order.
pub fn decode(reg: &Registry, def: &MsgDef, payload: &[u8]) -> Result<Value, String> {
    let body = payload
        .get(4..)
        .ok_or("shorter than its encapsulation header")?;
    let seed = StructSeed { reg, def };
    let r = match crate::payload::xcdr1_endian(payload) {
        Some(Endian::Little) => {
            seed.deserialize(&mut CdrDeserializer::<byteorder::LittleEndian>::new(body))
        }
        Some(Endian::Big) => {
            seed.deserialize(&mut CdrDeserializer::<byteorder::BigEndian>::new(body))
        }
        None => {
            return Err(format!(
                "encapsulation {:02x?} is not plain CDR",
                &payload[..2]
            ))
        }
    };
    r.map_err(|e| format!("not a {}: {e}", def.name))
}

struct StructSeed<'a> {
    reg: &'a Registry,
    def: &'a MsgDef,
}

impl<'de> DeserializeSeed<'de> for StructSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        let n = self.def.fields.len().max(1);
        d.deserialize_tuple(n, self)
    }
}

impl<'de> Visitor<'de> for StructSeed<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.def.name)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        if self.def.fields.is_empty() {
            s.next_element::<u8>()?;
        }
        for f in &self.def.fields {
            let v = s
                .next_element_seed(FieldSeed { reg: self.reg, f })?
                .ok_or_else(|| serde::de::Error::custom(format!("{} ends early", f.name)))?;
            m.insert(f.name.clone(), v);
        }
        Ok(Value::Object(m))
    }
}

struct FieldSeed<'a> {
    reg: &'a Registry,
    f: &'a Field,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        let base = BaseSeed {
            reg: self.reg,
            b: &self.f.base,
        };
        match self.f.shape {
            Shape::Single => base.deserialize(d),
            Shape::Array(n) => d.deserialize_tuple(n, ListVisitor { base, len: Some(n) }),
            Shape::Seq(_) => d.deserialize_seq(ListVisitor { base, len: None }),
        }
    }
}

#[derive(Clone, Copy)]
struct BaseSeed<'a> {
    reg: &'a Registry,
    b: &'a Base,
}

struct ListVisitor<'a> {
    base: BaseSeed<'a>,
    len: Option<usize>,
}

impl<'de> Visitor<'de> for ListVisitor<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a list")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Value, A::Error> {
        // Never trust a count from the wire for the allocation: grow as elements arrive.
        let mut out = Vec::with_capacity(self.len.unwrap_or(0).min(1024));
        while let Some(v) = s.next_element_seed(self.base)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
}

impl<'de> DeserializeSeed<'de> for BaseSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self.b {
            Base::Msg(m) => {
                let def = self.reg.get(m).ok_or_else(|| {
                    serde::de::Error::custom(format!("the definition of {m} is not loaded"))
                })?;
                StructSeed { reg: self.reg, def }.deserialize(d)
            }
            Base::String(_) => d.deserialize_string(PrimVisitor),
            Base::Prim(p) => match p {
                Prim::Bool => d.deserialize_bool(PrimVisitor),
                Prim::U8 => d.deserialize_u8(PrimVisitor),
                Prim::I8 => d.deserialize_i8(PrimVisitor),
                Prim::I16 => d.deserialize_i16(PrimVisitor),
                Prim::U16 => d.deserialize_u16(PrimVisitor),
                Prim::I32 => d.deserialize_i32(PrimVisitor),
                Prim::U32 => d.deserialize_u32(PrimVisitor),
                Prim::I64 => d.deserialize_i64(PrimVisitor),
                Prim::U64 => d.deserialize_u64(PrimVisitor),
                Prim::F32 => d.deserialize_f32(PrimVisitor),
                Prim::F64 => d.deserialize_f64(PrimVisitor),
            },
        }
    }
}

struct PrimVisitor;

impl<'de> Visitor<'de> for PrimVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a primitive value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f32<E>(self, v: f32) -> Result<Value, E> {
        // Shortest decimal that reads back as this f32 (0.1f32 prints as 0.1, not 0.100000001).
        let f: f64 = format!("{v}").parse().unwrap_or(v as f64);
        Ok(Number::from_f64(f).map_or(Value::Null, Value::Number))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
}

/// A ROS 2 message type with its definitions loaded: what `pub` and `sub` need of it.
pub struct RosType {
    reg: Registry,
    /// `pkg/msg/Name`.
    pub full: String,
}

impl RosType {
    /// Loads `name` (`pkg/msg/Name`, `pkg/Name` or the DDS name) from the installed
    /// definitions (`AMENT_PREFIX_PATH` and `paths`).
    pub fn load(name: &str, paths: &[std::path::PathBuf]) -> Result<RosType, String> {
        let full = crate::ros_msg::full_name(name)
            .ok_or_else(|| format!("{name:?} is not a ROS 2 message type (pkg/msg/Name)"))?;
        let mut reg = Registry::from_env(paths);
        reg.load(&full)?;
        Ok(RosType { reg, full })
    }

    /// `full` with the definitions in `reg` (from the network), every type it uses there.
    pub fn from_registry(reg: Registry, full: &str) -> Result<RosType, String> {
        reg.check(full)?;
        Ok(RosType {
            reg,
            full: full.to_string(),
        })
    }

    /// The DDS type name (`pkg::msg::dds_::Name_`).
    pub fn dds_name(&self) -> String {
        crate::ros_msg::dds_name(&self.full)
    }

    fn def(&self) -> &MsgDef {
        self.reg.get(&self.full).expect("loaded")
    }

    /// A sample from a YAML value.
    pub fn encode_yaml(&self, yaml: &str) -> Result<Vec<u8>, String> {
        encode(&self.reg, self.def(), &parse_yaml(yaml)?)
    }

    /// A sample as a JSON value.
    pub fn decode(&self, payload: &[u8]) -> Result<Value, String> {
        decode(&self.reg, self.def(), payload)
    }
}

/// A decoded message as `ros2 topic echo` prints it: YAML, then `---`.
pub fn to_yaml(v: &Value) -> String {
    let mut s = serde_norway::to_string(v).unwrap_or_else(|e| format!("# {e}\n"));
    s.push_str("---");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ros_msg::parse;

    fn registry() -> Registry {
        let mut r = Registry::default();
        for (name, text) in [
            (
                "geometry_msgs/msg/Vector3",
                "float64 x\nfloat64 y\nfloat64 z\n",
            ),
            (
                "geometry_msgs/msg/Twist",
                "geometry_msgs/Vector3 linear\ngeometry_msgs/Vector3 angular\n",
            ),
            (
                "t/msg/Mix",
                "uint8[2] pair\nstring<=4 id\nint16[] nums\nbool on\n",
            ),
        ] {
            r.insert(parse(name, text).unwrap());
        }
        r
    }

    #[test]
    fn twist_is_six_doubles_and_round_trips() {
        let r = registry();
        let def = r.get("geometry_msgs/msg/Twist").unwrap().clone();
        let v = parse_yaml("{linear: {x: 0.5}, angular: {z: -1.25}}").unwrap();
        let b = encode(&r, &def, &v).unwrap();
        assert_eq!(b.len(), 4 + 48);
        assert_eq!(&b[4..12], &0.5f64.to_le_bytes());
        assert_eq!(&b[44..52], &(-1.25f64).to_le_bytes());
        let back = decode(&r, &def, &b).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"linear": {"x": 0.5, "y": 0.0, "z": 0.0},
                               "angular": {"x": 0.0, "y": 0.0, "z": -1.25}})
        );
        assert_eq!(
            to_yaml(&back).lines().next(),
            Some("linear:"),
            "fields in definition order"
        );
    }

    #[test]
    fn arrays_strings_and_alignment() {
        let r = registry();
        let def = r.get("t/msg/Mix").unwrap().clone();
        let v = parse_yaml("{pair: [1, 2], id: ab, nums: [-1, 300], on: true}").unwrap();
        let b = encode(&r, &def, &v).unwrap();
        // pair (2), pad to 4, "ab\0" with its length, pad to 4, 2 int16 with their count, bool.
        assert_eq!(
            &b[4..],
            &[1, 2, 0, 0, 3, 0, 0, 0, b'a', b'b', 0, 0, 2, 0, 0, 0, 0xff, 0xff, 0x2c, 0x01, 1]
        );
        assert_eq!(decode(&r, &def, &b).unwrap(), v);
    }

    #[test]
    fn bad_values_name_their_field() {
        let r = registry();
        let twist = r.get("geometry_msgs/msg/Twist").unwrap().clone();
        let mix = r.get("t/msg/Mix").unwrap().clone();
        let err = |def: &MsgDef, y: &str| encode(&r, def, &parse_yaml(y).unwrap()).unwrap_err();
        assert!(err(&twist, "{linear: {x: fast}}").starts_with("linear.x: expected a number"));
        assert!(err(&twist, "{linear: {w: 1}}")
            .starts_with("linear.w: geometry_msgs/msg/Vector3 has no field \"w\""));
        assert!(err(&mix, "{pair: [1]}").starts_with("pair: expected exactly 2"));
        assert!(err(&mix, "{pair: [1, 256]}").starts_with("pair[1]: 256 does not fit uint8"));
        assert!(err(&mix, "{id: toolong}").starts_with("id: at most 4 bytes"));
        assert!(err(&mix, "{nums: [1.5]}").starts_with("nums[0]: 1.5 is not an integer"));
        assert!(parse_yaml("{unclosed").is_err());
    }

    #[test]
    fn a_type_that_contains_itself_is_refused() {
        let mut r = Registry::default();
        r.insert(parse("t/msg/A", "t/B b\n").unwrap());
        r.insert(parse("t/msg/B", "float64 x\nt/A a\n").unwrap());
        let e = RosType::from_registry(r, "t/msg/A").err().expect("refused");
        assert!(e.contains("contains itself"), "{e}");
        let mut r = Registry::default();
        r.insert(parse("t/msg/C", "float64 x\n").unwrap());
        assert!(RosType::from_registry(r, "t/msg/D").is_err(), "missing");
    }

    #[test]
    fn hostile_payloads_fail_cleanly() {
        let r = registry();
        let mix = r.get("t/msg/Mix").unwrap().clone();
        let good = encode(&r, &mix, &parse_yaml("{nums: [1, 2, 3]}").unwrap()).unwrap();
        for n in 0..good.len() {
            assert!(decode(&r, &mix, &good[..n]).is_err(), "truncated at {n}");
        }
        // A sequence claiming 2^32 - 1 elements in a short payload.
        let mut huge = good.clone();
        huge[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&r, &mix, &huge).is_err());
        assert!(decode(&r, &mix, &[0x00, 0x07, 0, 0, 1]).is_err());
    }
}
