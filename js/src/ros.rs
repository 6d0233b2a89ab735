//! ROS 2 messages of any type as JSON, through pollen-app's `ros_msg` and `ros_value` (the
//! same code the native `pollen pub`/`sub` run), for the JavaScript package.
//!
//! A browser has no filesystem, so definitions come as the text of their `.msg` files
//! ([`RosRegistry::add`]); a few common ones are built in ([`BUILTIN`]). Values cross the
//! boundary as JSON strings. JavaScript numbers hold integers exactly only up to 2^53 - 1, so
//! larger `int64`/`uint64` values travel as `{"$bigint": "DIGITS"}` (the JavaScript side turns
//! that into a `BigInt` and back): no ROS 2 field can be named `$bigint`, so the object is
//! never a message. Going in, an `int64`/`uint64` given as a number beyond 2^53 - 1 is refused
//! (it may already have been rounded); a `BigInt` is taken as is.

use pollen_app::ros_msg::{full_name, parse, Base, MsgDef, Prim, Registry, Shape};
use pollen_app::ros_value;
use serde_json::{Map, Number, Value};
use wasm_bindgen::prelude::*;

/// The largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE: u64 = (1 << 53) - 1;

/// The key of the object that carries an integer beyond [`MAX_SAFE`] as decimal digits.
pub const BIGINT_KEY: &str = "$bigint";

/// Definitions built in: the field lines of a few types of ROS 2's `common_interfaces` and
/// `rcl_interfaces` (Apache-2.0; the comments of the original files left out).
pub const BUILTIN: &[(&str, &str)] = &[
    ("std_msgs/msg/String", "string data\n"),
    (
        "std_msgs/msg/Header",
        "builtin_interfaces/Time stamp\nstring frame_id\n",
    ),
    ("builtin_interfaces/msg/Time", "int32 sec\nuint32 nanosec\n"),
    (
        "builtin_interfaces/msg/Duration",
        "int32 sec\nuint32 nanosec\n",
    ),
    (
        "geometry_msgs/msg/Vector3",
        "float64 x\nfloat64 y\nfloat64 z\n",
    ),
    (
        "geometry_msgs/msg/Twist",
        "Vector3 linear\nVector3 angular\n",
    ),
    (
        "geometry_msgs/msg/Point",
        "float64 x\nfloat64 y\nfloat64 z\n",
    ),
    (
        "geometry_msgs/msg/Quaternion",
        "float64 x 0\nfloat64 y 0\nfloat64 z 0\nfloat64 w 1\n",
    ),
    (
        "geometry_msgs/msg/Pose",
        "Point position\nQuaternion orientation\n",
    ),
];

/// The name `pkg/msg/Name` of `name` (`pkg/msg/Name`, `pkg/Name` or the DDS name).
fn full(name: &str) -> Result<String, String> {
    full_name(name).ok_or_else(|| format!("{name:?} is not a ROS 2 message type (pkg/msg/Name)"))
}

/// ROS 2 message definitions, and values of their types in and out of CDR.
#[wasm_bindgen]
pub struct RosRegistry {
    reg: Registry,
}

impl Default for RosRegistry {
    fn default() -> Self {
        RosRegistry::new()
    }
}

#[wasm_bindgen]
impl RosRegistry {
    /// A registry with the built-in definitions.
    #[wasm_bindgen(constructor)]
    pub fn new() -> RosRegistry {
        let mut reg = Registry::default();
        for (name, text) in BUILTIN {
            if let Ok(def) = parse(name, text) {
                reg.insert(def);
            }
        }
        RosRegistry { reg }
    }

    /// Adds (or replaces) the definition of `name` from the text of its `.msg` file; returns
    /// the full name (`pkg/msg/Name`).
    pub fn add(&mut self, name: &str, text: &str) -> Result<String, JsError> {
        let f = full(name).map_err(err)?;
        let def = parse(&f, text).map_err(|e| err(format!("{f}: {e}")))?;
        self.reg.insert(def);
        Ok(f)
    }

    /// Whether `name` is loaded (the types it uses may still be missing: see `missing`).
    pub fn has(&self, name: &str) -> bool {
        full(name).is_ok_and(|f| self.reg.get(&f).is_some())
    }

    /// The types `name` needs that are not loaded yet (`name` itself first when it is not),
    /// as far as the loaded definitions tell: load these and ask again.
    pub fn missing(&self, name: &str) -> Result<Vec<String>, JsError> {
        let f = full(name).map_err(err)?;
        Ok(self.missing_of(&f))
    }

    /// Serializes `json` (a JSON object of the message's fields) as a sample of `name`,
    /// encapsulation header (CDR_LE) included. Missing fields take their zero value; unknown
    /// fields and values that do not fit are refused with the field's path.
    pub fn encode(&self, name: &str, json: &str) -> Result<Vec<u8>, JsError> {
        self.encode_json(name, json).map_err(err)
    }

    /// Decodes a sample of `name` (CDR in either byte order) into a JSON object, the fields in
    /// definition order.
    pub fn decode(&self, name: &str, data: &[u8]) -> Result<String, JsError> {
        self.decode_json(name, data).map_err(err)
    }
}

impl RosRegistry {
    fn missing_of(&self, f: &str) -> Vec<String> {
        let mut seen = vec![f.to_string()];
        let mut out = Vec::new();
        let mut i = 0;
        while i < seen.len() {
            match self.reg.get(&seen[i]) {
                None => out.push(seen[i].clone()),
                Some(def) => {
                    for m in def.nested() {
                        if !seen.contains(&m) {
                            seen.push(m);
                        }
                    }
                }
            }
            i += 1;
        }
        out
    }

    fn def(&self, name: &str) -> Result<&MsgDef, String> {
        let f = full(name)?;
        self.reg.check(&f)?;
        self.reg
            .get(&f)
            .ok_or_else(|| format!("the definition of {f} is missing"))
    }

    /// [`RosRegistry::encode`] with a Rust error.
    pub fn encode_json(&self, name: &str, json: &str) -> Result<Vec<u8>, String> {
        let def = self.def(name)?;
        let v: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
        let v = prepare_struct(&self.reg, def, v, "");
        ros_value::encode(&self.reg, def, &v?)
    }

    /// [`RosRegistry::decode`] with a Rust error.
    pub fn decode_json(&self, name: &str, data: &[u8]) -> Result<String, String> {
        let def = self.def(name)?;
        let mut v = ros_value::decode(&self.reg, def, data)?;
        wrap_big(&mut v);
        serde_json::to_string(&v).map_err(|e| e.to_string())
    }
}

fn err(msg: impl core::fmt::Display) -> JsError {
    JsError::new(&msg.to_string())
}

fn at(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}.{name}")
    }
}

/// Integers beyond [`MAX_SAFE`] (only 64-bit fields give them) as `{"$bigint": "DIGITS"}`.
fn wrap_big(v: &mut Value) {
    match v {
        Value::Number(n) => {
            let big = match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => i.unsigned_abs() > MAX_SAFE,
                (None, Some(u)) => u > MAX_SAFE,
                _ => false,
            };
            if big {
                let mut m = Map::new();
                m.insert(BIGINT_KEY.into(), Value::String(n.to_string()));
                *v = Value::Object(m);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(wrap_big),
        Value::Object(m) => m.values_mut().for_each(wrap_big),
        _ => {}
    }
}

/// Walks `v` along `def`: `{"$bigint"}` objects in integer fields become numbers, and
/// `int64`/`uint64` numbers that JavaScript may have rounded are refused. Anything else is
/// left for `ros_value` to check (and refuse with its own messages).
fn prepare_struct(reg: &Registry, def: &MsgDef, v: Value, base: &str) -> Result<Value, String> {
    let Value::Object(mut m) = v else {
        return Ok(v);
    };
    for f in &def.fields {
        let Some(x) = m.remove(&f.name) else { continue };
        let p = at(base, &f.name);
        let x = match (f.shape, x) {
            (Shape::Single, x) => prepare_base(reg, &f.base, x, &p)?,
            (_, Value::Array(items)) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, e)| prepare_base(reg, &f.base, e, &format!("{p}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            (_, x) => x,
        };
        m.insert(f.name.clone(), x);
    }
    Ok(Value::Object(m))
}

fn prepare_base(reg: &Registry, b: &Base, v: Value, p: &str) -> Result<Value, String> {
    match b {
        Base::Msg(name) => match reg.get(name) {
            Some(def) => prepare_struct(reg, def, v, p),
            None => Ok(v),
        },
        Base::String(_) => Ok(v),
        Base::Prim(Prim::Bool | Prim::F32 | Prim::F64) => Ok(v),
        Base::Prim(prim) => prepare_int(*prim, v, p),
    }
}

fn prepare_int(prim: Prim, v: Value, p: &str) -> Result<Value, String> {
    let wide = matches!(prim, Prim::I64 | Prim::U64);
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key(BIGINT_KEY) => {
            let digits = m[BIGINT_KEY].as_str().unwrap_or_default();
            let n: i128 = digits
                .parse()
                .map_err(|_| format!("{p}: {digits:?} is not an integer"))?;
            let n = if let Ok(i) = i64::try_from(n) {
                Number::from(i)
            } else if let Ok(u) = u64::try_from(n) {
                Number::from(u)
            } else {
                return Err(format!("{p}: {n} does not fit 64 bits"));
            };
            Ok(Value::Number(n))
        }
        Value::Number(n) if wide => {
            let unsafe_int = match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => i.unsigned_abs() > MAX_SAFE,
                (None, Some(u), _) => u > MAX_SAFE,
                (None, None, Some(f)) => f.fract() == 0.0 && f.abs() > MAX_SAFE as f64,
                _ => false,
            };
            if unsafe_int {
                return Err(format!(
                    "{p}: {n} is beyond Number.MAX_SAFE_INTEGER and may have been rounded: give \
                     64-bit integers this large as a BigInt"
                ));
            }
            Ok(Value::Number(n))
        }
        v => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> RosRegistry {
        let mut r = RosRegistry::new();
        r.reg.insert(
            parse(
                "t/msg/Mix",
                "std_msgs/Header header\nstring[] names\nint16[3] trio\nuint8[] blob\n\
                 geometry_msgs/Point[<=2] points\nint64 big\nuint64 ubig\nbool on\n",
            )
            .unwrap(),
        );
        r
    }

    #[test]
    fn builtins_parse_and_are_complete() {
        let r = RosRegistry::new();
        for (name, text) in BUILTIN {
            assert!(parse(name, text).is_ok(), "{name}");
            assert!(r.missing_of(name).is_empty(), "{name}");
        }
        let q = r.decode_json(
            "geometry_msgs/msg/Pose",
            &r.encode_json("geometry_msgs/Pose", "{}").unwrap(),
        );
        assert!(
            q.unwrap().contains(r#""w":0.0"#),
            "defaults are not applied (as ros_value)"
        );
    }

    /// The bytes are pinned: the JavaScript tests compare theirs with these.
    #[test]
    fn twist_bytes() {
        let r = reg();
        let b = r
            .encode_json(
                "geometry_msgs/msg/Twist",
                r#"{"linear":{"x":0.5},"angular":{"z":-1.25}}"#,
            )
            .unwrap();
        let mut want = vec![0, 1, 0, 0];
        for v in [0.5f64, 0.0, 0.0, 0.0, 0.0, -1.25] {
            want.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(b, want);
        assert_eq!(
            r.decode_json("geometry_msgs::msg::dds_::Twist_", &b)
                .unwrap(),
            r#"{"linear":{"x":0.5,"y":0.0,"z":0.0},"angular":{"x":0.0,"y":0.0,"z":-1.25}}"#
        );
    }

    /// A nested type with strings, a sequence of strings, a fixed array, bytes, a bounded
    /// sequence of structs and 64-bit integers; the same bytes as in js/test/ros.test.mjs.
    #[test]
    fn nested_bytes_and_bigints() {
        let r = reg();
        let json = r#"{"header":{"stamp":{"sec":7,"nanosec":9},"frame_id":"map"},
            "names":["a","bc"],"trio":[1,-2,3],"blob":[255],"points":[{"x":1.5}],
            "big":{"$bigint":"-9007199254740993"},"ubig":18446744073709551615,"on":true}"#;
        assert!(r
            .encode_json("t/msg/Mix", json)
            .unwrap_err()
            .starts_with("ubig: 18446744073709551615 is beyond Number.MAX_SAFE_INTEGER"));
        let json = json.replace(
            "18446744073709551615",
            r#"{"$bigint":"18446744073709551615"}"#,
        );
        let b = r.encode_json("t/msg/Mix", &json).unwrap();
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        assert_eq!(hex, PINNED_MIX);
        let back = r.decode_json("t/msg/Mix", &b).unwrap();
        assert_eq!(
            back,
            r#"{"header":{"stamp":{"sec":7,"nanosec":9},"frame_id":"map"},"names":["a","bc"],"trio":[1,-2,3],"blob":[255],"points":[{"x":1.5,"y":0.0,"z":0.0}],"big":{"$bigint":"-9007199254740993"},"ubig":{"$bigint":"18446744073709551615"},"on":true}"#
        );
    }

    // Offsets from the end of the encapsulation header, each item aligned to its size.
    const PINNED_MIX: &str = concat!(
        "00010000",         // CDR_LE
        "0700000009000000", // 0: header.stamp (sec, nanosec)
        "040000006d617000", // 8: header.frame_id "map" with its NUL
        "02000000",         // 16: names: 2
        "0200000061000000", // 20: "a", padded to 4
        "0300000062630000", // 28: "bc", padded to 4
        "0100feff03000000", // 36: trio (3 int16), padded to 4
        "01000000ff000000", // 44: blob: 1, 0xff, padded to 4
        "01000000",         // 52: points: 1, then its doubles at 56
        "000000000000f83f", // 56: points[0] (x 1.5, y, z)
        "00000000000000000000000000000000",
        "ffffffffffffdfff", // 80: big (-(2^53 + 1))
        "ffffffffffffffff", // 88: ubig (2^64 - 1)
        "01",               // 96: on
    );

    #[test]
    fn errors_name_the_field_and_never_panic() {
        let mut r = reg();
        let e = |r: &RosRegistry, j: &str| r.encode_json("geometry_msgs/msg/Twist", j).unwrap_err();
        assert!(e(&r, r#"{"linear":{"w":1}}"#).starts_with("linear.w: "));
        assert!(e(&r, r#"{"linear":{"x":"fast"}}"#).starts_with("linear.x: expected a number"));
        assert!(e(&r, "[").starts_with("not JSON"));
        assert!(r
            .encode_json("t/msg/Mix", r#"{"trio":[1,2,70000]}"#)
            .unwrap_err()
            .starts_with("trio[2]: 70000 does not fit int16"));
        assert!(r
            .encode_json("t/msg/Mix", r#"{"big":{"$bigint":"1e3"}}"#)
            .unwrap_err()
            .starts_with("big: "));
        assert!(r.encode_json("nope", "{}").is_err());
        assert!(r
            .decode_json("geometry_msgs/msg/Twist", &[0, 1, 0])
            .is_err());
        // Missing types are listed; a type containing itself is refused, not recursed into.
        r.reg.insert(parse("t/msg/A", "t/B b\nt/C c\n").unwrap());
        assert_eq!(r.missing_of("t/msg/A"), vec!["t/msg/B", "t/msg/C"]);
        assert!(r
            .encode_json("t/msg/A", "{}")
            .unwrap_err()
            .contains("missing"));
        r.reg.insert(parse("t/msg/B", "t/A a\n").unwrap());
        r.reg.insert(parse("t/msg/C", "int8 x\n").unwrap());
        assert!(r
            .encode_json("t/msg/A", "{}")
            .unwrap_err()
            .contains("contains itself"));
        assert!(r.decode_json("t/msg/A", &[0, 1, 0, 0, 1]).is_err());
    }
}
