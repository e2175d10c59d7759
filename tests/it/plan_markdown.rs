//! `slipway plan --format markdown`: snapshots of every pipeline's comment (and
//! of a stage of every kind), the
//! reverb comment read back by a real Markdown renderer (pulldown-cmark), and
//! the comment limit.

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};

use crate::sandbox::Sandbox;
use crate::server::{Reply, TestServer};
use crate::support::{root, slipway, stdout, stem, yaml_files};

const REVISION: &str = "0123456789abcdef0123456789abcdef01234567";

fn markdown_plan(file: &str) -> String {
    let mut args = vec!["plan", "--format", "markdown", file];
    if file.ends_with("reverb.yaml") {
        args.extend(["--param", "revision=0123456789abcdef0123456789abcdef01234567"]);
    }
    if file.ends_with("every-kind.yaml") {
        args.extend(["--param", "revision=v1.2.3"]);
    }
    let out = slipway(&args);
    assert_eq!(out.status.code(), Some(0), "{file}: {}", String::from_utf8_lossy(&out.stderr));
    stdout(&out).replace(&root().display().to_string(), "[ROOT]")
}

#[test]
fn markdown_plans_of_pipelines_are_snapshotted() {
    // Every pipeline, and the fixture with one stage of every kind.
    for file in yaml_files("pipelines").into_iter().chain(["tests/fixtures/valid/every-kind.yaml".to_owned()]) {
        let text = markdown_plan(&file);
        insta::with_settings!({ snapshot_path => "../snapshots/plan", prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(format!("{}.markdown", stem(&file)), text);
        });
    }
}

#[test]
fn the_reverb_comment_renders_to_well_formed_html() {
    let text = markdown_plan("pipelines/reverb.yaml");
    assert!(text.contains(REVISION));
    // The Mermaid block: one code block of language `mermaid` holding exactly
    // the graph `slipway graph` prints.
    let graph = stdout(&slipway(&["graph", "pipelines/reverb.yaml"]));
    let mut mermaid_blocks = Vec::new();
    let mut in_mermaid: Option<String> = None;
    for event in Parser::new(&text) {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(lang))) if &*lang == "mermaid" => in_mermaid = Some(String::new()),
            Event::Text(t) => {
                if let Some(block) = in_mermaid.as_mut() {
                    block.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => mermaid_blocks.extend(in_mermaid.take()),
            _ => {}
        }
    }
    assert_eq!(mermaid_blocks, std::slice::from_ref(&graph));
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, Parser::new(&text));
    let escaped = graph.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    assert!(html.contains(&format!("<pre><code class=\"language-mermaid\">{escaped}</code></pre>")), "{html}");
    assert_eq!(html.matches("language-mermaid").count(), 1);
    // Folded effects: every <details> closes, each with one summary, none nested.
    let opens = html.matches("<details>").count();
    assert!(opens >= 3, "reverb's long requests are folded: {html}");
    assert_eq!(html.matches("</details>").count(), opens);
    assert_eq!(html.matches("<summary>").count(), opens);
    assert_eq!(html.matches("</summary>").count(), opens);
    let mut depth = 0i32;
    for piece in html.split("<details>").skip(1) {
        depth += 1;
        depth -= piece.matches("</details>").count() as i32;
        assert_eq!(depth, 0, "a <details> holds another, or never closes: {piece}");
        // The folded request is a code block inside its <details>, after the summary.
        let inside = piece.split("</details>").next().unwrap_or_default();
        assert!(inside.contains("</summary>") && inside.contains("<pre><code"), "{inside}");
    }
    // A secret never shows: the Datadog key header is masked.
    assert!(html.contains("DD-API-KEY: ***"), "{html}");
}

#[test]
fn a_large_plan_stays_under_the_comment_limit_and_says_it_was_cut() {
    let sb = Sandbox::new("plan-markdown-large");
    let mut yaml = String::from("version: 1\nname: big\nstages:\n");
    let long = "x".repeat(200);
    for i in 0..600 {
        yaml.push_str(&format!("  s{i}: {{ kind: shell, run: 'echo {long} {i}' }}\n"));
    }
    sb.write("big.yaml", &yaml);
    let out = sb.run(&["plan", "--format", "markdown", "big.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert!(text.chars().count() <= 65_536, "{} characters", text.chars().count());
    assert!(text.chars().count() > 60_000, "the comment uses the room it has");
    assert!(text.contains("**Truncated:**") && text.contains("of 600 stages are not shown"), "{}", &text[text.len() - 300..]);
    // It stops at a whole stage: the last one shown ends its code block.
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, Parser::new(&text));
    assert_eq!(html.matches("<pre><code").count(), html.matches("</code></pre>").count());
}

#[test]
fn a_small_plan_is_not_cut() {
    let text = markdown_plan("pipelines/local-demo.yaml");
    assert!(!text.contains("Truncated"));
}

#[test]
fn live_reads_show_what_was_read_and_the_secrets_stay_masked() {
    let server = TestServer::start(vec![Reply::new(200, "{\"v\": \"live-value\"}")]);
    let sb = Sandbox::new("plan-markdown-live");
    let yaml = format!(
        "version: 1\nname: l\nsecrets: {{ TOKEN: {{ env: PLAN_MD_TOKEN }} }}\nstages:\n  read: {{ kind: http, url: '{}', headers: {{ Authorization: 'Bearer {{{{ secrets.TOKEN }}}}' }}, outputs: {{ v: /v }} }}\n  write: {{ kind: http, method: POST, url: '{}', body: '{{{{ stages.read.outputs.v }}}}' }}\n",
        server.url("/read"),
        server.url("/write")
    );
    sb.write("p.yaml", &yaml);
    let out = sb
        .command(&["plan", "--live-reads", "--format", "markdown", "p.yaml"])
        .env("PLAN_MD_TOKEN", "s3cr3t-token-value")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert!(text.contains("- read live\n") && text.contains("- read `v` = `live-value`"), "{text}");
    assert!(text.contains("\nlive-value\n"), "the read value flows into the planned POST: {text}");
    assert!(!text.contains("s3cr3t-token-value") && text.contains("Authorization: ***"), "{text}");
    let sent = server.recorded();
    assert_eq!(sent.len(), 1, "only the read was sent");
    assert!(sent[0].headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("authorization") && v == "Bearer s3cr3t-token-value"));
}
