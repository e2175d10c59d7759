//! The shared state in a real PostgreSQL (`postgres_server.rs`): two working
//! folders, standing for two CI runners, share nothing but the database.

use std::path::Path;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::postgres_server::{PASSWORD, PgServer};
use crate::sandbox::Sandbox;

/// A runner's checkout: its own folder (a project root), the same pipeline.
fn runner(name: &str, pipeline: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    std::fs::create_dir_all(sb.path(".git")).unwrap();
    sb.write("p.yaml", pipeline);
    sb
}

fn slipway(sb: &Sandbox, url: &str, args: &[&str]) -> Output {
    let out = sb.command(args).env("SLIPWAY_STATE_URL", url).output().expect("run slipway");
    assert_masked(&out);
    out
}

fn spawn(sb: &Sandbox, url: &str, args: &[&str]) -> Child {
    sb.command(args)
        .env("SLIPWAY_STATE_URL", url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn slipway")
}

fn finish(child: Child) -> Output {
    let out = child.wait_with_output().expect("wait for slipway");
    assert_masked(&out);
    out
}

/// The database password appears in no output.
fn assert_masked(out: &Output) {
    for text in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(text).contains(PASSWORD), "the state password leaked: {}", String::from_utf8_lossy(text));
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `slipway runs --json` from `sb`.
fn runs(sb: &Sandbox, url: &str) -> Vec<Value> {
    let out = slipway(sb, url, &["runs", "--json"]);
    String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

/// The one run `sb` sees with `status`; waits for it.
fn run_with_status(sb: &Sandbox, url: &str, status: &str) -> String {
    let mut id = String::new();
    wait_for(&format!("a run {status}"), Duration::from_secs(20), || {
        let found = runs(sb, url).into_iter().find(|r| r["status"] == status);
        id = found.map(|r| r["run_id"].as_str().unwrap_or_default().to_owned()).unwrap_or_default();
        !id.is_empty()
    });
    id
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: signalling our own child by its pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_owned).collect()
}

#[test]
fn a_second_runner_is_refused_naming_the_first_and_both_see_one_history() {
    let pg = PgServer::start();
    let url = pg.url();
    let pipeline = "version: 1\nname: shared\nstages:\n  hold: { kind: shell, run: 'sleep 2; echo held' }\n";
    let (a, b) = (runner("pg-a", pipeline), runner("pg-b", pipeline));
    let first = spawn(&a, &url, &["run", "p.yaml"]);
    let id = run_with_status(&b, &url, "running");
    let refused = slipway(&b, &url, &["run", "p.yaml"]);
    assert_eq!(refused.status.code(), Some(75), "{}", stderr(&refused));
    let e = stderr(&refused);
    assert!(e.contains("deploy lock `shared` is held by run") && e.contains(&id), "{e}");
    let listed = runs(&b, &url);
    assert!(listed[0]["last_seen"].is_string(), "a running run says when it was last seen: {listed:?}");
    let out = finish(first);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(runs(&b, &url)[0]["status"], "succeeded");
    assert!(!a.path(".slipway/runs").exists(), "the journal is in the database, not in the folder");
    // Events as events.jsonl would hold them.
    let kinds = pg.psql(&format!("SELECT string_agg(kind, ',' ORDER BY seq) FROM slipway_events WHERE run_id = '{id}'"));
    assert_eq!(kinds, "run_started,stage_started,attempt_started,command_started,log,stage_finished,run_finished");
    // Bad credentials: a clear error, and nothing runs.
    let wrong = url.replace(PASSWORD, "wrong-password");
    let bad = b.command(&["run", "p.yaml"]).env("SLIPWAY_STATE_URL", &wrong).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let e = stderr(&bad);
    assert!(e.contains("password authentication failed") && !e.contains("wrong-password") && !e.contains("held"), "{e}");
    assert_eq!(runs(&b, &url).len(), 1, "the refused runs recorded nothing");
}

#[test]
fn wait_lock_waiters_take_the_lock_in_arrival_order() {
    let pg = PgServer::start();
    let url = pg.url();
    let log = std::env::temp_dir().join(format!("slipway-it-pg-order-{}", std::process::id()));
    let pipeline = format!(
        "version: 1\nname: queue\nparams: {{ who: {{}} }}\nstages:\n  s: {{ kind: shell, run: 'echo {{{{ params.who }}}} >> {}; sleep 0.5' }}\n",
        log.display()
    );
    let (a, b) = (runner("pg-qa", &pipeline), runner("pg-qb", &pipeline));
    let holder = spawn(&a, &url, &["run", "p.yaml", "-p", "who=holder"]);
    run_with_status(&b, &url, "running");
    let mut waiters = Vec::new();
    for (i, who) in ["w1", "w2", "w3"].iter().enumerate() {
        let sb = if i % 2 == 0 { &b } else { &a };
        waiters.push(spawn(sb, &url, &["run", "p.yaml", "-p", &format!("who={who}"), "--wait-lock=30s"]));
        // Each in the queue before the next arrives.
        wait_for("the waiter queued", Duration::from_secs(10), || {
            pg.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") == (i + 1).to_string()
        });
    }
    assert!(finish(holder).status.success());
    for w in waiters {
        let out = finish(w);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(lines(&log), ["holder", "w1", "w2", "w3"]);
    let _ = std::fs::remove_file(log);
}

/// The crash pipeline: `first` appends to a log; `second` waits for a file,
/// then appends.
fn crash_pipeline(dir: &Path) -> String {
    format!(
        "version: 1\nname: crashy\nstages:\n  first: {{ kind: shell, run: 'echo first >> {log}' }}\n  second: {{ kind: shell, needs: [first], run: 'while [ ! -f {go} ]; do sleep 0.1; done; echo second >> {log}' }}\n",
        log = dir.join("log").display(),
        go = dir.join("go").display()
    )
}

#[test]
fn kill_9_frees_the_lock_and_another_folder_resumes_without_repeating_a_stage() {
    let pg = PgServer::start();
    let url = pg.url();
    let shared = Sandbox::new("pg-crash-files");
    let pipeline = crash_pipeline(&shared.dir);
    let (a, b) = (runner("pg-ca", &pipeline), runner("pg-cb", &pipeline));
    let holder = spawn(&a, &url, &["run", "p.yaml"]);
    let id = run_with_status(&b, &url, "running");
    wait_for("first done", Duration::from_secs(10), || lines(&shared.path("log")) == ["first"]);
    // `second`'s command (a loop waiting for `go`) is recorded just after it starts, in the next group commit.
    let recorded = || {
        pg.psql(&format!(
            "SELECT body::jsonb ->> 'pgid' FROM slipway_events WHERE run_id = '{id}' AND kind = 'command_started' AND body::jsonb ->> 'stage' = 'second'"
        ))
    };
    wait_for("the command's process group recorded", Duration::from_secs(10), || !recorded().is_empty());
    signal(&holder, libc::SIGKILL);
    let _ = finish(holder);
    let freed = wait_for("the lock freed", Duration::from_secs(5), || runs(&b, &url)[0]["status"] == "crashed");
    eprintln!("lock freed {freed:?} after kill -9");
    // The loop would wait for `go` forever: the run's watchdog killed its whole group with the runner.
    let pgid: i32 = recorded().parse().expect("the journal names the command's process group");
    // SAFETY: signal 0 only checks whether the group exists.
    wait_for("the killed run's commands end", Duration::from_secs(10), || unsafe { libc::kill(-pgid, 0) } != 0);
    // The first runner's checkout is gone, as a CI job's is.
    drop(a);
    shared.write("go", "");
    let out = slipway(&b, &url, &["resume", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(lines(&shared.path("log")), ["first", "second"], "the succeeded stage did not run again");
    assert_eq!(runs(&b, &url)[0]["status"], "succeeded");
    // Its report comes from the database too, from any folder: both starts' attempts are there.
    let out = slipway(&b, &url, &["report", &id, "--out", "-"]);
    let html = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(html.contains("first") && html.contains("second") && html.contains(&id), "the report lacks the run's stages");
}

#[test]
fn a_paused_holder_whose_lock_was_forced_away_records_nothing_more_and_stops() {
    let pg = PgServer::start();
    let url = pg.url();
    let shared = Sandbox::new("pg-fence-files");
    let log = shared.path("log");
    let pipeline = format!(
        "version: 1\nname: fenced\nstages:\n  one: {{ kind: shell, run: 'sleep 1' }}\n  two: {{ kind: shell, needs: [one], run: 'echo two-$(basename $PWD) >> {}' }}\n",
        log.display()
    );
    let (a, b) = (runner("pg-fa", &pipeline), runner("pg-fb", &pipeline));
    let old = spawn(&a, &url, &["run", "p.yaml"]);
    let old_id = run_with_status(&b, &url, "running");
    signal(&old, libc::SIGSTOP);
    // Without `--force`, a live holder's lock is not broken.
    let refused = slipway(&b, &url, &["unlock", "p.yaml"]);
    assert_eq!(refused.status.code(), Some(75), "{}", stderr(&refused));
    assert!(stderr(&refused).contains(&old_id) && stderr(&refused).contains("--force"), "{}", stderr(&refused));
    let forced = slipway(&b, &url, &["unlock", "p.yaml", "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(stderr(&forced).contains("terminated the database session") && stderr(&forced).contains(&old_id), "{}", stderr(&forced));
    let new = slipway(&b, &url, &["run", "p.yaml"]);
    assert!(new.status.success(), "{}", stderr(&new));
    std::thread::sleep(Duration::from_millis(1500)); // the old run's `sleep 1` has ended meanwhile
    signal(&old, libc::SIGCONT);
    let out = finish(old);
    assert!(!out.status.success(), "the old run stops");
    let e = stderr(&out);
    assert!(e.contains("lost the deploy lock") || e.contains("journal write refused"), "{e}");
    let b_name = b.dir.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(lines(&log), [format!("two-{b_name}")], "only the new run ran `two`");
    let recorded = pg.psql(&format!("SELECT count(*) FROM slipway_events WHERE run_id = '{old_id}' AND kind = 'stage_finished'"));
    assert_eq!(recorded, "0", "nothing the old run did after the takeover is recorded");
}

#[test]
fn a_run_rides_out_a_database_restart_or_stops_resumably_with_no_event_lost_or_repeated() {
    let mut pg = PgServer::start();
    let url = pg.url();
    let shared = Sandbox::new("pg-restart-files");
    let log = shared.path("log");
    let stage = |n: u32, needs: &str| format!("  s{n}: {{ kind: shell, {needs}run: 'sleep 0.7; echo s{n} >> {}' }}\n", log.display());
    let pipeline = format!(
        "version: 1\nname: restarts\nstages:\n{}{}{}{}",
        stage(1, ""),
        stage(2, "needs: [s1], "),
        stage(3, "needs: [s2], "),
        stage(4, "needs: [s3], ")
    );
    let a = runner("pg-ra", &pipeline);
    let run = spawn(&a, &url, &["run", "p.yaml", "--format", "json"]);
    wait_for("s1 done", Duration::from_secs(10), || !lines(&log).is_empty());
    pg.restart(Duration::from_millis(500));
    let out = finish(run);
    let shown: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let id = shown.iter().find_map(|e| e["run_id"].as_str()).expect("the run's id").to_owned();
    // Every event shown is in the database once, in order.
    let boundary =
        |e: &Value| ["run_started", "stage_started", "stage_finished", "run_finished"].contains(&e["event"].as_str().unwrap_or(""));
    let shown: Vec<String> = shown
        .iter()
        .filter(|e| boundary(e))
        .map(|e| format!("{}:{}", e["event"].as_str().unwrap(), e["stage"].as_str().unwrap_or("")))
        .collect();
    let stored = pg.psql(&format!(
        "SELECT string_agg(kind || ':' || coalesce(body::jsonb ->> 'stage', ''), ',' ORDER BY seq) FROM slipway_events
         WHERE run_id = '{id}' AND kind IN ('run_started', 'stage_started', 'stage_finished', 'run_finished')"
    ));
    assert_eq!(stored, shown.join(","), "{}", stderr(&out));
    let numbers = pg.psql(&format!("SELECT count(*) = max(seq) FROM slipway_events WHERE run_id = '{id}'"));
    assert_eq!(numbers, "t", "event numbers have no gap");
    eprintln!("restart: the run {} ({})", if out.status.success() { "rode it out" } else { "stopped" }, stderr(&out).trim());
    if !out.status.success() {
        let resumed = slipway(&a, &url, &["resume", &id]);
        assert!(resumed.status.success(), "{}", stderr(&resumed));
    }
    assert_eq!(lines(&log), ["s1", "s2", "s3", "s4"], "every stage ran once");
}

#[test]
fn state_migrate_creates_the_versioned_tables_once_and_a_bad_url_runs_nothing() {
    let pg = PgServer::start();
    let url = pg.url();
    let a = runner("pg-ma", "version: 1\nname: m\nstages:\n  s: { kind: shell, run: 'touch ran' }\n");
    let first = slipway(&a, &url, &["state", "migrate"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stderr(&first).contains("applied schema version(s) 1") && stderr(&first).contains("slipway:***@"), "{}", stderr(&first));
    let again = slipway(&a, &url, &["state", "migrate"]);
    assert!(stderr(&again).contains("is up to date"), "{}", stderr(&again));
    assert_eq!(pg.psql("SELECT string_agg(version::text, ',') FROM slipway_schema"), "1");
    // Not a PostgreSQL URL, or one whose password is wrong: named, masked, and nothing runs.
    for bad in ["mysql://u:hunter22@127.0.0.1/db".to_owned(), url.replace(PASSWORD, "hunter22")] {
        let out = a.command(&["run", "p.yaml", "--format", "json", "--state-url", &bad]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(text.contains("state-unavailable") && !text.contains("hunter22"), "{text}");
        assert!(!a.path("ran").exists());
    }
}

#[test]
fn a_changelog_on_one_runner_starts_where_the_last_good_run_on_another_ended() {
    let pg = PgServer::start();
    let url = pg.url();
    let shared = Sandbox::new("pg-changelog-repo");
    let repo = shared.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| crate::support::git(&repo, args);
    git(&["init", "-q", "--initial-branch=main"]);
    let shas: Vec<String> = (0..5)
        .map(|i| {
            git(&["commit", "-q", "--allow-empty", "-m", &format!("change {i}")]);
            git(&["rev-parse", "HEAD"])
        })
        .collect();
    let pipeline = |fields: String| {
        format!(
            "version: 1\nname: web\nparams:\n  environment: {{ default: prod }}\nstages:\n  changes:\n    kind: changelog\n{fields}    git: {{ path: {} }}\n",
            repo.display()
        )
    };
    let a = runner("pg-cla", &pipeline(format!("    from: {}\n    to: {}\n", shas[0], shas[2])));
    let first = slipway(&a, &url, &["run", "p.yaml"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let b = runner("pg-clb", &pipeline("    to: main\n".to_owned()));
    let out = slipway(&b, &url, &["run", "p.yaml", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let evs: Vec<Value> = String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let done = evs.iter().find(|e| e["event"] == "stage_finished").expect("the stage finished");
    assert_eq!(done["outputs"]["from"].as_str(), Some(&*shas[2]), "the other runner's last good run ended there");
    assert_eq!(done["outputs"]["from_source"], "journal");
}

#[test]
fn a_waiter_gives_up_after_its_wait_lock_naming_the_holder() {
    let pg = PgServer::start();
    let url = pg.url();
    let pipeline = "version: 1\nname: slow\nstages:\n  s: { kind: shell, run: 'sleep 3' }\n";
    let (a, b) = (runner("pg-ta", pipeline), runner("pg-tb", pipeline));
    let holder = spawn(&a, &url, &["run", "p.yaml"]);
    let id = run_with_status(&b, &url, "running");
    let started = Instant::now();
    let out = slipway(&b, &url, &["run", "p.yaml", "--wait-lock=1s"]);
    assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_millis(2500), "it gave up on time: {:?}", started.elapsed());
    assert!(stderr(&out).contains("gave up waiting") && stderr(&out).contains(&id), "{}", stderr(&out));
    assert!(finish(holder).status.success());
}

#[test]
fn tls_trusts_the_teams_own_ca_with_sslrootcert_and_refuses_an_unknown_one_clearly() {
    let pg = PgServer::start_tls();
    let a = runner("pg-tls", "version: 1\nname: tls\nstages:\n  s: { kind: shell, run: 'touch ran' }\n");
    // The server takes TLS only: a URL without sslmode is turned away, so the run below went over TLS.
    let plain = slipway(&a, &pg.url(), &["run", "p.yaml"]);
    assert_eq!(plain.status.code(), Some(2), "{}", stderr(&plain));
    assert!(!a.path("ran").exists());
    // sslmode=require alone trusts the system's roots, which never signed this certificate.
    let require = format!("{}?sslmode=require", pg.url());
    let refused = slipway(&a, &require, &["run", "p.yaml"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let e = stderr(&refused);
    assert!(e.contains("invalid peer certificate") && e.contains("add sslrootcert=/path/to/ca.pem"), "{e}");
    assert!(!a.path("ran").exists(), "nothing runs when the state database is refused");
    // Trusting the team's CA, which signed the server's certificate: the run goes through.
    let trusted = format!("{require}&sslrootcert={}", pg.ca_cert().display());
    let out = slipway(&a, &trusted, &["run", "p.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(a.path("ran").exists());
    assert_eq!(pg.psql("SELECT count(*) FROM slipway_events WHERE kind = 'run_finished'"), "1");
    // A CA file that is not there is named, with what to put there.
    let missing = slipway(&a, &format!("{require}&sslrootcert=/nonexistent/ca.pem"), &["runs"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("sslrootcert /nonexistent/ca.pem") && stderr(&missing).contains("PEM file"), "{}", stderr(&missing));
}
