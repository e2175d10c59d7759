//! Small value types with their own rules: durations, bounded numbers, the version.

use std::borrow::Cow;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::{Decode, Decoder};
use crate::diagnostic::{Code, Diagnostic};
use crate::template::{TemplateField, Templates};
use crate::yaml::Node;

/// A duration written with units, as humantime reads them: `500ms`, `2s`, `10m`, `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DurationValue(pub Duration);

impl serde::Serialize for DurationValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl JsonSchema for DurationValue {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration with units: `500ms`, `2s`, `10m`, `1h 30m`.",
            "type": "string",
            "pattern": "^\\s*([0-9]+\\s*[a-zA-Zµ]+\\s*)+$"
        })
    }
}

impl Decode for DurationValue {
    fn expected() -> String {
        "a duration such as `30s`".into()
    }

    fn decode(node: &Node, cx: &mut Decoder) -> Option<Self> {
        if let Some(n) = node.as_i64() {
            cx.push(
                Diagnostic::error(Code::InvalidDuration, node.span, format!("duration `{n}` has no unit"))
                    .with_help(format!("add a unit: `{n}s`, `{n}m` or `{n}h`")),
            );
            return None;
        }
        let text = cx.string(node, "a duration such as `30s`")?;
        match humantime::parse_duration(text) {
            Ok(d) => Some(DurationValue(d)),
            Err(_) => {
                cx.push(
                    Diagnostic::error(Code::InvalidDuration, node.span, format!("`{text}` is not a duration"))
                        .with_help("write a number and a unit: `500ms`, `30s`, `10m`, `1h 30m`"),
                );
                None
            }
        }
    }
}

/// The format version: only `1` exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Version(pub u32);

impl JsonSchema for Version {
    fn schema_name() -> Cow<'static, str> {
        "Version".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "description": "The pipeline format version. Only `1` exists.", "const": 1 })
    }
}

impl Decode for Version {
    fn expected() -> String {
        "the format version `1`".into()
    }

    fn decode(node: &Node, cx: &mut Decoder) -> Option<Self> {
        match node.as_i64() {
            Some(1) => Some(Version(1)),
            Some(n) => {
                cx.push(
                    Diagnostic::error(Code::UnsupportedVersion, node.span, format!("pipeline format version {n} is not supported"))
                        .with_help("this Slipway reads `version: 1`"),
                );
                None
            }
            None if node.as_str() == Some("1") => {
                cx.push(
                    Diagnostic::error(Code::WrongType, node.span, "the version is a number, not a string")
                        .with_help("write `version: 1` without quotes"),
                );
                None
            }
            None => {
                let found = node.as_str().unwrap_or_default();
                cx.push(
                    Diagnostic::error(Code::UnsupportedVersion, node.span, format!("pipeline format version `{found}` is not supported"))
                        .with_help("this Slipway reads `version: 1`"),
                );
                None
            }
        }
    }
}

/// An integer that must lie in `MIN..=MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Bounded<const MIN: u64, const MAX: u64>(pub u64);

impl<const MIN: u64, const MAX: u64> JsonSchema for Bounded<MIN, MAX> {
    fn schema_name() -> Cow<'static, str> {
        format!("Integer_{MIN}_to_{MAX}").into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "integer", "minimum": MIN, "maximum": MAX })
    }
}

impl<const MIN: u64, const MAX: u64> Decode for Bounded<MIN, MAX> {
    fn expected() -> String {
        format!("a whole number from {MIN} to {MAX}")
    }

    fn decode(node: &Node, cx: &mut Decoder) -> Option<Self> {
        let Some(i) = node.as_i64() else {
            cx.wrong_type(node, &Self::expected());
            return None;
        };
        if i < MIN as i64 || i as u64 > MAX {
            cx.push(
                Diagnostic::error(Code::OutOfRange, node.span, format!("{i} is out of range"))
                    .with_help(format!("use a whole number from {MIN} to {MAX}")),
            );
            return None;
        }
        Some(Bounded(i as u64))
    }
}

macro_rules! bounded_float {
    ($(#[$meta:meta])* $name:ident, $min:literal, $max:literal, $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(pub f64);

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "description": $what, "type": "number", "minimum": $min, "maximum": $max })
            }
        }

        impl Decode for $name {
            fn expected() -> String {
                format!("a number from {} to {}", $min, $max)
            }

            fn decode(node: &Node, cx: &mut Decoder) -> Option<Self> {
                let Some(f) = node.as_f64() else {
                    cx.wrong_type(node, &Self::expected());
                    return None;
                };
                if !($min..=$max).contains(&f) {
                    cx.push(
                        Diagnostic::error(Code::OutOfRange, node.span, format!("{f} is out of range"))
                            .with_help(format!("use a number from {} to {}", $min, $max)),
                    );
                    return None;
                }
                Some($name(f))
            }
        }

        impl Templates for $name {
            fn each_template<'a>(&'a self, _: &mut Vec<TemplateField<'a>>) {}
        }
    };
}

bounded_float!(
    /// A fraction from 0 to 1 (jitter: how much of each wait is randomised).
    Fraction, 0.0, 1.0, "A fraction from 0 to 1, e.g. `0.2`."
);
bounded_float!(
    /// A growth factor from 1 to 10 (backoff: each wait is the last times this).
    Multiplier, 1.0, 10.0, "A growth factor from 1 to 10, e.g. `2` (each wait twice the last)."
);

impl Templates for DurationValue {
    fn each_template<'a>(&'a self, _: &mut Vec<TemplateField<'a>>) {}
}

impl Templates for Version {
    fn each_template<'a>(&'a self, _: &mut Vec<TemplateField<'a>>) {}
}

impl<const MIN: u64, const MAX: u64> Templates for Bounded<MIN, MAX> {
    fn each_template<'a>(&'a self, _: &mut Vec<TemplateField<'a>>) {}
}
