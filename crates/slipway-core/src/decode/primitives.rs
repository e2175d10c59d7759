//! `Decode` for strings, numbers, booleans and collections.

use indexmap::IndexMap;

use super::{Decode, Decoder, Key};
use crate::diagnostic::{Code, Diagnostic};
use crate::source::Span;
use crate::template::{TemplateField, Templates};
use crate::yaml::{Node, Value};

impl Decode for String {
    fn expected() -> String {
        "a string".into()
    }

    fn decode(node: &Node, cx: &mut Decoder) -> Option<Self> {
        cx.string(node, "a string").map(str::to_owned)
    }
}

impl Decode for bool {
    fn expected() -> String {
        "a boolean".into()
    }

    fn decode(node: &Node, cx: &mut Decoder) -> Option<Self> {
        let b = node.as_bool();
        if b.is_none() {
            cx.wrong_type(node, "a boolean (`true` or `false`)");
        }
        b
    }

    fn missing() -> Option<Self> {
        Some(false)
    }
}

macro_rules! decode_unsigned {
    ($($t:ty),*) => {$(
        impl Decode for $t {
            fn expected() -> String {
                "a whole number".into()
            }

            fn decode(node: &Node, cx: &mut Decoder) -> Option<Self> {
                let Some(i) = node.as_i64() else {
                    cx.wrong_type(node, "an integer");
                    return None;
                };
                let v = <$t>::try_from(i).ok();
                if v.is_none() {
                    cx.push(Diagnostic::error(Code::OutOfRange, node.span, format!("{i} is out of range"))
                        .with_help(format!("use a whole number from 0 to {}", <$t>::MAX)));
                }
                v
            }
        }
    )*};
}
decode_unsigned!(u16, u32, u64);

impl Decode for f64 {
    fn expected() -> String {
        "a number".into()
    }

    fn decode(node: &Node, cx: &mut Decoder) -> Option<Self> {
        let f = node.as_f64();
        if f.is_none() {
            cx.wrong_type(node, "a number");
        }
        f
    }
}

impl<T: Decode> Decode for Option<T> {
    fn expected() -> String {
        T::expected()
    }

    fn decode(node: &Node, cx: &mut Decoder) -> Option<Self> {
        if node.is_null() { Some(None) } else { T::decode(node, cx).map(Some) }
    }

    fn missing() -> Option<Self> {
        Some(None)
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn expected() -> String {
        match T::expected().as_str() {
            "a string" => "a list of strings".into(),
            other => format!("a list, each item {other}"),
        }
    }

    fn decode(node: &Node, cx: &mut Decoder) -> Option<Self> {
        match &node.value {
            Value::Seq(items) => {
                let decoded: Vec<Option<T>> = items.iter().map(|item| T::decode(item, cx)).collect();
                decoded.into_iter().collect()
            }
            _ if node.is_null() => Some(Vec::new()),
            _ => {
                cx.wrong_type(node, &Self::expected());
                None
            }
        }
    }

    fn missing() -> Option<Self> {
        Some(Vec::new())
    }
}

impl<T: Decode> Decode for IndexMap<Key, T> {
    fn expected() -> String {
        "a mapping".into()
    }

    fn decode(node: &Node, cx: &mut Decoder) -> Option<Self> {
        let fields = cx.mapping(node)?;
        let mut out = IndexMap::with_capacity(fields.entries.len());
        let mut ok = true;
        for (key, value) in fields.entries {
            let Some(name) = cx.string(key, "a text key") else {
                ok = false;
                continue;
            };
            let name = Key::new(name.to_owned(), key.span);
            match cx.with_owner(key, |cx| T::decode(value, cx)) {
                Some(v) => {
                    out.insert(name, v);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn missing() -> Option<Self> {
        Some(IndexMap::new())
    }
}

/// Arbitrary YAML carried as JSON (e.g. values whose shape only the service knows).
impl Decode for serde_json::Value {
    fn expected() -> String {
        "any value".into()
    }

    fn decode(node: &Node, _: &mut Decoder) -> Option<Self> {
        Some(node.to_json())
    }
}

macro_rules! no_templates {
    ($($t:ty),*) => {$(
        impl Templates for $t {
            fn each_template<'a>(&'a self, _: &mut Vec<TemplateField<'a>>) {}
        }
    )*};
}
no_templates!(String, bool, u16, u32, u64, f64, serde_json::Value, Span);

impl<T: Templates> Templates for Option<T> {
    fn each_template<'a>(&'a self, out: &mut Vec<TemplateField<'a>>) {
        if let Some(v) = self {
            v.each_template(out)
        }
    }
}

impl<T: Templates> Templates for Vec<T> {
    fn each_template<'a>(&'a self, out: &mut Vec<TemplateField<'a>>) {
        self.iter().for_each(|v| v.each_template(out))
    }
}

impl<T: Templates> Templates for IndexMap<Key, T> {
    fn each_template<'a>(&'a self, out: &mut Vec<TemplateField<'a>>) {
        self.values().for_each(|v| v.each_template(out))
    }
}
