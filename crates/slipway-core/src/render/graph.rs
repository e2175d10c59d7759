//! The stage graph as Mermaid or Graphviz DOT. Arrows run from a stage to the
//! stages that wait for it; dashed arrows are dependencies implied by templates.

use petgraph::visit::EdgeRef;

use crate::dag::{Dag, EdgeKind};

pub fn mermaid(dag: &Dag) -> String {
    let g = &dag.graph;
    let mut out = String::from("flowchart LR\n");
    for n in g.node_indices() {
        let node = &g[n];
        out.push_str(&format!("  {}[\"{}<br/><small>{}</small>\"]\n", mermaid_id(&node.id), node.id, node.kind.unwrap_or("?")));
    }
    for e in g.edge_references() {
        let arrow = match e.weight().kind {
            EdgeKind::Explicit => "-->",
            EdgeKind::Implicit => "-. outputs .->",
        };
        out.push_str(&format!("  {} {arrow} {}\n", mermaid_id(&g[e.target()].id), mermaid_id(&g[e.source()].id)));
    }
    out
}

pub fn dot(dag: &Dag, name: &str) -> String {
    let g = &dag.graph;
    let mut out = format!("digraph {} {{\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n", quote(name));
    for n in g.node_indices() {
        let node = &g[n];
        out.push_str(&format!("  {} [label={}];\n", quote(&node.id), quote(&format!("{}\n({})", node.id, node.kind.unwrap_or("?")))));
    }
    for e in g.edge_references() {
        let style = match e.weight().kind {
            EdgeKind::Explicit => "",
            EdgeKind::Implicit => " [style=dashed, label=\"outputs\"]",
        };
        out.push_str(&format!("  {} -> {}{style};\n", quote(&g[e.target()].id), quote(&g[e.source()].id)));
    }
    out.push_str("}\n");
    out
}

/// Mermaid ids: letters, digits and underscores only.
fn mermaid_id(id: &str) -> String {
    let safe: String = id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    format!("s_{safe}")
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}
