//! A measurement, not a check (ignored by default): 200 signed `/deploy`s at
//! once, each answered within Slack's 3 seconds. Run it with
//! `cargo test --release --test it chatops_load -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use crate::chatops_harness::{Served, text_of};

#[test]
#[ignore = "a measurement: run it by name"]
fn two_hundred_concurrent_signed_requests_are_each_answered_within_3s() {
    let s = std::sync::Arc::new(Served::start("chat-load", true));
    let start = Instant::now();
    let threads: Vec<_> = (0..200)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                let sent = Instant::now();
                let text = if i % 2 == 0 { "restaurant-api staging wait=1" } else { "status" };
                let (status, body) = s.slack("U024BE7LH", "C0DEPLOYS", text);
                (status, text_of(&body), sent.elapsed())
            })
        })
        .collect();
    let mut answers: Vec<(u16, String, Duration)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let wall = start.elapsed();
    answers.sort_by_key(|a| a.2);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| ms(answers[((answers.len() as f64 * q) as usize).min(answers.len() - 1)].2);
    println!(
        "200 concurrent signed requests: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms, all answered in {:.1} ms",
        at(0.5),
        at(0.95),
        ms(answers.last().unwrap().2),
        ms(wall)
    );
    let slowest = answers.last().unwrap();
    println!("slowest: {} {:?}", slowest.0, slowest.1);
    assert!(answers.iter().all(|a| a.0 == 200), "every request answered 200");
    let queued = answers.iter().filter(|a| a.1.starts_with("queued as run ")).count();
    assert_eq!(queued, 1, "one deploy runs; the others are told who holds it");
    assert!(answers.last().unwrap().2 < Duration::from_secs(3), "slowest answer: {:?}", answers.last().unwrap().2);
    s.idle();
}
