//! ROS 2 message definitions (`.msg` files), found where ROS 2 installs them.
//!
//! A type `pkg/msg/Name` is read from `<prefix>/share/pkg/msg/Name.msg` for each prefix of
//! `AMENT_PREFIX_PATH` (as a sourced ROS 2 sets it, or a venv with the ROS 2 wheels) and each
//! directory given with `--msg-path` (a prefix, or a `share` directory). The grammar is
//! ROS 2's: one field per line, `TYPE NAME [DEFAULT]`, constants `TYPE NAME=VALUE` (ignored
//! here: they are not on the wire), `#` comments; TYPE is a primitive, `string` or
//! `string<=N`, a message (`pkg/Name`, or `Name` in the same package; `Header` is
//! `std_msgs/Header`), each optionally an array: `T[]`, `T[N]` or `T[<=N]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A primitive type, as it is on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prim {
    Bool,
    /// `byte`, `char`, `uint8`: one octet.
    U8,
    I8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

/// A field's base type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Prim(Prim),
    /// `string`, with its bound.
    String(Option<usize>),
    /// Another message: its full name `pkg/msg/Name`.
    Msg(String),
}

/// A field's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Single,
    /// `T[N]`: exactly N, no length on the wire.
    Array(usize),
    /// `T[]` or `T[<=N]`: a length, then the elements.
    Seq(Option<usize>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub base: Base,
    pub shape: Shape,
}

/// A message: its fields in wire order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgDef {
    pub name: String,
    pub fields: Vec<Field>,
}

impl MsgDef {
    /// The message types its fields use.
    pub fn nested(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter_map(|f| match &f.base {
                Base::Msg(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }
}

fn prim(s: &str) -> Option<Prim> {
    Some(match s {
        "bool" => Prim::Bool,
        "byte" | "char" | "uint8" => Prim::U8,
        "int8" => Prim::I8,
        "int16" => Prim::I16,
        "uint16" => Prim::U16,
        "int32" => Prim::I32,
        "uint32" => Prim::U32,
        "int64" => Prim::I64,
        "uint64" => Prim::U64,
        "float32" => Prim::F32,
        "float64" => Prim::F64,
        _ => return None,
    })
}

/// `pkg/msg/Name` from `pkg/msg/Name`, `pkg/Name` or the DDS name
/// `pkg::msg::dds_::Name_`; `None` for anything else.
pub fn full_name(s: &str) -> Option<String> {
    let parts: Vec<&str> = if s.contains("::") {
        s.split("::").collect()
    } else {
        s.split('/').collect()
    };
    let (pkg, name) = match parts.as_slice() {
        [pkg, "msg", "dds_", name] => (*pkg, name.strip_suffix('_').unwrap_or(name)),
        [pkg, "msg", name] | [pkg, name] => (*pkg, *name),
        _ => return None,
    };
    let ident = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (ident(pkg) && ident(name) && name.starts_with(|c: char| c.is_ascii_uppercase()))
        .then(|| format!("{pkg}/msg/{name}"))
}

/// The DDS type name of `pkg/msg/Name`: `pkg::msg::dds_::Name_`.
pub fn dds_name(full: &str) -> String {
    let mut it = full.split('/');
    match (it.next(), it.next(), it.next()) {
        (Some(pkg), Some(kind), Some(name)) => format!("{pkg}::{kind}::dds_::{name}_"),
        _ => full.to_string(),
    }
}

/// Parses the text of `pkg/msg/Name`'s `.msg` file.
pub fn parse(full: &str, text: &str) -> Result<MsgDef, String> {
    let pkg = full.split('/').next().unwrap_or("");
    let mut fields = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let err = |what: &str| format!("{full}, line {}: {what}: {raw:?}", i + 1);
        let mut words = line.split_whitespace();
        let (Some(ty), Some(name)) = (words.next(), words.next()) else {
            return Err(err("expected a type and a name"));
        };
        if name.contains('=') || words.clone().next().is_some_and(|w| w.starts_with('=')) {
            // A constant.
            continue;
        }
        let (ty, shape) = match ty.split_once('[') {
            None => (ty, Shape::Single),
            Some((t, rest)) => {
                let inner = rest.strip_suffix(']').ok_or_else(|| err("bad array"))?;
                let shape = if inner.is_empty() {
                    Shape::Seq(None)
                } else if let Some(n) = inner.strip_prefix("<=") {
                    Shape::Seq(Some(n.parse().map_err(|_| err("bad bound"))?))
                } else {
                    Shape::Array(inner.parse().map_err(|_| err("bad array size"))?)
                };
                (t, shape)
            }
        };
        let base = if let Some(p) = prim(ty) {
            Base::Prim(p)
        } else if ty == "string" {
            Base::String(None)
        } else if let Some(n) = ty.strip_prefix("string<=") {
            Base::String(Some(n.parse().map_err(|_| err("bad string bound"))?))
        } else if ty == "wstring" || ty.starts_with("wstring<=") {
            return Err(err("wstring is not supported"));
        } else if ty == "Header" {
            Base::Msg("std_msgs/msg/Header".into())
        } else if ty.contains('/') {
            Base::Msg(full_name(ty).ok_or_else(|| err("bad type name"))?)
        } else {
            Base::Msg(full_name(&format!("{pkg}/{ty}")).ok_or_else(|| err("bad type name"))?)
        };
        fields.push(Field {
            name: name.to_string(),
            base,
            shape,
        });
    }
    Ok(MsgDef {
        name: full.to_string(),
        fields,
    })
}

/// Message definitions loaded from the search path, each once.
#[derive(Debug, Default)]
pub struct Registry {
    dirs: Vec<PathBuf>,
    defs: BTreeMap<String, MsgDef>,
}

/// Types nested deeper than this are refused (a definition that includes itself).
const MAX_DEPTH: usize = 32;

impl Registry {
    /// The `share` directories of `AMENT_PREFIX_PATH` and of `extra` (each a prefix or a
    /// `share` directory).
    pub fn from_env(extra: &[PathBuf]) -> Registry {
        let mut dirs = Vec::new();
        let prefixes = std::env::var_os("AMENT_PREFIX_PATH").unwrap_or_default();
        for p in extra
            .iter()
            .cloned()
            .chain(std::env::split_paths(&prefixes))
        {
            if p.as_os_str().is_empty() {
                continue;
            }
            let share = p.join("share");
            dirs.push(if share.is_dir() { share } else { p });
        }
        Registry {
            dirs,
            defs: BTreeMap::new(),
        }
    }

    /// Where `full` would be read from, for error messages.
    fn searched(&self) -> String {
        if self.dirs.is_empty() {
            "nowhere: set AMENT_PREFIX_PATH (source a ROS 2 setup) or pass --msg-path DIR".into()
        } else {
            self.dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    fn file(&self, full: &str) -> Option<PathBuf> {
        let mut it = full.split('/');
        let (pkg, kind, name) = (it.next()?, it.next()?, it.next()?);
        self.dirs
            .iter()
            .map(|d| d.join(pkg).join(kind).join(format!("{name}.msg")))
            .find(|p| p.is_file())
    }

    /// Loads `full` and every type it uses.
    pub fn load(&mut self, full: &str) -> Result<&MsgDef, String> {
        self.load_at(full, 0)?;
        self.check(full)?;
        Ok(&self.defs[full])
    }

    /// Checks that `full` and every type it uses are here and that none contains itself:
    /// ROS 2 types cannot, and encoding or decoding one that did (from a hostile node's
    /// description, or a broken `.msg`) would recurse without end.
    pub fn check(&self, full: &str) -> Result<(), String> {
        self.check_at(full, &mut Vec::new())
    }

    fn check_at<'s>(&'s self, t: &'s str, path: &mut Vec<&'s str>) -> Result<(), String> {
        if path.contains(&t) {
            return Err(format!(
                "{} contains itself ({} → {t})",
                path[0],
                path.join(" → ")
            ));
        }
        if path.len() > MAX_DEPTH {
            return Err(format!(
                "{}: types nested more than {MAX_DEPTH} deep",
                path[0]
            ));
        }
        let def = self.defs.get(t).ok_or_else(|| {
            format!(
                "{}: the definition of {t} is missing",
                path.first().unwrap_or(&t)
            )
        })?;
        path.push(t);
        for f in &def.fields {
            if let Base::Msg(m) = &f.base {
                self.check_at(m, path)?;
            }
        }
        path.pop();
        Ok(())
    }

    fn load_at(&mut self, full: &str, depth: usize) -> Result<(), String> {
        if self.defs.contains_key(full) {
            return Ok(());
        }
        if depth > MAX_DEPTH {
            return Err(format!("{full}: types nested more than {MAX_DEPTH} deep"));
        }
        let path = self.file(full).ok_or_else(|| {
            format!(
                "no definition of {full} found (searched {})",
                self.searched()
            )
        })?;
        let text = read(&path)?;
        let def = parse(full, &text)?;
        let nested = def.nested();
        self.defs.insert(full.to_string(), def);
        for m in nested {
            if let Err(e) = self.load_at(&m, depth + 1) {
                self.defs.remove(full);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Loads service `full` (`pkg/srv/Name`, from `share/pkg/srv/Name.srv`): its request
    /// and response, `pkg/srv/Name_Request` and `pkg/srv/Name_Response`, and the types they
    /// use.
    pub fn load_service(&mut self, full: &str) -> Result<(String, String), String> {
        let (req, resp) = (format!("{full}_Request"), format!("{full}_Response"));
        if self.defs.contains_key(&req) && self.defs.contains_key(&resp) {
            return Ok((req, resp));
        }
        let mut it = full.split('/');
        let (Some(pkg), Some("srv"), Some(name), None) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(format!(
                "{full:?} is not a ROS 2 service type (pkg/srv/Name)"
            ));
        };
        let path = self
            .dirs
            .iter()
            .map(|d| d.join(pkg).join("srv").join(format!("{name}.srv")))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                format!(
                    "no definition of {full} found (searched {})",
                    self.searched()
                )
            })?;
        let text = read(&path)?;
        self.add_service(full, &text)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Adds service `full` (`pkg/srv/Name`) from the text of its `.srv` definition, and loads
    /// the types it uses.
    pub fn add_service(&mut self, full: &str, text: &str) -> Result<(String, String), String> {
        let (req, resp) = (format!("{full}_Request"), format!("{full}_Response"));
        let (request, response) =
            split_service(text).ok_or("no `---` between request and response")?;
        for (n, t) in [(&req, request), (&resp, response)] {
            let def = parse(n, t)?;
            let nested = def.nested();
            self.defs.insert(n.clone(), def);
            for m in nested {
                self.load_at(&m, 1)?;
            }
            self.check(n)?;
        }
        Ok((req, resp))
    }

    /// A loaded definition.
    pub fn get(&self, full: &str) -> Option<&MsgDef> {
        self.defs.get(full)
    }

    /// Adds a definition parsed elsewhere.
    pub fn insert(&mut self, def: MsgDef) {
        self.defs.insert(def.name.clone(), def);
    }
}

/// A `.srv` text split at its `---` line: (request, response).
fn split_service(text: &str) -> Option<(&str, &str)> {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim() == "---" {
            return Some((&text[..at], &text[at + line.len()..]));
        }
        at += line.len();
    }
    None
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        let d = parse(
            "sensor_msgs/msg/Test",
            "# a comment\nHeader header\nfloat32 angle_min # trailing\nfloat32[] ranges\n\
             uint8[4] code\nstring<=8 id\nstring[<=3] names\ngeometry_msgs/Vector3 v\n\
             Other o\nint32 ANSWER=42\nuint8 FLAG = 1\nbool on true\n",
        )
        .unwrap();
        let f: Vec<(&str, &Base, Shape)> = d
            .fields
            .iter()
            .map(|f| (f.name.as_str(), &f.base, f.shape))
            .collect();
        assert_eq!(
            f,
            vec![
                (
                    "header",
                    &Base::Msg("std_msgs/msg/Header".into()),
                    Shape::Single
                ),
                ("angle_min", &Base::Prim(Prim::F32), Shape::Single),
                ("ranges", &Base::Prim(Prim::F32), Shape::Seq(None)),
                ("code", &Base::Prim(Prim::U8), Shape::Array(4)),
                ("id", &Base::String(Some(8)), Shape::Single),
                ("names", &Base::String(None), Shape::Seq(Some(3))),
                (
                    "v",
                    &Base::Msg("geometry_msgs/msg/Vector3".into()),
                    Shape::Single
                ),
                (
                    "o",
                    &Base::Msg("sensor_msgs/msg/Other".into()),
                    Shape::Single
                ),
                ("on", &Base::Prim(Prim::Bool), Shape::Single),
            ]
        );
        assert!(parse("a/msg/B", "float32[x] bad\n").is_err());
        assert!(parse("a/msg/B", "lonely\n").is_err());
    }

    #[test]
    fn services_split_at_their_dashes() {
        assert_eq!(
            split_service("string[] names\n---\nParameterValue[] values\n"),
            Some(("string[] names\n", "ParameterValue[] values\n"))
        );
        assert_eq!(split_service("int64 a\n# --- not this\n"), None);
        assert_eq!(split_service("---\n"), Some(("", "")));
    }

    #[test]
    fn names() {
        for n in [
            "geometry_msgs/msg/Twist",
            "geometry_msgs/Twist",
            "geometry_msgs::msg::dds_::Twist_",
        ] {
            assert_eq!(
                full_name(n).as_deref(),
                Some("geometry_msgs/msg/Twist"),
                "{n}"
            );
        }
        assert_eq!(full_name("hello"), None);
        assert_eq!(full_name("a/b/c/d"), None);
        assert_eq!(full_name("pkg/lower"), None);
        assert_eq!(
            dds_name("geometry_msgs/msg/Twist"),
            "geometry_msgs::msg::dds_::Twist_"
        );
    }
}
