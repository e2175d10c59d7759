//! What a change does to a pipeline: stages added, removed and changed (with
//! the fields that changed), dependency edges that moved, params, secrets and
//! host roles added, removed or changed. It compares two decoded pipelines, not
//! two texts: reordering keys, comments and anchors change nothing here.
//!
//! Fields are compared as the pipeline serializes (the same form the schema
//! and the resume fingerprints use), so a new field of a kind is compared
//! without any change in this module.

mod render;

use std::collections::BTreeSet;

use petgraph::visit::EdgeRef as _;
use serde::Serialize;
use serde_json::Value;

use crate::dag::{Dag, EdgeKind};
use crate::model::Pipeline;

pub use render::{human, markdown, markdown_within};

/// Everything that differs between `base` and `head`, each list sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PipelineDiff {
    pub base_name: String,
    pub head_name: String,
    /// Pipeline-wide fields (`name`, `description`, `defaults`, `ssh`) that changed.
    pub pipeline: Vec<FieldChange>,
    pub stages_added: Vec<StageRef>,
    pub stages_removed: Vec<StageRef>,
    pub stages_changed: Vec<StageChange>,
    /// Edges between stages both versions have (an added stage's edges are its `after`).
    pub edges_added: Vec<EdgeRef>,
    pub edges_removed: Vec<EdgeRef>,
    pub params_added: Vec<String>,
    pub params_removed: Vec<String>,
    pub params_changed: Vec<NamedChange>,
    pub secrets_added: Vec<String>,
    pub secrets_removed: Vec<String>,
    pub secrets_changed: Vec<NamedChange>,
    pub hosts_changed: Vec<RoleChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageRef {
    pub id: String,
    pub kind: String,
    /// The stages it depends on (explicitly or through a template), sorted.
    pub after: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageChange {
    pub id: String,
    pub kind: String,
    pub fields: Vec<FieldChange>,
}

/// A field, as a dotted path (`datadog.api_key`), and its value before and
/// after (`null` when it was not set).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Value,
    pub after: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedChange {
    pub name: String,
    pub fields: Vec<FieldChange>,
}

/// `to` waits for `from`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct EdgeRef {
    pub from: String,
    pub to: String,
    /// Implied by a template reading `stages.FROM.…` rather than written in `needs`.
    pub implicit: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoleChange {
    pub role: String,
    /// Host names added to the role (all of them for a new role).
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Hosts in both whose details (address, user, port, transport) changed.
    pub changed: Vec<String>,
}

impl PipelineDiff {
    /// Nothing differs that a run would notice.
    pub fn is_empty(&self) -> bool {
        self.pipeline.is_empty()
            && self.stages_added.is_empty()
            && self.stages_removed.is_empty()
            && self.stages_changed.is_empty()
            && self.edges_added.is_empty()
            && self.edges_removed.is_empty()
            && self.params_added.is_empty()
            && self.params_removed.is_empty()
            && self.params_changed.is_empty()
            && self.secrets_added.is_empty()
            && self.secrets_removed.is_empty()
            && self.secrets_changed.is_empty()
            && self.hosts_changed.is_empty()
    }
}

/// Compares two valid pipelines and their graphs.
pub fn diff(base: (&Pipeline, &Dag), head: (&Pipeline, &Dag)) -> PipelineDiff {
    let ((b, bdag), (h, hdag)) = (base, head);
    let mut out = PipelineDiff { base_name: b.name.value.clone(), head_name: h.name.value.clone(), ..PipelineDiff::default() };
    for field in ["name", "description", "defaults", "ssh"] {
        let (before, after) = (top_field(b, field), top_field(h, field));
        fields(field, &before, &after, &mut out.pipeline);
    }
    let stage_ids = |p: &Pipeline| p.stages.keys().map(|k| k.value.clone()).collect::<BTreeSet<_>>();
    let (bids, hids) = (stage_ids(b), stage_ids(h));
    let stage_ref = |p: &Pipeline, dag: &Dag, id: &str| StageRef {
        id: id.to_owned(),
        kind: p.stage(id).map(|s| s.kind.as_str().to_owned()).unwrap_or_default(),
        after: edges(dag).into_iter().filter(|e| e.to == id).map(|e| e.from).collect(),
    };
    out.stages_added = hids.difference(&bids).map(|id| stage_ref(h, hdag, id)).collect();
    out.stages_removed = bids.difference(&hids).map(|id| stage_ref(b, bdag, id)).collect();
    for id in bids.intersection(&hids) {
        let (Some(bs), Some(hs)) = (b.stage(id), h.stage(id)) else { continue };
        let mut changed = Vec::new();
        fields("", &to_json(bs), &to_json(hs), &mut changed);
        if !changed.is_empty() {
            out.stages_changed.push(StageChange { id: id.clone(), kind: hs.kind.as_str().to_owned(), fields: changed });
        }
    }
    let in_both = |e: &EdgeRef| bids.contains(&e.from) && bids.contains(&e.to) && hids.contains(&e.from) && hids.contains(&e.to);
    let key = |e: &EdgeRef| (e.from.clone(), e.to.clone());
    let (bedges, hedges) = (edges(bdag), edges(hdag));
    let bkeys: BTreeSet<_> = bedges.iter().map(key).collect();
    let hkeys: BTreeSet<_> = hedges.iter().map(key).collect();
    out.edges_added = hedges.iter().filter(|e| in_both(e) && !bkeys.contains(&key(e))).cloned().collect();
    out.edges_removed = bedges.iter().filter(|e| in_both(e) && !hkeys.contains(&key(e))).cloned().collect();
    (out.params_added, out.params_removed, out.params_changed) = named(&to_json(&b.params), &to_json(&h.params));
    (out.secrets_added, out.secrets_removed, out.secrets_changed) = named(&to_json(&b.secrets), &to_json(&h.secrets));
    out.hosts_changed = roles(b, h);
    out
}

/// A pipeline-wide field as JSON (`null` when unset).
fn top_field(p: &Pipeline, field: &str) -> Value {
    to_json(p).get(field).cloned().unwrap_or(Value::Null)
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Every edge of the graph, sorted.
fn edges(dag: &Dag) -> Vec<EdgeRef> {
    let g = &dag.graph;
    let mut out: Vec<EdgeRef> = g
        .edge_references()
        .map(|e| EdgeRef { from: g[e.target()].id.clone(), to: g[e.source()].id.clone(), implicit: e.weight().kind == EdgeKind::Implicit })
        .collect();
    out.sort();
    out
}

/// The leaves that differ between two values, as dotted paths under `path`.
/// Objects are compared key by key; anything else (lists included) as a whole.
fn fields(path: &str, before: &Value, after: &Value, out: &mut Vec<FieldChange>) {
    if before == after {
        return;
    }
    if let (Value::Object(b), Value::Object(a)) = (before, after) {
        let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
        for k in keys {
            let sub = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            fields(&sub, b.get(k).unwrap_or(&Value::Null), a.get(k).unwrap_or(&Value::Null), out);
        }
        return;
    }
    out.push(FieldChange { field: path.to_owned(), before: before.clone(), after: after.clone() });
}

/// Names added, removed, and changed (with their fields) between two JSON maps.
fn named(before: &Value, after: &Value) -> (Vec<String>, Vec<String>, Vec<NamedChange>) {
    let empty = serde_json::Map::new();
    let (b, a) = (before.as_object().unwrap_or(&empty), after.as_object().unwrap_or(&empty));
    let mut added: Vec<String> = a.keys().filter(|k| !b.contains_key(*k)).cloned().collect();
    let mut removed: Vec<String> = b.keys().filter(|k| !a.contains_key(*k)).cloned().collect();
    let mut changed: Vec<NamedChange> = Vec::new();
    for (k, bv) in b {
        if let Some(av) = a.get(k) {
            let mut f = Vec::new();
            fields("", bv, av, &mut f);
            if !f.is_empty() {
                changed.push(NamedChange { name: k.clone(), fields: f });
            }
        }
    }
    added.sort();
    removed.sort();
    changed.sort_by(|x, y| x.name.cmp(&y.name));
    (added, removed, changed)
}

/// Host roles whose hosts changed.
fn roles(b: &Pipeline, h: &Pipeline) -> Vec<RoleChange> {
    let hosts = |p: &Pipeline, role: &str| -> Vec<(String, Value)> {
        p.hosts.get(role).into_iter().flatten().map(|e| (e.name().value.clone(), to_json(e))).collect()
    };
    let names: BTreeSet<String> = b.hosts.keys().chain(h.hosts.keys()).map(|k| k.value.clone()).collect();
    let mut out = Vec::new();
    for role in names {
        let (before, after) = (hosts(b, &role), hosts(h, &role));
        let find = |list: &[(String, Value)], n: &str| list.iter().find(|(m, _)| m == n).map(|(_, v)| v.clone());
        let added: Vec<String> = after.iter().filter(|(n, _)| find(&before, n).is_none()).map(|(n, _)| n.clone()).collect();
        let removed: Vec<String> = before.iter().filter(|(n, _)| find(&after, n).is_none()).map(|(n, _)| n.clone()).collect();
        let changed: Vec<String> =
            after.iter().filter(|(n, v)| find(&before, n).is_some_and(|old| old != *v)).map(|(n, _)| n.clone()).collect();
        if !(added.is_empty() && removed.is_empty() && changed.is_empty()) {
            out.push(RoleChange { role, added, removed, changed });
        }
    }
    out
}

#[cfg(test)]
mod tests;
