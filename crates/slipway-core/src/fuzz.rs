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

/// One to four random edits of `seed`; now and then of a small hostile shape
/// instead (aliases, repeated keys, deep nesting: see [`HOSTILE`]).
pub fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = if rng.below(16) == 0 {
        let (_, make) = HOSTILE[rng.below(HOSTILE.len())];
        make(256 + rng.below(16 << 10)).into_bytes()
    } else {
        seed.to_vec()
    };
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(8) {
            7 => {
                // repeat a chunk many times: alias fan-out, repeated keys, size
                let start = rng.below(out.len() + 1);
                let end = (start + 1 + rng.below(32)).min(out.len());
                let chunk = out[start..end].repeat(1 + rng.below(2_000));
                out.splice(at..at, chunk);
            }
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

/// Makes a pipeline text of about the given size.
pub type Shape = fn(usize) -> String;

/// Hostile pipeline shapes of about `size` bytes, each aimed at one way a file
/// could make `validate` slow or large: the bench times them, the tests bound
/// them, and the fuzzer mutates small ones.
pub const HOSTILE: &[(&str, Shape)] = &[
    ("alias-fan-out", alias_fan_out),
    ("alias-keys", alias_keys),
    ("repeated-keys", repeated_keys),
    ("merge-keys", merge_keys),
    ("collection-keys", collection_keys),
    ("undeclared-params", undeclared_params),
    ("unknown-outputs", unknown_outputs),
    ("unknown-stages", unknown_stages),
    ("wide-needs", wide_needs),
    ("long-cycle", long_cycle),
    ("deep-nesting", deep_nesting),
    ("long-scalars", long_scalars),
    ("big-template", big_template),
];

const HEAD: &str = "version: 1\nname: hostile\n";

/// Appends `line(i)` for i = 0, 1, … while the text is shorter than `size`.
fn fill(mut text: String, size: usize, line: impl Fn(usize) -> String) -> String {
    let mut i = 0;
    while text.len() < size {
        text.push_str(&line(i));
        i += 1;
    }
    text
}

/// One large scalar, anchored, then aliased from a flow list (each alias would
/// copy it).
pub fn alias_fan_out(size: usize) -> String {
    let mut s = format!("{HEAD}x-big: &a \"{}\"\nstages:\n  s:\n    kind: shell\n    run: echo\n    env: {{ L: [", "x".repeat(size / 2));
    let aliases = size.saturating_sub(s.len()) / 4;
    s.push_str(&vec!["*a"; aliases.max(1)].join(", "));
    s.push_str("] }\n");
    s
}

/// A long key, anchored, then used as an unknown key in as many stages as the
/// alias budget allows (each would be compared with every known field for "did
/// you mean"), then ordinary stages.
pub fn alias_keys(size: usize) -> String {
    let key = (size / 3).max(1);
    let uses = (crate::yaml::Limits::default().max_alias_bytes / key).saturating_sub(1);
    let s = format!("{HEAD}x-key: &k {}\nstages:\n", "k".repeat(key));
    fill(s, size, |i| {
        if i < uses { format!("  s{i}: {{ kind: shell, run: echo, *k : 1 }}\n") } else { format!("  s{i}: {{ kind: shell, run: echo }}\n") }
    })
}

/// The same key again and again in one mapping.
pub fn repeated_keys(size: usize) -> String {
    fill(format!("{HEAD}stages:\n  s:\n    kind: shell\n"), size, |_| "    run: echo\n".into())
}

/// A large anchored mapping merged (`<<`) into another large mapping.
pub fn merge_keys(size: usize) -> String {
    let base = fill(format!("{HEAD}x-base: &b\n"), size / 2, |i| format!("  b{i}: 1\n"));
    let s = base + "stages:\n  s:\n    kind: shell\n    run: echo\n    env:\n      <<: *b\n";
    fill(s, size, |i| format!("      e{i}: x\n"))
}

/// A mapping whose keys are lists (legal YAML; each must be told apart from the
/// others).
pub fn collection_keys(size: usize) -> String {
    fill(format!("{HEAD}stages:\n  s:\n    kind: shell\n    run: echo\n    env:\n"), size, |i| format!("      ? [k{i}]\n      : x\n"))
}

/// Many declared params, and stages that each read an undeclared one.
pub fn undeclared_params(size: usize) -> String {
    let s = fill(format!("{HEAD}params:\n"), size / 10, |i| format!("  q{i}: {{ default: x }}\n")) + "stages:\n";
    fill(s, size, |i| format!("  s{i}: {{ kind: shell, run: 'echo {{{{ params.p{i} }}}}' }}\n"))
}

/// A stage with many outputs, and stages that each read one it does not have.
pub fn unknown_outputs(size: usize) -> String {
    let outputs: Vec<String> = (0..2_000).map(|i| format!("x{i}")).collect();
    let s = format!("{HEAD}stages:\n  a: {{ kind: shell, run: echo, outputs: [{}] }}\n", outputs.join(", "));
    fill(s, size, |i| format!("  s{i}: {{ kind: shell, run: 'echo {{{{ stages.a.outputs.o{i} }}}}' }}\n"))
}

/// Stages that each read a stage that does not exist.
pub fn unknown_stages(size: usize) -> String {
    fill(format!("{HEAD}stages:\n"), size, |i| format!("  s{i}: {{ kind: shell, run: 'echo {{{{ stages.t{i}.status }}}}' }}\n"))
}

/// Many stages, and one that needs them all (and one that does not exist).
pub fn wide_needs(size: usize) -> String {
    let stages = size / 42;
    let mut s = format!("{HEAD}stages:\n");
    for i in 0..stages {
        s.push_str(&format!("  s{i}: {{ kind: shell, run: echo }}\n"));
    }
    let needs: Vec<String> = (0..stages).map(|i| format!("s{i}")).collect();
    format!("{s}  z:\n    kind: shell\n    run: echo\n    needs: [{}, nope]\n", needs.join(", "))
}

/// Every stage needs the next; the last needs the first: one cycle through all.
pub fn long_cycle(size: usize) -> String {
    let n = (size / 48).max(2);
    let mut s = format!("{HEAD}stages:\n");
    for i in 0..n {
        s.push_str(&format!("  s{i}: {{ kind: shell, run: echo, needs: [s{}] }}\n", (i + 1) % n));
    }
    s
}

/// Values nested just under the depth limit, many times.
pub fn deep_nesting(size: usize) -> String {
    let value = format!("{}{}", "[".repeat(58), "]".repeat(58));
    fill(format!("{HEAD}stages:\n  s:\n    kind: shell\n    run: echo\n    env:\n"), size, |i| format!("      K{i}: {value}\n"))
}

/// One long quoted command full of escapes, and one long unknown key (explicit:
/// `? key`, as YAML allows no implicit key over 1,024 characters).
pub fn long_scalars(size: usize) -> String {
    let quoted = "a\\u00e9 ".repeat(size / 16);
    format!("{HEAD}stages:\n  s:\n    kind: shell\n    run: \"{quoted}\"\n    ? {}\n    : 1\n", "k".repeat(size / 2))
}

/// One command template that needs the Handlebars parser, with many expressions.
pub fn big_template(size: usize) -> String {
    let s = format!(
        "{HEAD}params:\n  x: {{ default: a }}\nstages:\n  s:\n    kind: shell\n    run: |\n      {{{{#if params.x}}}}ok{{{{/if}}}}\n"
    );
    fill(s, size, |i| format!("      echo {{{{ upper params.p{i} }}}}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_shapes_have_the_size_asked_for() {
        for (name, make) in HOSTILE {
            let text = make(100_000);
            assert!((95_000..=160_000).contains(&text.len()), "{name}: {} bytes", text.len());
        }
    }
}
