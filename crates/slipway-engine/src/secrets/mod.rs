//! Secrets: resolved before any stage runs ([`resolve`]), and masked in every
//! byte Slipway writes ([`Masker`]).
//!
//! What masking promises, for a secret of at least [`MIN_LEN`] characters:
//! - the secret as itself, percent-encoded by any encoder (each byte as itself
//!   or `%XX` in either case, a space also as `+`), or escaped as JSON or
//!   Rust's `Debug` write it (`\"`, `\/`, `\u00e9` in either case, surrogate
//!   pairs), in any mix, is masked wherever it stands in a line;
//! - its base64 (standard or URL-safe) is masked inside any longer base64, at
//!   any of the three alignments, whatever comes before and after it;
//! - a line break anywhere (an encoder wrapping at any column, output cut into
//!   lines) leaves each piece masked when it carries [`FRAGMENT`] bytes of the
//!   secret (characters of its base64) or more; a shorter piece at a line's
//!   edge shows;
//! - what a template helper makes of a secret (`upper`, `lower`, `replace`,
//!   `trim`, `truncate`, `abbrev`, `shell_quote`, chat escaping) is masked in
//!   the same ways, as are JSON numbers and booleans that read as a secret.
//!
//! The `property` module states this as a test, run briefly by `cargo test`
//! and at length by `cargo xtask fuzz`.

mod base64_forms;
mod encoded;
mod masker;
pub mod property;
mod resolve;

pub use encoded::url_encode;
pub use masker::{FRAGMENT, MASK, Masker};
pub use resolve::{MIN_LEN, SecretError, resolve};

#[cfg(test)]
mod tests;
