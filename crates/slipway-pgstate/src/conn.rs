//! Connections and the thread they live on. Every database call runs on one
//! runtime of this crate's own: the CLI's runtime (one thread, busy polling
//! stages) then never has to poll a connection, and a call can be waited for
//! from anywhere, inside a runtime or not.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use tokio::sync::watch;
use tokio_postgres::Client;

use crate::url::StateUrl;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    // A CLI process holds one state at a time, for its whole life: the runtime lives as long.
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("slipway-pg")
            .enable_all()
            .build()
            .expect("the PostgreSQL runtime starts")
    })
}

pub(crate) fn handle() -> tokio::runtime::Handle {
    runtime().handle().clone()
}

/// Runs `fut` on the database runtime and waits for it on this thread.
pub(crate) fn call<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().expect("the PostgreSQL runtime never drops a call")
}

/// A connection; `closed` becomes true when its session ends (the server
/// restarted, the network went, `pg_terminate_backend`).
pub(crate) struct Conn {
    pub client: Arc<Client>,
    pub closed: watch::Receiver<bool>,
}

/// Opens a session (TLS when the URL asks for it). Called on the database runtime.
pub(crate) async fn connect(url: &StateUrl) -> Result<Conn, String> {
    let (tx, closed) = watch::channel(false);
    let client = if url.tls() {
        let (client, connection) = url.config.connect(tls(url)?).await.map_err(|e| describe_tls(url, &e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("state database session ended: {e}");
            }
            let _ = tx.send(true);
        });
        client
    } else {
        let (client, connection) = url.config.connect(tokio_postgres::NoTls).await.map_err(|e| describe(url, &e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("state database session ended: {e}");
            }
            let _ = tx.send(true);
        });
        client
    };
    Ok(Conn { client: Arc::new(client), closed })
}

/// rustls with the system's root certificates, or only those of the URL's
/// `sslrootcert` file (as libpq does: a team's own CA, not every public one).
fn tls(url: &StateUrl) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    let mut roots = rustls::RootCertStore::empty();
    match &url.root_cert {
        Some(path) => {
            use rustls::pki_types::{CertificateDer, pem::PemObject};
            let unreadable = |e: &dyn std::fmt::Display| format!("sslrootcert {}: {e}; name a PEM file of CA certificates", path.display());
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
                roots.add(cert.map_err(|e| unreadable(&e))?).map_err(|e| unreadable(&e))?;
            }
            if roots.is_empty() {
                return Err(unreadable(&"no certificate in it"));
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// A failed TLS connection as a message; a certificate no trusted root signed
/// says how to trust the team's CA.
fn describe_tls(url: &StateUrl, e: &tokio_postgres::Error) -> String {
    let text = describe(url, e);
    if text.contains("invalid peer certificate") && url.root_cert.is_none() {
        return format!(
            "{text}: the server's certificate is not signed by a root this machine trusts; \
             add sslrootcert=/path/to/ca.pem (the CA that signed it) to the state url"
        );
    }
    text
}

/// A database error as a message: the server's own words when it sent some
/// (`password authentication failed for user "x"`), masked.
pub(crate) fn describe(url: &StateUrl, e: &tokio_postgres::Error) -> String {
    let text = match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        }
    };
    url.scrub(&text)
}

/// Whether an error means the session is gone (rather than a refused statement).
pub(crate) fn is_connection_lost(e: &tokio_postgres::Error) -> bool {
    e.is_closed() || e.as_db_error().is_none_or(|db| db.code().code().starts_with("57P") || db.code().code().starts_with("08"))
}
