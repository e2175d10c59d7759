//! A number of hosts written as a count (`3`) or as a share of a role (`"25%"`).

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::{Decode, Decoder};
use crate::diagnostic::{Code, Diagnostic};
use crate::template::{TemplateField, Templates};
use crate::yaml::Node;

/// How many hosts: a count, or a percentage of the role's hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Portion {
    Count(u64),
    /// 0 to 100.
    Percent(u8),
}

impl Portion {
    /// The number of hosts out of `total`. A percentage rounds down, so `25%` of
    /// 3 hosts allows none to fail: a share never allows more than it says.
    pub fn of(self, total: usize) -> usize {
        match self {
            Portion::Count(n) => usize::try_from(n).unwrap_or(usize::MAX),
            Portion::Percent(p) => total * p as usize / 100,
        }
    }

    /// As written: `3` or `25%`.
    pub fn text(self) -> String {
        match self {
            Portion::Count(n) => n.to_string(),
            Portion::Percent(p) => format!("{p}%"),
        }
    }
}

impl serde::Serialize for Portion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Portion::Count(n) => s.serialize_u64(*n),
            Portion::Percent(_) => s.serialize_str(&self.text()),
        }
    }
}

impl JsonSchema for Portion {
    fn schema_name() -> Cow<'static, str> {
        "CountOrPercent".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A number of hosts (`2`) or a percentage of the role's hosts (`\"25%\"`, rounded down).",
            "oneOf": [
                { "type": "integer", "minimum": 0, "maximum": 100000 },
                { "type": "string", "pattern": "^(100|[1-9]?[0-9])%$" }
            ]
        })
    }
}

impl Decode for Portion {
    fn expected() -> String {
        "a number of hosts or a percentage such as `25%`".into()
    }

    fn decode(node: &Node, cx: &mut Decoder) -> Option<Self> {
        if let Some(i) = node.as_i64() {
            if !(0..=100_000).contains(&i) {
                cx.push(
                    Diagnostic::error(Code::OutOfRange, node.span, format!("{i} is out of range"))
                        .with_help("use a whole number from 0 to 100000, or a percentage such as `25%`"),
                );
                return None;
            }
            return Some(Portion::Count(i as u64));
        }
        let text = cx.string(node, &Self::expected())?;
        let percent = text.trim().strip_suffix('%').map(|n| n.trim().parse::<u64>());
        match percent {
            Some(Ok(p)) if p <= 100 => Some(Portion::Percent(p as u8)),
            Some(Ok(_)) => {
                cx.push(
                    Diagnostic::error(Code::OutOfRange, node.span, format!("`{text}` is more than all the hosts"))
                        .with_help("use a percentage from `0%` to `100%`"),
                );
                None
            }
            _ => {
                cx.push(
                    Diagnostic::error(Code::InvalidValue, node.span, format!("`{text}` is neither a number nor a percentage"))
                        .with_help("write a whole number of hosts (`2`) or a whole percentage (`25%`)"),
                );
                None
            }
        }
    }
}

impl Templates for Portion {
    fn each_template<'a>(&'a self, _: &mut Vec<TemplateField<'a>>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(yaml: &str) -> (Option<Portion>, Vec<String>) {
        let (root, _) = crate::yaml::load(&format!("v: {yaml}"), crate::yaml::Limits::default());
        let root = root.unwrap();
        let crate::yaml::Value::Map(entries) = &root.value else { panic!("a mapping") };
        let mut cx = Decoder::new();
        let got = Portion::decode(&entries[0].1, &mut cx);
        (got, cx.diagnostics.iter().map(|d| d.code.as_str().to_owned()).collect())
    }

    #[test]
    fn counts_and_percentages() {
        assert_eq!(decode("3").0, Some(Portion::Count(3)));
        assert_eq!(decode("25%").0, Some(Portion::Percent(25)));
        assert_eq!(decode("'50 %'").0, Some(Portion::Percent(50)));
        assert_eq!(decode("101%"), (None, vec!["out-of-range".to_owned()]));
        assert_eq!(decode("half"), (None, vec!["invalid-value".to_owned()]));
        assert_eq!(decode("-1"), (None, vec!["out-of-range".to_owned()]));
    }

    #[test]
    fn percentages_round_down() {
        assert_eq!(Portion::Percent(25).of(3), 0);
        assert_eq!(Portion::Percent(25).of(8), 2);
        assert_eq!(Portion::Percent(100).of(7), 7);
        assert_eq!(Portion::Count(2).of(1), 2);
    }
}
