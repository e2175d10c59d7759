//! Slipway's core: pipeline YAML -> spanned tree -> typed model -> validation with
//! every diagnostic at once -> the stage DAG. No IO, no async.

pub mod chatops;
pub mod dag;
pub mod decode;
pub mod diagnostic;
pub mod diff;
#[doc(hidden)]
pub mod fuzz;
pub mod kinds;
pub mod model;
pub mod reference;
pub mod render;
pub mod schema;
pub mod source;
pub mod template;
pub mod validate;
pub mod yaml;

pub use diagnostic::{Code, Diagnostic, Severity};
pub use validate::{Checked, check_bytes, check_found, check_str};
