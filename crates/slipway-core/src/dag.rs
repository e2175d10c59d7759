//! The stage graph: an edge runs from a stage to each stage it depends on, whether
//! written in `needs` (explicit) or implied by a template reading its outputs.

use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::diagnostic::{Code, Diagnostic};
use crate::source::Span;

/// Edges of a cycle labelled in its code frame, besides the first.
const MAX_CYCLE_LABELS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// Listed in `needs`.
    Explicit,
    /// Implied by a template reading `stages.ID.…` (and not also in `needs`).
    Implicit,
}

#[derive(Debug, Clone)]
pub struct Edge {
    pub kind: EdgeKind,
    /// Where the dependency is written.
    pub span: Span,
    /// What the dependent's templates read of the stage it depends on
    /// (`status`, `outputs.sha`), sorted; at most [`MAX_READS`], so that a
    /// stage read a thousand ways costs no more.
    pub reads: Vec<String>,
    /// More was read than `reads` lists.
    pub more_reads: bool,
}

/// Distinct reads an edge lists (a graph label longer than this helps nobody).
pub const MAX_READS: usize = 6;

impl Edge {
    fn new(kind: EdgeKind, span: Span) -> Self {
        Edge { kind, span, reads: Vec::new(), more_reads: false }
    }

    fn read(&mut self, what: &str) {
        if let Err(at) = self.reads.binary_search_by(|r| r.as_str().cmp(what)) {
            if self.reads.len() < MAX_READS {
                self.reads.insert(at, what.to_owned());
            } else {
                self.more_reads = true;
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct StageNode {
    pub id: String,
    /// The kind's name, when the stage decoded.
    pub kind: Option<&'static str>,
}

#[derive(Debug, Clone, Default)]
pub struct Dag {
    pub graph: DiGraph<StageNode, Edge>,
    by_id: std::collections::HashMap<String, NodeIndex>,
    /// Each edge by its ends: `find_edge` scans a node's edges, which made a
    /// stage with 30,000 `needs` cost seconds.
    edges: std::collections::HashMap<(NodeIndex, NodeIndex), EdgeIndex>,
}

impl Dag {
    pub fn add_stage(&mut self, id: &str, kind: Option<&'static str>) -> NodeIndex {
        let n = self.graph.add_node(StageNode { id: id.to_owned(), kind });
        self.by_id.entry(id.to_owned()).or_insert(n);
        n
    }

    pub fn index(&self, id: &str) -> Option<NodeIndex> {
        self.by_id.get(id).copied()
    }

    /// Records that `from` depends on `to`. An explicit edge wins over an implicit one.
    pub fn add_dependency(&mut self, from: NodeIndex, to: NodeIndex, kind: EdgeKind, span: Span) -> EdgeIndex {
        if let Some(&e) = self.edges.get(&(from, to)) {
            if kind == EdgeKind::Explicit {
                let edge = &mut self.graph[e];
                (edge.kind, edge.span) = (kind, span);
            }
            return e;
        }
        let e = self.graph.add_edge(from, to, Edge::new(kind, span));
        self.edges.insert((from, to), e);
        e
    }

    /// Records that a template of `from` reads `what` of `to` (`status`,
    /// `outputs.sha`), which makes `from` depend on `to`.
    pub fn add_read(&mut self, from: NodeIndex, to: NodeIndex, what: &str, span: Span) {
        let e = self.add_dependency(from, to, EdgeKind::Implicit, span);
        if !what.is_empty() {
            self.graph[e].read(what);
        }
    }

    fn edge(&self, from: NodeIndex, to: NodeIndex) -> Option<EdgeIndex> {
        self.edges.get(&(from, to)).copied().or_else(|| self.graph.find_edge(from, to))
    }

    /// The stages `id` depends on directly.
    pub fn dependencies(&self, node: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        self.graph.neighbors(node)
    }

    /// One diagnostic per cycle, naming the whole path: `a -> b -> c -> a`.
    pub fn cycles(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for scc in kosaraju_scc(&self.graph) {
            // iterative: a cycle through 100,000 stages must not overflow the stack
            if scc.len() < 2 {
                continue;
            }
            let start = *scc.iter().min_by_key(|n| n.index()).expect("non-empty scc");
            let path = self.cycle_through(start, &scc);
            let names: Vec<&str> = path.iter().map(|&n| self.graph[n].id.as_str()).collect();
            let edges: Vec<&Edge> = path.windows(2).map(|w| &self.graph[self.edge(w[0], w[1]).expect("edge on cycle")]).collect();
            let mut d = Diagnostic::error(Code::DependencyCycle, edges[0].span, format!("dependency cycle: {}", names.join(" -> ")))
                .with_label(format!("`{}` depends on `{}` here", names[0], names[1]));
            // the message names the whole path; a code frame with thousands of
            // labels would take the renderer seconds, so the first few are shown
            for (i, e) in edges.iter().enumerate().skip(1).take(MAX_CYCLE_LABELS) {
                d = d.with_secondary(e.span, format!("`{}` depends on `{}`", names[i], names[i + 1]));
            }
            out.push(d.with_help("remove one of these dependencies; a stage cannot wait for itself"));
        }
        out
    }

    /// A path `start -> … -> start` inside one strongly connected component.
    fn cycle_through(&self, start: NodeIndex, scc: &[NodeIndex]) -> Vec<NodeIndex> {
        // sets, not slices: a cycle through 100,000 stages must not cost 10^10 steps
        let scc: std::collections::HashSet<NodeIndex> = scc.iter().copied().collect();
        let in_scc = |n: NodeIndex| scc.contains(&n);
        let mut stack = vec![(start, self.sorted_successors(start))];
        let mut path = vec![start];
        let mut seen = std::collections::HashSet::from([start]);
        while let Some((_, succ)) = stack.last_mut() {
            match succ.pop() {
                Some(next) if next == start => {
                    path.push(start);
                    return path;
                }
                Some(next) if in_scc(next) && seen.insert(next) => {
                    path.push(next);
                    let s = self.sorted_successors(next);
                    stack.push((next, s));
                }
                Some(_) => {}
                None => {
                    stack.pop();
                    path.pop();
                }
            }
        }
        vec![start, start]
    }

    /// Successors in reverse declaration order (popped first = declared first).
    fn sorted_successors(&self, n: NodeIndex) -> Vec<NodeIndex> {
        let mut v: Vec<NodeIndex> = self.graph.edges(n).map(|e| e.target()).collect();
        v.sort_by_key(|n| std::cmp::Reverse(n.index()));
        v
    }

    /// Stages in an order where each comes after everything it depends on.
    pub fn topological(&self) -> Option<Vec<NodeIndex>> {
        let mut order = petgraph::algo::toposort(&self.graph, None).ok()?;
        order.reverse();
        Some(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_whole_cycle() {
        let mut dag = Dag::default();
        let a = dag.add_stage("a", None);
        let b = dag.add_stage("b", None);
        let c = dag.add_stage("c", None);
        let d = dag.add_stage("d", None);
        dag.add_dependency(a, b, EdgeKind::Explicit, Span::new(1, 2));
        dag.add_dependency(b, c, EdgeKind::Implicit, Span::new(3, 4));
        dag.add_dependency(c, a, EdgeKind::Explicit, Span::new(5, 6));
        dag.add_dependency(d, a, EdgeKind::Explicit, Span::new(7, 8));
        let cycles = dag.cycles();
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].message, "dependency cycle: a -> b -> c -> a");
        assert_eq!(cycles[0].span, Some(Span::new(1, 2)));
        assert_eq!(cycles[0].secondary.len(), 2);
        assert!(dag.topological().is_none());
    }

    #[test]
    fn an_edge_remembers_what_is_read_sorted_and_bounded() {
        let mut dag = Dag::default();
        let a = dag.add_stage("a", None);
        let b = dag.add_stage("b", None);
        dag.add_read(a, b, "status", Span::new(1, 2));
        dag.add_read(a, b, "outputs.sha", Span::new(3, 4));
        dag.add_read(a, b, "status", Span::new(5, 6));
        let e = &dag.graph[dag.edge(a, b).unwrap()];
        assert_eq!(
            (e.kind, e.reads.as_slice(), e.more_reads),
            (EdgeKind::Implicit, &["outputs.sha".to_owned(), "status".to_owned()][..], false)
        );
        for i in 0..1000 {
            dag.add_read(a, b, &format!("outputs.o{i}"), Span::default());
        }
        let e = &dag.graph[dag.edge(a, b).unwrap()];
        assert_eq!(e.reads.len(), MAX_READS);
        assert!(e.more_reads);
        // `needs` makes it explicit and keeps what was read
        dag.add_dependency(a, b, EdgeKind::Explicit, Span::new(9, 9));
        let e = &dag.graph[dag.edge(a, b).unwrap()];
        assert_eq!((e.kind, e.reads.len()), (EdgeKind::Explicit, MAX_READS));
    }

    #[test]
    fn orders_dependencies_first() {
        let mut dag = Dag::default();
        let a = dag.add_stage("a", None);
        let b = dag.add_stage("b", None);
        dag.add_dependency(a, b, EdgeKind::Explicit, Span::default());
        assert_eq!(dag.topological().unwrap(), vec![b, a]);
    }
}
