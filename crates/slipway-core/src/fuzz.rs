//! Input mutation for property tests and `cargo xtask fuzz`: structure-aware
//! mutations of real pipelines (YAML and template tokens), no dependencies.

use crate::render;
use crate::validate::check_bytes;

/// xorshift64*: small, fast, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next_u64() % n as u64) as usize }
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }
}

const TOKENS: &[&str] = &[
    "{{",
    "}}",
    "{{#if x}}",
    "{{/if}}",
    "{{#each stages.a.outputs.x}}",
    "{{/each}}",
    ": ",
    "- ",
    "\n",
    "\n  ",
    "\t",
    "&a ",
    "*a",
    "<<: ",
    "[",
    "]",
    "{",
    "}",
    "'",
    "\"",
    "!!str ",
    "!tag ",
    "---\n",
    "#",
    "|\n",
    ">-\n",
    "~",
    "null",
    "true",
    "0x",
    "1e999",
    "-1",
    "99999999999999999999",
    "stages.",
    "params.",
    "secrets.",
    "host.",
    "kind: ",
    "needs: [",
    "é",
    "\u{0}",
    "\r\n",
    "🚀",
];

/// One to four random edits of `seed`.
pub fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                out.splice(at..at, t.iter().copied());
            }
            1 if !out.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                out.drain(at.min(end)..end);
            }
            2 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = rng.byte();
            }
            3 => {
                // repeat a chunk (duplicate keys, deep nesting)
                let start = rng.below(out.len() + 1);
                let end = (start + rng.below(64)).min(out.len());
                let chunk = out[start..end].to_vec();
                out.splice(at..at, chunk);
            }
            4 => {
                // swap two lines (indentation changes)
                let mut lines: Vec<Vec<u8>> = out.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
                if lines.len() > 1 {
                    let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                    lines.swap(a, b);
                }
                out = lines.join(&b'\n');
            }
            _ => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                let end = (at + t.len()).min(out.len());
                out.splice(at..end, t.iter().copied());
            }
        }
    }
    out
}

/// Checks one input and renders every diagnostic in every format. Panics are the
/// bugs being hunted; the return value is the number of diagnostics.
pub fn check_one(input: &[u8]) -> usize {
    let checked = check_bytes("fuzz.yaml", input);
    for d in &checked.diagnostics {
        let _ = render::human(&checked.file, d, false);
        let _ = render::github(&checked.file, d);
        let _ = render::json_diagnostic(&checked.file, d);
    }
    if checked.is_valid() {
        let _ = render::mermaid(&checked.dag);
    }
    checked.diagnostics.len()
}
