//! A few lines of JSON output: what the JavaScript side parses for events, tables and
//! counters (rare, small values, so one string beats building JS objects field by field).

use core::fmt::Write as _;

/// A JSON string literal of `s`, escaped.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Builds one JSON object.
pub struct Object {
    out: String,
    first: bool,
}

impl Default for Object {
    fn default() -> Self {
        Object::new()
    }
}

impl Object {
    /// `{`
    pub fn new() -> Object {
        Object {
            out: String::from("{"),
            first: true,
        }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        string(&mut self.out, k);
        self.out.push(':');
    }

    /// A string member.
    pub fn str(mut self, k: &str, v: &str) -> Object {
        self.key(k);
        string(&mut self.out, v);
        self
    }

    /// A number member (exact in JavaScript up to 2^53).
    pub fn num(mut self, k: &str, v: u64) -> Object {
        self.key(k);
        let _ = write!(self.out, "{v}");
        self
    }

    /// A boolean member.
    pub fn bool(mut self, k: &str, v: bool) -> Object {
        self.key(k);
        self.out.push_str(if v { "true" } else { "false" });
        self
    }

    /// A member whose value is JSON already.
    pub fn raw(mut self, k: &str, json: &str) -> Object {
        self.key(k);
        self.out.push_str(json);
        self
    }

    /// `}`
    pub fn end(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// A JSON array of already-encoded values.
pub fn array(items: impl IntoIterator<Item = String>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let mut s = String::new();
        string(&mut s, "a\"b\\c\n\u{1}é");
        assert_eq!(s, r#""a\"b\\c\n\u0001é""#);
        let o = Object::new()
            .str("t", "x")
            .num("n", 3)
            .bool("b", false)
            .raw("a", &array(["1".into(), "2".into()]))
            .end();
        assert_eq!(o, r#"{"t":"x","n":3,"b":false,"a":[1,2]}"#);
    }
}
