//! A minimal JSON text writer. The generator writes records straight to text: building a
//! `serde_json::Value` per record first costs tens of allocations per field and made a 3,000-threat
//! tenant take seconds in debug test builds.

use crate::util::{write_micros, Micros};

pub(crate) fn push_str_escaped(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(s);
    } else {
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

/// Writes one JSON object; keys are written in call order.
pub(crate) struct Obj<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    pub(crate) fn new(out: &'a mut String) -> Self {
        out.push('{');
        Self { out, first: true }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.out.push('"');
        self.out.push_str(k);
        self.out.push_str("\":");
    }

    pub(crate) fn s(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        push_str_escaped(self.out, v);
        self
    }

    pub(crate) fn opt_s(&mut self, k: &str, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.s(k, v),
            None => self.null(k),
        }
    }

    pub(crate) fn null(&mut self, k: &str) -> &mut Self {
        self.key(k);
        self.out.push_str("null");
        self
    }

    pub(crate) fn b(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k);
        self.out.push_str(if v { "true" } else { "false" });
        self
    }

    pub(crate) fn n(&mut self, k: &str, v: u64) -> &mut Self {
        self.key(k);
        self.out.push_str(&v.to_string());
        self
    }

    pub(crate) fn ts(&mut self, k: &str, v: Micros) -> &mut Self {
        // Digits and separators only: nothing to escape.
        self.key(k);
        self.out.push('"');
        write_micros(self.out, v);
        self.out.push('"');
        self
    }

    pub(crate) fn opt_ts(&mut self, k: &str, v: Option<Micros>) -> &mut Self {
        match v {
            Some(v) => self.ts(k, v),
            None => self.null(k),
        }
    }

    /// A value already in JSON text form.
    pub(crate) fn raw(&mut self, k: &str, json: &str) -> &mut Self {
        self.key(k);
        self.out.push_str(json);
        self
    }

    pub(crate) fn obj(&mut self, k: &str, f: impl FnOnce(&mut Obj<'_>)) -> &mut Self {
        self.key(k);
        let mut o = Obj::new(self.out);
        f(&mut o);
        o.end();
        self
    }

    pub(crate) fn arr(&mut self, k: &str, f: impl FnOnce(&mut Arr<'_>)) -> &mut Self {
        self.key(k);
        let mut a = Arr::new(self.out);
        f(&mut a);
        a.end();
        self
    }

    pub(crate) fn str_arr(&mut self, k: &str, items: &[&str]) -> &mut Self {
        self.arr(k, |a| {
            for i in items {
                a.s(i);
            }
        })
    }

    pub(crate) fn end(self) {
        self.out.push('}');
    }
}

/// Writes one JSON array.
pub(crate) struct Arr<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Arr<'a> {
    pub(crate) fn new(out: &'a mut String) -> Self {
        out.push('[');
        Self { out, first: true }
    }

    fn sep(&mut self) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
    }

    pub(crate) fn s(&mut self, v: &str) -> &mut Self {
        self.sep();
        push_str_escaped(self.out, v);
        self
    }

    pub(crate) fn n(&mut self, v: u64) -> &mut Self {
        self.sep();
        self.out.push_str(&v.to_string());
        self
    }

    pub(crate) fn obj(&mut self, f: impl FnOnce(&mut Obj<'_>)) -> &mut Self {
        self.sep();
        let mut o = Obj::new(self.out);
        f(&mut o);
        o.end();
        self
    }

    pub(crate) fn end(self) {
        self.out.push(']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_json_with_escapes() {
        let mut s = String::new();
        let mut o = Obj::new(&mut s);
        o.s("path", "\\Device\\x \"q\"\n")
            .null("n")
            .b("t", true)
            .n("c", 3)
            .arr("a", |a| {
                a.s("x").n(1).obj(|o| {
                    o.s("k", "v");
                });
            })
            .obj("o", |_| {});
        o.end();
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["path"], "\\Device\\x \"q\"\n");
        assert_eq!(v["a"][2]["k"], "v");
        assert_eq!(v["o"], serde_json::json!({}));
    }
}
