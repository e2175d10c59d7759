//! Typed decoding from spanned YAML that reports every problem instead of stopping
//! at the first. Config structs are declared once with [`config_struct!`], which
//! derives both the decoder and the JSON Schema from the same field list.

mod decoder;
mod portion;
mod primitives;
mod spanned;
mod values;

pub use decoder::{Decode, Decoder, Fields, field_name};
pub use portion::Portion;
pub use spanned::{Key, Spanned};
pub use values::{Bounded, DurationValue, Fraction, Multiplier, Version};

/// Declares a config struct: serde + schemars derive (doc comments become the schema's
/// descriptions), a decoder that reports unknown, missing and mistyped fields all at
/// once, and a template visitor over its fields. A field is optional when its type
/// says so (`Option`, collections, `bool`); those fields carry `#[serde(default)]`
/// so the schema agrees, which a test checks.
#[macro_export]
macro_rules! config_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name { $( $(#[$fmeta])* pub $field: $ty, )* }

        impl $name {
            pub const FIELDS: &'static [&'static str] = &[$( $crate::decode::field_name(stringify!($field)) ),*];

            /// Decodes the fields this struct owns from a mapping that may hold others too.
            pub fn decode_fields(fields: &$crate::decode::Fields<'_>, cx: &mut $crate::decode::Decoder) -> Option<Self> {
                $( let $field = fields.get::<$ty>(cx, $crate::decode::field_name(stringify!($field))); )*
                Some(Self { $( $field: $field?, )* })
            }

            #[cfg(test)]
            pub(crate) fn decoder_required_fields() -> Vec<&'static str> {
                let mut out = Vec::new();
                $( if <$ty as $crate::decode::Decode>::missing().is_none() {
                    out.push($crate::decode::field_name(stringify!($field)));
                } )*
                out
            }
        }

        impl $crate::decode::Decode for $name {
            fn expected() -> String {
                "a mapping".into()
            }

            fn decode(node: &$crate::yaml::Node, cx: &mut $crate::decode::Decoder) -> Option<Self> {
                let fields = cx.mapping(node)?;
                fields.finish(cx, Self::FIELDS, "");
                Self::decode_fields(&fields, cx)
            }
        }

        impl $crate::template::Templates for $name {
            fn each_template<'a>(&'a self, out: &mut Vec<$crate::template::TemplateField<'a>>) {
                $( $crate::template::Templates::each_template(&self.$field, out); )*
            }
        }
    };
}

/// Declares a string enum: decoded with "did you mean", serialized and described
/// in the schema as its lower-case names.
#[macro_export]
macro_rules! string_enum {
    (
        $(default $def:ident;)?
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
        pub enum $name { $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )* }

        impl $name {
            pub const NAMES: &'static [&'static str] = &[$($text),*];

            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text, )* }
            }

            pub fn from_name(name: &str) -> Option<Self> {
                match name { $( $text => Some($name::$variant), )* _ => None }
            }
        }

        impl $crate::decode::Decode for $name {
            fn expected() -> String {
                format!("one of {}", $crate::decode::Decoder::quoted_list(Self::NAMES))
            }

            fn decode(node: &$crate::yaml::Node, cx: &mut $crate::decode::Decoder) -> Option<Self> {
                let text = cx.string(node, &Self::expected())?;
                let found = Self::from_name(text);
                if found.is_none() {
                    cx.invalid_value(node, text, Self::NAMES);
                }
                found
            }

            fn missing() -> Option<Self> {
                None $( .or(Some($name::$def)) )?
            }
        }

        $( impl Default for $name {
            fn default() -> Self {
                $name::$def
            }
        } )?

        impl $crate::template::Templates for $name {
            fn each_template<'a>(&'a self, _: &mut Vec<$crate::template::TemplateField<'a>>) {}
        }
    };
}
