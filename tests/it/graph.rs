//! `slipway graph`: explicit and implicit edges, Mermaid and DOT.

use crate::support::{slipway, stdout, stem, yaml_files};

#[test]
fn graphs_of_pipelines_are_snapshotted() {
    for file in yaml_files("pipelines") {
        let name = stem(&file);
        let mermaid = slipway(&["graph", &file]);
        assert_eq!(mermaid.status.code(), Some(0));
        let dot = slipway(&["graph", "--format", "dot", &file]);
        insta::with_settings!({ snapshot_path => "../snapshots/graph", prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(format!("{name}.mermaid"), stdout(&mermaid));
            insta::assert_snapshot!(format!("{name}.dot"), stdout(&dot));
        });
    }
}

#[test]
fn implicit_edges_are_dashed_and_explicit_ones_solid() {
    let dot = stdout(&slipway(&["graph", "--format", "dot", "pipelines/opentable.yaml"]));
    // ccb_ticket reads the changelog's outputs without listing it in `needs`.
    assert!(dot.contains("\"changelog\" -> \"ccb_ticket\" [style=dashed"), "{dot}");
    assert!(dot.contains("\"ccb_ticket\" -> \"mark_start\";"), "{dot}");
}

#[test]
fn invalid_pipeline_has_no_graph() {
    let out = slipway(&["graph", "tests/fixtures/invalid/90-several-mistakes.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn a_dashed_edge_says_what_it_reads() {
    // Before: every dashed edge was labelled "outputs", even one that reads `status`.
    let dot = stdout(&slipway(&["graph", "--format", "dot", "pipelines/opentable.yaml"]));
    assert!(dot.contains("\"deploy\" -> \"announce\" [style=dashed, label=\"status\"];"), "{dot}");
    assert!(dot.contains("\"ccb_ticket\" -> \"announce\" [style=dashed, label=\"outputs.key\"];"), "{dot}");
    assert!(
        dot.contains("\"changelog\" -> \"ccb_ticket\" [style=dashed, label=\"outputs.commits, outputs.count, outputs.from, outputs.to\"];"),
        "{dot}"
    );
    let mermaid = stdout(&slipway(&["graph", "pipelines/opentable.yaml"]));
    assert!(mermaid.contains("s_deploy -.->|\"status\"| s_announce"), "{mermaid}");
    assert!(mermaid.contains("s_pinned_build -.->|\"outputs.id, outputs.revision\"| s_deploy"), "{mermaid}");
    assert!(!mermaid.contains("outputs .->") && !dot.contains("label=\"outputs\""), "no edge keeps the old generic label");
}
