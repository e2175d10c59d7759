//! [`PgState`]: the engine's [`State`] in PostgreSQL.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use slipway_engine::event::Event;
use slipway_engine::journal::{Replay, RunMeta, RunSummary};
use slipway_engine::lock::{Holder, LockError};
use slipway_engine::runtime::{BoxFuture, History};
use slipway_engine::secrets::Masker;
use slipway_engine::state::{HeldLock, JournalSink, State, Unlocked};
use tokio_postgres::Client;

use crate::conn::{self, call, describe};
use crate::journal::PgJournal;
use crate::url::StateUrl;
use crate::{lock, runs, schema};

/// Why the state database cannot be used; the message never holds the password.
#[derive(Debug)]
pub struct PgError {
    pub message: String,
    /// The schema is older than this build needs, and migrating was not allowed.
    pub needs_migration: bool,
}

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PgError {}

pub struct PgState {
    url: StateUrl,
    client: Arc<Client>,
}

impl PgState {
    /// Connects, and brings the schema up to date when `migrate` allows it.
    pub fn connect(url: &StateUrl, migrate: bool) -> Result<PgState, PgError> {
        let url = url.clone();
        let fail = |message: String| PgError { message, needs_migration: false };
        call(async move {
            let c = conn::connect(&url).await.map_err(|e| fail(format!("cannot connect to the state database {}: {e}", url.masked())))?;
            let version =
                schema::version(&c.client).await.map_err(|e| fail(format!("state database {}: {}", url.masked(), describe(&url, &e))))?;
            if version > schema::latest() {
                return Err(fail(format!(
                    "state database {} has schema version {version}, newer than this Slipway knows ({}): upgrade Slipway",
                    url.masked(),
                    schema::latest()
                )));
            }
            let mut client = Arc::into_inner(c.client).expect("a new connection has one owner");
            if version < schema::latest() {
                if !migrate {
                    return Err(PgError {
                        message: format!(
                            "state database {} has schema version {version}, this Slipway needs {}",
                            url.masked(),
                            schema::latest()
                        ),
                        needs_migration: true,
                    });
                }
                schema::migrate(&mut client).await.map_err(|e| {
                    fail(format!("cannot create the tables in the state database {}: {}", url.masked(), describe(&url, &e)))
                })?;
            }
            Ok(PgState { url, client: Arc::new(client) })
        })
    }

    /// `slipway state migrate`: the versions applied (none when up to date).
    pub fn migrate(url: &StateUrl) -> Result<Vec<i32>, PgError> {
        let url = url.clone();
        call(async move {
            let c = conn::connect(&url).await.map_err(|e| PgError { message: e, needs_migration: false })?;
            let mut client = Arc::into_inner(c.client).expect("a new connection has one owner");
            schema::migrate(&mut client).await.map_err(|e| PgError { message: describe(&url, &e), needs_migration: false })
        })
    }

    fn io(&self, e: &tokio_postgres::Error) -> io::Error {
        io::Error::other(format!("state database {}: {}", self.url.masked(), describe(&self.url, e)))
    }

    fn query<T: Send + 'static, F>(&self, f: impl FnOnce(Arc<Client>) -> F) -> io::Result<T>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>> + Send + 'static,
    {
        let fut = f(self.client.clone());
        call(fut).map_err(|e| self.io(&e))
    }

    fn journal(&self, meta: &RunMeta, masker: Masker, held: &dyn HeldLock, create: bool) -> io::Result<Box<dyn JournalSink>> {
        let fence = held.fence().ok_or_else(|| io::Error::other("a PostgreSQL journal needs a PostgreSQL lock"))?;
        let (m, f) = (meta.clone(), fence.clone());
        let recorded = if create {
            self.query(move |c| async move { runs::insert(&c, &m, &f).await })?
        } else {
            self.query(move |c| async move { runs::update(&c, &m, &f).await })?
        };
        if !recorded {
            return Err(io::Error::other(format!("the deploy lock `{}` was taken by another run", fence.lock)));
        }
        let run_id = meta.run_id.clone();
        let next = self.query(move |c| async move { runs::next_seq(&c, &run_id).await })?;
        Ok(Box::new(PgJournal::start(self.url.clone(), self.client.clone(), meta.run_id.clone(), next, fence, held.lost(), masker)))
    }
}

impl State for PgState {
    fn describe(&self) -> String {
        self.url.masked().to_owned()
    }

    fn acquire(&self, name: &str, me: &Holder, wait: Option<Duration>) -> Result<Box<dyn HeldLock>, LockError> {
        let (url, name, me) = (self.url.clone(), name.to_owned(), me.clone());
        Ok(Box::new(call(lock::acquire(url, name, me, wait))?))
    }

    fn current_holder(&self, name: &str) -> Option<Holder> {
        let name = name.to_owned();
        self.query(move |c| async move { lock::current(&c, &name).await }).ok().flatten()
    }

    fn unlock(&self, name: &str, force: bool) -> io::Result<Unlocked> {
        let name = name.to_owned();
        self.query(move |c| async move { lock::unlock(&c, &name, force).await })
    }

    fn create(&self, meta: &RunMeta, masker: Masker, lock: &dyn HeldLock) -> io::Result<Box<dyn JournalSink>> {
        self.journal(meta, masker, lock, true)
    }

    fn reopen(&self, meta: &RunMeta, masker: Masker, lock: &dyn HeldLock) -> io::Result<Box<dyn JournalSink>> {
        self.journal(meta, masker, lock, false)
    }

    fn meta(&self, run_id: &str) -> io::Result<RunMeta> {
        let id = run_id.to_owned();
        self.query(move |c| async move { runs::meta(&c, &id).await })?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no run `{run_id}` in the state database")))
    }

    fn replay(&self, run_id: &str) -> io::Result<Replay> {
        let id = run_id.to_owned();
        self.query(move |c| async move { runs::replay(&c, &id).await })
    }

    fn events(&self, run_id: &str, f: &mut dyn FnMut(Event)) -> io::Result<usize> {
        let id = run_id.to_owned();
        let (events, unreadable) = self.query(move |c| async move { runs::events(&c, &id).await })?;
        events.into_iter().for_each(f);
        Ok(unreadable)
    }

    fn list_runs(&self) -> io::Result<Vec<RunSummary>> {
        self.query(|c| async move { runs::list(&c).await })
    }

    fn history(&self, pipeline: &str, environment: Option<String>, current_run: &str) -> Box<dyn History> {
        Box::new(PgHistory { client: self.client.clone(), pipeline: pipeline.to_owned(), environment, current: current_run.to_owned() })
    }

    fn is_shared(&self) -> bool {
        true
    }
}

struct PgHistory {
    client: Arc<Client>,
    pipeline: String,
    environment: Option<String>,
    current: String,
}

impl History for PgHistory {
    fn last_succeeded<'a>(&'a self, stage: &'a str, output: &'a str) -> BoxFuture<'a, Option<serde_json::Value>> {
        let (c, p, e, cur) = (self.client.clone(), self.pipeline.clone(), self.environment.clone(), self.current.clone());
        let (stage, output) = (stage.to_owned(), output.to_owned());
        let task =
            conn::handle().spawn(async move { runs::last_succeeded(&c, &p, e.as_deref(), &cur, &stage, &output).await.ok().flatten() });
        Box::pin(async move { task.await.ok().flatten() })
    }
}
