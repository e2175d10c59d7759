//! The YAML front end. Everything else sees only [`Node`]: swapping the parser
//! backend touches this folder alone.

mod load;
mod node;

pub use load::{Limits, load};
pub use node::{Node, Scalar, ScalarStyle, Value};
