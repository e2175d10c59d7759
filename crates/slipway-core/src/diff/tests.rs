use super::*;
use crate::check_str;

fn pair(base: &str, head: &str) -> PipelineDiff {
    let (b, h) = (check_str("base.yaml", base), check_str("head.yaml", head));
    assert!(b.is_valid() && h.is_valid(), "{:?} {:?}", b.diagnostics, h.diagnostics);
    diff((b.pipeline.as_ref().unwrap(), &b.dag), (h.pipeline.as_ref().unwrap(), &h.dag))
}

const BASE: &str = "version: 1
name: app
params: { version: { required: true }, region: { default: eu } }
secrets: { TOKEN: { env: TOKEN } }
hosts: { web: [web-1, web-2] }
stages:
  build: { kind: shell, run: make, outputs: [sha] }
  test: { kind: shell, run: make test, needs: [build] }
  ship: { kind: shell, run: 'deploy {{ stages.build.outputs.sha }}', needs: [test], hosts: web }
  old: { kind: shell, run: 'true' }
";

#[test]
fn the_same_pipeline_reformatted_is_no_change() {
    let reordered = "version: 1\nname: app\n# a comment\nparams: { region: { default: eu }, version: { required: true } }\nsecrets: { TOKEN: { env: TOKEN } }\nhosts: { web: [web-1, web-2] }\nstages:\n  old: { kind: shell, run: 'true' }\n  build: { kind: shell, outputs: [sha], run: make }\n  test: { kind: shell, run: make test, needs: [build] }\n  ship: { kind: shell, run: 'deploy {{ stages.build.outputs.sha }}', needs: [test], hosts: web }\n";
    let d = pair(BASE, reordered);
    assert!(d.is_empty(), "{d:#?}");
    assert_eq!(human(&d), "pipeline `app`: no changes\n");
}

#[test]
fn every_kind_of_change_is_named() {
    let head = BASE
        .replace("region: { default: eu }", "region: { default: us }, color: {}")
        .replace("secrets: { TOKEN: { env: TOKEN } }", "secrets: { KEY: { env: KEY } }")
        .replace("[web-1, web-2]", "[web-1, web-3]")
        .replace("  old: { kind: shell, run: 'true' }\n", "  smoke: { kind: http, url: 'https://x.test/health', needs: [ship] }\n")
        .replace("run: make test, needs: [build]", "run: make check, needs: [build], timeout: 5m")
        .replace("needs: [test], hosts: web", "needs: [build], hosts: web");
    let d = pair(BASE, &head);
    assert_eq!(
        d.stages_added.iter().map(|s| (s.id.as_str(), s.kind.as_str(), s.after.clone())).collect::<Vec<_>>(),
        [("smoke", "http", vec!["ship".to_owned()])]
    );
    assert_eq!(d.stages_removed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["old"]);
    let test = d.stages_changed.iter().find(|s| s.id == "test").unwrap();
    let fields: Vec<&str> = test.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["run", "timeout"]);
    assert_eq!(test.fields[0].before, "make test");
    assert_eq!(test.fields[1].before, Value::Null);
    // `ship` no longer needs `test`: a field change, and an edge that moved.
    assert_eq!(d.edges_removed, [EdgeRef { from: "test".into(), to: "ship".into(), implicit: false }]);
    assert!(d.edges_added.is_empty(), "build -> ship existed already (implied by the template): {:?}", d.edges_added);
    assert_eq!((d.params_added.as_slice(), d.params_removed.as_slice()), (&["color".to_owned()][..], &[][..]));
    assert_eq!(d.params_changed[0].name, "region");
    assert_eq!((d.secrets_added.as_slice(), d.secrets_removed.as_slice()), (&["KEY".to_owned()][..], &["TOKEN".to_owned()][..]));
    assert_eq!(d.hosts_changed[0].added, ["web-3"]);
    assert_eq!(d.hosts_changed[0].removed, ["web-2"]);
}

#[test]
fn nested_fields_are_named_by_path() {
    let base = "version: 1\nname: n\nstages:\n  h: { kind: http, url: 'https://a.test', retry: { attempts: 2, backoff: 1s } }\n";
    let d = pair(base, &base.replace("attempts: 2", "attempts: 3"));
    assert_eq!(d.stages_changed[0].fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(), ["retry.attempts"]);
}

#[test]
fn markdown_values_cannot_break_out_of_their_code_spans() {
    let base = "version: 1\nname: n\nstages:\n  s: { kind: shell, run: 'echo a' }\n";
    let d = pair(base, &base.replace("echo a", "echo `b` <details>"));
    let md = markdown(&d);
    assert!(md.contains("``\"echo `b` <details>\"``"), "{md}");
}

#[test]
fn a_huge_markdown_diff_is_cut_at_a_line_and_says_so() {
    let stages: String = (0..400).map(|i| format!("  s{i}: {{ kind: shell, run: 'echo {i}' }}\n")).collect();
    let base = format!("version: 1\nname: n\nstages:\n{stages}");
    let d = pair(&base, &base.replace("echo", "printf"));
    let full = markdown(&d);
    assert!(full.len() > 2_000 && !full.contains("Truncated"));
    let cut = markdown_within(&d, 2_000);
    assert!(cut.len() <= 2_000, "{}", cut.len());
    assert!(cut.ends_with("`slipway diff` prints the whole diff.\n"), "{cut}");
    let kept = cut.split("\n**Truncated**").next().unwrap();
    assert!(full.starts_with(kept) && kept.ends_with('\n'));
}
