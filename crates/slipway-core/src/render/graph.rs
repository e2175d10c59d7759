//! The stage graph as Mermaid or Graphviz DOT. Arrows run from a stage to the
//! stages that wait for it; dashed arrows are dependencies implied by templates,
//! labelled with what they read (`status`, `outputs.sha`).

use petgraph::visit::EdgeRef;

use crate::dag::{Dag, Edge, EdgeKind};

pub fn mermaid(dag: &Dag) -> String {
    let g = &dag.graph;
    let mut out = String::from("flowchart LR\n");
    for n in g.node_indices() {
        let node = &g[n];
        out.push_str(&format!("  {}[\"{}<br/><small>{}</small>\"]\n", mermaid_id(&node.id), node.id, node.kind.unwrap_or("?")));
    }
    for e in g.edge_references() {
        let arrow = match e.weight().kind {
            EdgeKind::Explicit => "-->".to_owned(),
            // `-.->|"…"|`: a dotted link whose quoted text may hold dots
            EdgeKind::Implicit => format!("-.->|\"{}\"|", label(e.weight()).replace('"', "#quot;")),
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
            EdgeKind::Explicit => String::new(),
            EdgeKind::Implicit => format!(" [style=dashed, label={}]", quote(&label(e.weight()))),
        };
        out.push_str(&format!("  {} -> {}{style};\n", quote(&g[e.target()].id), quote(&g[e.source()].id)));
    }
    out.push_str("}\n");
    out
}

/// What a dependent reads through an edge: `outputs.sha, status`, then `…` if
/// it reads more than the edge lists.
fn label(edge: &Edge) -> String {
    let mut text = edge.reads.join(", ");
    if edge.more_reads {
        text.push_str(", …");
    }
    text
}

/// Mermaid ids: letters, digits and underscores only.
fn mermaid_id(id: &str) -> String {
    let safe: String = id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    format!("s_{safe}")
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}
