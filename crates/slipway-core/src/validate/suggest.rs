//! Name look-ups for the checks, built once per file: membership in O(1), each
//! stage's outputs computed once, and "did you mean" remembered per distinct name
//! and bounded in total work. A file that references 40,000 unknown names must
//! not cost 40,000 scans of 40,000 candidates. It also carries what the checks
//! share as they go: the params and secrets read, and the diagnostics tally.

use std::collections::{HashMap, HashSet};

use super::Tally;
use super::names::Declared;
use super::references::{Usage, untrusted_output};
use crate::diagnostic::{MAX_SUGGESTED_NAME as MAX_NAME, did_you_mean};
use crate::model::Pipeline;

/// Edit-distance cells (name length × candidate length) one file may spend on
/// suggestions. Past it, diagnostics keep their generic help. About a tenth of a
/// second of work; ordinary files spend a few thousand.
const BUDGET_CELLS: usize = 20_000_000;

/// Bytes the template parser may scan for one file (see
/// [`crate::template::parse_cost`]): about a second. Ordinary files use a
/// thousandth of it; a template of 100 KB with 5,000 expressions uses it all.
const PARSE_BUDGET: usize = 500_000_000;

/// How many names a "declared: a, b, c" help line lists.
pub const LISTED: usize = 20;

/// The names a pipeline declares, as sets, plus a suggestion memo.
pub struct Names {
    params: HashSet<String>,
    /// Params whose `choices` keep them to values written in the file.
    chosen: HashSet<String>,
    secrets: HashSet<String>,
    roles: HashSet<String>,
    /// Each decoded stage's outputs.
    outputs: HashMap<String, Outputs>,
    memo: HashMap<(Set, String), Option<String>>,
    cells_left: usize,
    parse_left: usize,
    /// Params and secrets some template reads.
    pub usage: Usage,
    /// Diagnostics counted but no longer held.
    pub tally: Tally,
}

/// Which list a suggestion is drawn from (the memo key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Set {
    Params,
    Secrets,
    Stages,
    Roles,
    Outputs(String),
    /// A param's `choices`, by the param's name.
    Choices(String),
    /// A fixed list of Slipway's own (helpers, template roots, fields).
    Fixed(&'static [&'static str]),
}

/// The outputs one stage declares.
pub struct Outputs {
    /// In declaration order (suggestions and lists stay deterministic).
    pub names: Vec<String>,
    /// Name -> whether it carries text from outside the pipeline file (see
    /// [`super::references::untrusted_output`]).
    pub untrusted: HashMap<String, bool>,
    pub any_untrusted: bool,
}

impl Names {
    pub fn new(p: &Pipeline, declared: &Declared) -> Self {
        let set = |keys: &[crate::decode::Key]| keys.iter().map(|k| k.value.clone()).collect();
        let outputs = p
            .stages
            .iter()
            .map(|(id, stage)| {
                let decls = stage.config.spec().outputs();
                let mut untrusted: HashMap<String, bool> = HashMap::with_capacity(decls.len());
                for o in &decls {
                    // a name declared twice is as untrusted as its worst declaration
                    *untrusted.entry(o.name.clone()).or_default() |= untrusted_output(stage.kind.value, o);
                }
                let outputs = Outputs {
                    any_untrusted: untrusted.values().any(|u| *u),
                    untrusted,
                    names: decls.into_iter().map(|o| o.name).collect(),
                };
                (id.value.clone(), outputs)
            })
            .collect();
        Names {
            params: set(&declared.params),
            chosen: p.params.iter().filter(|(_, param)| !param.choices.is_empty()).map(|(k, _)| k.value.clone()).collect(),
            secrets: set(&declared.secrets),
            roles: set(&declared.roles),
            outputs,
            memo: HashMap::new(),
            cells_left: BUDGET_CELLS,
            parse_left: PARSE_BUDGET,
            usage: Usage::default(),
            tally: Tally::default(),
        }
    }

    /// Whether the file's parse budget still covers `cost`; spends it if so.
    pub fn afford_parse(&mut self, cost: usize) -> bool {
        if cost > self.parse_left {
            return false;
        }
        self.parse_left -= cost;
        true
    }

    pub fn has_param(&self, name: &str) -> bool {
        self.params.contains(name)
    }

    /// Whether a declared param may only take one of its `choices`.
    pub fn param_has_choices(&self, name: &str) -> bool {
        self.chosen.contains(name)
    }

    pub fn has_secret(&self, name: &str) -> bool {
        self.secrets.contains(name)
    }

    pub fn has_role(&self, name: &str) -> bool {
        self.roles.contains(name)
    }

    /// The outputs a decoded stage declares.
    pub fn outputs(&self, stage: &str) -> Option<&Outputs> {
        self.outputs.get(stage)
    }

    /// "did you mean `x`?" for `name` among `candidates`, remembered per set and
    /// name, and within the file's budget.
    pub fn did_you_mean<'a>(&mut self, set: Set, name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
        if name.len() > MAX_NAME {
            return None;
        }
        let key = (set, name.to_owned());
        if let Some(known) = self.memo.get(&key) {
            return known.clone();
        }
        let found = bounded(&mut self.cells_left, name, candidates);
        self.memo.insert(key, found.clone());
        found
    }

    /// [`Names::did_you_mean`] among the outputs of `stage`.
    pub fn did_you_mean_output(&mut self, stage: &str, name: &str) -> Option<String> {
        if name.len() > MAX_NAME {
            return None;
        }
        let key = (Set::Outputs(stage.to_owned()), name.to_owned());
        if let Some(known) = self.memo.get(&key) {
            return known.clone();
        }
        let candidates = self.outputs.get(stage).map(|o| o.names.as_slice()).unwrap_or_default();
        let found = bounded(&mut self.cells_left, name, candidates.iter().map(String::as_str));
        self.memo.insert(key, found.clone());
        found
    }
}

/// The suggestion among the candidates that could be typos of `name`, spending
/// at most `cells_left` (none at all once it is spent: then there is none).
fn bounded<'a>(cells_left: &mut usize, name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut plausible = Vec::new();
    for c in candidates {
        // looking at a candidate costs a cell; comparing it, its matrix
        let typo = c.len() <= MAX_NAME && could_be_typo(name, c);
        let cells = if typo { (name.len() + 1) * (c.len() + 1) } else { 1 };
        if cells > *cells_left {
            *cells_left = 0;
            return None;
        }
        *cells_left -= cells;
        if typo {
            plausible.push(c);
        }
    }
    did_you_mean(name, plausible)
}

/// A cheap necessary condition for [`crate::diagnostic::closest`] to accept `c`:
/// an edit distance within a third of the longer name is at least the difference
/// in length, unless one name starts the other.
fn could_be_typo(name: &str, c: &str) -> bool {
    let (short, long) = if name.len() <= c.len() { (name, c) } else { (c, name) };
    if short.len() >= 3 && long.as_bytes()[..short.len()].eq_ignore_ascii_case(short.as_bytes()) {
        return true;
    }
    let allowed = (long.len() / 3).max(1);
    long.chars().count() - short.chars().count().min(long.chars().count()) <= allowed
}

/// `a, b, c` for at most [`LISTED`] names, then "and N more".
pub fn list<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> String {
    let total = names.len();
    let mut text = names.take(LISTED).collect::<Vec<_>>().join(", ");
    if total > LISTED {
        text.push_str(&format!(" and {} more", total - LISTED));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefilter_keeps_every_name_closest_would_accept() {
        for (name, c) in [("deplyo", "deploy"), ("env", "environment"), ("uppercase", "upper"), ("ab", "abc"), ("Shell", "shell")] {
            assert!(could_be_typo(name, c), "{name} / {c}");
        }
        assert!(!could_be_typo("p1", "a-much-longer-name"));
    }

    #[test]
    fn lists_are_cut_after_twenty_names() {
        let names: Vec<String> = (0..25).map(|i| format!("s{i}")).collect();
        let text = list(names.iter().map(String::as_str));
        assert!(text.ends_with("s19 and 5 more"), "{text}");
    }
}
