//! Reading a journal's events back, telling a crash's torn line from damage.
//!
//! A crash can tear the line being written, and only that one: it is the last
//! line of the file, or the resumed run's `run_started` follows it (a reopened
//! journal starts on a fresh line). Any other line that cannot be read is
//! damage: the journal was edited, truncated in the middle, or the disk lost
//! data, and `resume` must not trust what it says happened.

use std::fs::File;
use std::io::{self, BufRead};
use std::path::Path;

use crate::event::Event;

/// What reading the events file found besides the events.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReadStats {
    /// Lines that could not be read, torn ones included.
    pub unreadable: usize,
    /// The first unreadable line (1-based) that a crash cannot explain.
    pub damaged_line: Option<usize>,
}

/// Reads `dir/events.jsonl` as a stream (a run's whole output can be in it),
/// calling `f` with each event and its line number (1-based).
pub fn each_event(dir: &Path, mut f: impl FnMut(usize, Event)) -> io::Result<ReadStats> {
    let path = dir.join("events.jsonl");
    let reader = io::BufReader::new(File::open(&path).map_err(|e| super::named(&path, e))?);
    let mut stats = ReadStats::default();
    // An unreadable line waits to see what follows it.
    let mut pending: Option<usize> = None;
    for (i, line) in reader.split(b'\n').enumerate() {
        let (n, line) = (i + 1, line?);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Event>(&line) {
            Ok(event) => {
                if let Some(bad) = pending.take()
                    && !matches!(event, Event::RunStarted { resumed: true, .. })
                {
                    stats.damaged_line.get_or_insert(bad);
                }
                f(n, event);
            }
            Err(_) => {
                stats.unreadable += 1;
                if let Some(bad) = pending.replace(n) {
                    stats.damaged_line.get_or_insert(bad);
                }
            }
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(text: &str) -> ReadStats {
        let dir = std::env::temp_dir().join(format!("slipway-read-{}", crate::runid::new_run_id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("events.jsonl"), text).unwrap();
        let s = each_event(&dir, |_, _| {}).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
        s
    }

    const STARTED: &str = r#"{"event":"run_started","run_id":"r","pipeline":"p","params":{},"resumed":false,"at":1}"#;
    const RESUMED: &str = r#"{"event":"run_started","run_id":"r","pipeline":"p","params":{},"resumed":true,"at":2}"#;
    const STAGE: &str = r#"{"event":"stage_started","stage":"a","at":1}"#;

    #[test]
    fn a_torn_line_is_the_last_or_comes_before_a_resume() {
        assert_eq!(stats(&format!("{STARTED}\n{STAGE}\n{{\"event\":\"st")), ReadStats { unreadable: 1, damaged_line: None });
        assert_eq!(stats(&format!("{STARTED}\n{{\"event\":\"st\n{RESUMED}\n{STAGE}\n")), ReadStats { unreadable: 1, damaged_line: None });
    }

    #[test]
    fn any_other_unreadable_line_is_damage_named_by_its_number() {
        assert_eq!(stats(&format!("{STARTED}\n{{broken\n{STAGE}\n")).damaged_line, Some(2));
        assert_eq!(stats(&format!("{STARTED}\nx\ny\n")).damaged_line, Some(2));
        assert_eq!(stats(&format!("{STARTED}\n{STAGE}\nnot json\n{STAGE}\nz\n")).damaged_line, Some(3));
    }
}
