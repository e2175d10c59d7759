//! `marker`'s redis sink against a real `redis-server`: events read back the
//! way Logstash reads a list, FIFO; a repeat under the same idempotency key
//! pushes nothing; channel mode reaches a subscriber; credentials errors are
//! permanent.

use serde_json::{Value, json};

use crate::marker::{SECRETS, assert_no_secret, receiver, slipway, stderr};
use crate::redis_server::RedisServer;
use crate::sandbox::{Sandbox, events, of};
use crate::standin::{Fault, Reply};

#[test]
fn redis_events_are_read_back_as_logstash_reads_them_and_a_resume_pushes_nothing_twice() {
    let (redis, hook) = (RedisServer::start(), receiver());
    hook.fault("/deploy", Fault::Answer(Reply::new(503, "busy")));
    let sb = Sandbox::new("marker-redis-list");
    let url = format!("redis://:{{{{ secrets.REDIS }}}}@127.0.0.1:{}/2", redis.port);
    sb.write(
        "p.yaml",
        &format!(
            r#"version: 1
name: shop
{SECRETS}
stages:
  begin: {{ kind: marker, event: start, title: started, redis: {{ url: "{url}", key: deployments }} }}
  finish:
    kind: marker
    event: end
    needs: [begin]
    title: finished
    redis: {{ url: "{url}", key: deployments }}
    webhook: {{ url: "{hook}" }}
    retry: {{ attempts: 1 }}
"#,
            hook = hook.url("/deploy")
        ),
    );
    let out = slipway(&sb, &["run", "p.yaml", "--format", "json"], &redis.password);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let reason = of(&events(&out.stdout), "stage_finished", "finish")[0]["reason"].as_str().unwrap_or("").to_owned();
    assert!(reason.starts_with("webhook: ") && reason.contains("503"), "{reason}");
    assert_eq!(redis.cli(2, &["LLEN", "deployments"]).trim(), "2");

    // A new process, the same idempotency key: the guard key stops the push.
    let id = sb.run_ids()[0].clone();
    let out = slipway(&sb, &["resume", &id, "--format", "json"], &redis.password);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let logs: Vec<String> = of(&events(&out.stdout), "log", "finish").iter().map(|e| e["line"].as_str().unwrap_or("").to_owned()).collect();
    assert!(logs.iter().any(|l| l.contains("not sent again")), "{logs:?}");
    assert_eq!(hook.recorded().len(), 2);
    assert_eq!(redis.cli(2, &["LLEN", "deployments"]).trim(), "2", "the resume pushed the event again");

    let read = redis.logstash_read(2, "deployments", 125);
    let order: Vec<(&str, &str)> = read.iter().map(|e| (e["event"].as_str().unwrap(), e["stage"].as_str().unwrap())).collect();
    assert_eq!(order, vec![("start", "begin"), ("end", "finish")], "not FIFO");
    assert_eq!(redis.cli(2, &["LLEN", "deployments"]).trim(), "0", "the read takes what it read");
    let ttl: u64 = redis.cli(2, &["TTL", &format!("slipway:idempotency:{id}:finish")]).trim().parse().unwrap();
    assert!((600_000..=604_800).contains(&ttl), "guard TTL {ttl}");
    assert_eq!(redis.cli(0, &["DBSIZE"]).trim(), "0", "the database in the URL was not used");
}

#[test]
fn redis_channel_mode_delivers_to_a_subscriber() {
    let redis = RedisServer::start();
    let subscriber = redis.subscribe(0, "deploys");
    let sb = Sandbox::new("marker-redis-channel");
    sb.write(
        "p.yaml",
        &format!(
            "version: 1\nname: shop\n{SECRETS}\nstages:\n  mark: {{ kind: marker, title: hello, tags: [a], redis: {{ url: \"redis://:{{{{ secrets.REDIS }}}}@127.0.0.1:{}\", key: deploys, data_type: channel }} }}\n",
            redis.port
        ),
    );
    let out = slipway(&sb, &["run", "p.yaml", "--format", "json"], &redis.password);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let message: Value = serde_json::from_str(&subscriber.message()).expect("one JSON event per message");
    assert_eq!(
        (message["event"].as_str(), message["title"].as_str(), message["tags"].clone()),
        (Some("point"), Some("hello"), json!(["a"]))
    );
    assert_eq!(redis.cli(0, &["EXISTS", "deploys"]).trim(), "0", "channel mode made a list");
    let logs = of(&events(&out.stdout), "log", "mark").iter().map(|e| e["line"].to_string()).collect::<String>();
    assert!(logs.contains("to 1 subscriber"), "{logs}");
}

#[test]
fn a_wrong_redis_password_is_permanent_and_a_refused_connection_is_retried() {
    let redis = RedisServer::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let sb = Sandbox::new("marker-redis-auth");
    let stage = |id: &str, url: String| {
        format!("  {id}: {{ kind: marker, title: x, redis: {{ url: \"{url}\", key: k }}, retry: {{ attempts: 2, backoff: 10ms }} }}\n")
    };
    sb.write(
        "p.yaml",
        &format!(
            "version: 1\nname: shop\n{SECRETS}\nstages:\n{}{}{}",
            stage("wrong", format!("redis://:{{{{ secrets.REDIS }}}}@127.0.0.1:{}/0", redis.port)),
            stage("missing", format!("redis://127.0.0.1:{}/0", redis.port)),
            stage("down", format!("redis://127.0.0.1:{closed}/0")),
        ),
    );
    let wrong = "not-the-redis-password";
    let out = slipway(&sb, &["run", "p.yaml", "--format", "json"], wrong);
    assert_eq!(out.status.code(), Some(1));
    let evs = events(&out.stdout);
    for id in ["wrong", "missing"] {
        let fin = of(&evs, "stage_finished", id)[0];
        assert_eq!(fin["attempts"], 1, "{id}: a credentials error was retried");
        let reason = fin["reason"].as_str().unwrap();
        assert!(reason.starts_with("redis: ") && reason.contains("check the password in `url`"), "{id}: {reason}");
    }
    let down = of(&evs, "stage_finished", "down")[0];
    assert_eq!(down["attempts"], 2, "a refused connection is transient");
    assert!(down["reason"].as_str().unwrap().starts_with("redis: "), "{down}");
    assert_eq!(redis.cli(0, &["EXISTS", "k"]).trim(), "0");
    assert_no_secret(&sb, &[&out], &[wrong]);
}
