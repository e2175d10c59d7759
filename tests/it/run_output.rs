//! What a run shows and keeps of a stage's output: stdout and stderr in the
//! order written, and the journal's per-stage cap.

use crate::sandbox::{Sandbox, events, of};

/// 20 rounds of a stdout line and a stderr line written back to back, then a
/// pause long enough for Slipway to read both pipes.
const ALTERNATING: &str = r#"for i in $(seq 1 20); do echo "out $i"; echo "err $i" >&2; sleep 0.05; done"#;

fn expected(prefix: &str) -> Vec<String> {
    (1..=20).flat_map(|i| [format!("{prefix}out {i}"), format!("{prefix}err {i}")]).collect()
}

#[test]
fn stdout_and_stderr_lines_keep_the_order_they_were_written_in() {
    let sb = Sandbox::new("output-order");
    // Locally, and on a host (through the transport's child process).
    sb.write(
        "p.yaml",
        &format!(
            "version: 1\nname: order\nhosts:\n  box: [{{ name: box-1, transport: local }}]\nstages:\n  here: {{ kind: shell, run: '{ALTERNATING}' }}\n  there: {{ kind: shell, hosts: box, run: '{ALTERNATING}' }}\n"
        ),
    );
    let out = sb.run(&["run", "p.yaml", "--format", "json", "--max-parallel", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let evs = events(&out.stdout);
    let lines = |stage: &str| -> Vec<String> {
        of(&evs, "log", stage)
            .iter()
            .map(|e| e["line"].as_str().unwrap().to_owned())
            .filter(|l| l.contains(" out ") || l.contains(" err ") || l.starts_with("out ") || l.starts_with("err "))
            .collect()
    };
    assert_eq!(lines("here"), expected(""));
    assert_eq!(lines("there"), expected("[box-1] "));
    // Each line keeps its stream.
    let streams: Vec<&str> = of(&evs, "log", "here").iter().map(|e| e["stream"].as_str().unwrap()).collect();
    assert!(streams.chunks(2).all(|pair| pair == ["stdout", "stderr"]), "{streams:?}");
    // The journal holds them in the same order.
    let journal = sb.journal();
    let kept: Vec<&str> = of(&journal, "log", "here").iter().map(|e| e["line"].as_str().unwrap()).collect();
    assert_eq!(kept, expected(""));
}

#[test]
fn the_journal_keeps_8_mib_of_a_stage_s_output_and_counts_the_rest() {
    let sb = Sandbox::new("journal-cap");
    // 10,000 lines of 1,023 bytes (10 MB); then a stage whose few lines are all kept.
    sb.write(
        "p.yaml",
        "version: 1\nname: cap\nstages:\n  loud: { kind: shell, run: \"python3 -c 'for i in range(10000): print(str(i).rjust(1023, \\\"x\\\"))'\" }\n  quiet: { kind: shell, needs: [loud], run: 'echo one; echo two' }\n",
    );
    let out = sb.run(&["run", "p.yaml", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // The live output shows every line.
    let evs = events(&out.stdout);
    assert_eq!(of(&evs, "log", "loud").len(), 10_000);
    // The journal keeps the first 8 MiB (8,200 whole lines), and says what it left out, before the stage's end.
    let journal = sb.journal();
    let logs = of(&journal, "log", "loud");
    assert_eq!(logs.len(), 8_200 + 1);
    assert_eq!(logs[8_199]["line"], format!("{:x>1023}", 8199));
    let note = logs[8_200]["line"].as_str().unwrap();
    assert!(note.contains("1800 lines (1841400 bytes) not kept"), "{note}");
    let end = journal.iter().position(|e| e["event"] == "stage_finished" && e["stage"] == "loud").unwrap();
    let last = journal.iter().rposition(|e| e["event"] == "log" && e["stage"] == "loud").unwrap();
    assert!(last < end);
    // The cap is per stage.
    let quiet: Vec<&str> = of(&journal, "log", "quiet").iter().map(|e| e["line"].as_str().unwrap()).collect();
    assert_eq!(quiet, ["one", "two"]);
}
