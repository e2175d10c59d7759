//! Capabilities: the only way runners reach the network. A read-only capability
//! refuses anything but GET and HEAD, whatever a runner asks for.

use std::sync::Once;
use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use slipway_engine::retry::parse_retry_after;
use slipway_engine::runid::now_secs;
use slipway_engine::runtime::StageError;
use slipway_engine::secrets::Masker;

/// Cheap to clone: every runner of a run shares one pair of clients.
#[derive(Clone)]
pub struct HttpCap(std::sync::Arc<Clients>);

pub struct Clients {
    /// Built on first use: loading the system's root certificates costs
    /// milliseconds that pipelines without HTTP stages should not pay. Reads
    /// follow redirects; writes do not: a 301/302 would turn a POST into a
    /// bodiless GET and report success for a write that never happened.
    reads: std::sync::OnceLock<Option<reqwest::Client>>,
    writes: std::sync::OnceLock<Option<reqwest::Client>>,
    read_only: bool,
}

static TLS: Once = Once::new();

impl HttpCap {
    pub fn new(read_only: bool) -> Self {
        HttpCap(std::sync::Arc::new(Clients { reads: std::sync::OnceLock::new(), writes: std::sync::OnceLock::new(), read_only }))
    }

    /// Whether this capability only reads (`plan --live-reads`).
    pub fn read_only(&self) -> bool {
        self.0.read_only
    }

    fn client(&self, method: &Method) -> Option<&reqwest::Client> {
        let (cell, redirects) = if is_read(method) {
            (&self.0.reads, reqwest::redirect::Policy::limited(10))
        } else {
            (&self.0.writes, reqwest::redirect::Policy::none())
        };
        cell.get_or_init(|| {
            TLS.call_once(|| {
                let _ = rustls::crypto::ring::default_provider().install_default();
            });
            reqwest::Client::builder()
                .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(10))
                .redirect(redirects)
                .build()
                .ok()
        })
        .as_ref()
    }

    /// Sends a request; HTTP errors are not errors here (see [`classify`]),
    /// connection problems are transient.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(String, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Response, StageError> {
        if self.0.read_only && !is_read(&method) {
            return Err(StageError::permanent(format!("refused {method} {url}: only GET and HEAD are allowed while planning")));
        }
        let client = self.client(&method).ok_or_else(|| StageError::permanent("the HTTP client could not be set up"))?;
        let mut req = client.request(method, url);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        req.send().await.map_err(|e| {
            let text = describe(&e);
            // A bad certificate or a redirect loop fails the same way every time.
            let tls = text.contains("certificate") || text.contains("InvalidCertificate");
            if !e.is_builder() && !tls && (e.is_connect() || e.is_timeout() || e.is_request()) {
                StageError::transient(format!("{url}: {text}"))
            } else {
                StageError::permanent(format!("{url}: {text}"))
            }
        })
    }
}

/// GET and HEAD: the methods that only read.
pub fn is_read(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD
}

/// What went wrong, said once. reqwest's outer message repeats the URL (the
/// caller names it already) and hyper's `client error (Connect)` adds nothing;
/// the causes beneath them say what happened: `tcp connect error: Connection
/// refused (os error 111)`.
fn describe(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.retain(|p| !p.starts_with("client error ("));
    let outer = match e.url() {
        Some(url) => e.to_string().replace(&format!(" for url ({url})"), ""),
        None => e.to_string(),
    };
    if outer != "error sending request" || parts.is_empty() {
        parts.insert(0, outer);
    }
    parts.join(": ")
}

/// Whether an HTTP status is success, worth retrying (408, 429, 5xx, with the
/// service's `Retry-After`) or final. The start of the body goes into the error,
/// masked before it is cut (a secret cut in half would escape the mask).
pub fn classify(status: StatusCode, retry_after: Option<&str>, expected: &[u16], body: &str, masker: &Masker) -> Result<(), StageError> {
    let ok = if expected.is_empty() { status.is_success() } else { expected.contains(&status.as_u16()) };
    if ok {
        return Ok(());
    }
    // One line, and nothing a terminal would act on (escape sequences, bells).
    let flat = masker.mask(body).split_whitespace().collect::<Vec<_>>().join(" ");
    let snippet: String = flat.chars().take(300).map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect();
    let message = format!("HTTP {status}{}", if snippet.trim().is_empty() { String::new() } else { format!(": {}", snippet.trim()) });
    if status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        let wait = retry_after.and_then(|v| parse_retry_after(v, now_secs()));
        Err(StageError::transient(message).retry_after(wait))
    } else {
        Err(StageError::permanent(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_engine::runtime::ErrorClass;

    #[test]
    fn statuses_are_classified() {
        assert!(classify(StatusCode::OK, None, &[], "", &Masker::default()).is_ok());
        assert!(classify(StatusCode::ACCEPTED, None, &[], "", &Masker::default()).is_ok());
        assert!(classify(StatusCode::OK, None, &[201], "", &Masker::default()).is_err());
        let e = classify(StatusCode::TOO_MANY_REQUESTS, Some("3"), &[], "slow down", &Masker::default()).unwrap_err();
        assert_eq!((e.class, e.retry_after), (ErrorClass::Transient, Some(Duration::from_secs(3))));
        assert_eq!(classify(StatusCode::SERVICE_UNAVAILABLE, None, &[], "", &Masker::default()).unwrap_err().class, ErrorClass::Transient);
        assert_eq!(classify(StatusCode::BAD_REQUEST, None, &[], "bad", &Masker::default()).unwrap_err().class, ErrorClass::Permanent);
        assert_eq!(classify(StatusCode::NOT_FOUND, None, &[], "", &Masker::default()).unwrap_err().class, ErrorClass::Permanent);
    }

    #[test]
    fn an_error_body_is_masked_before_it_is_cut() {
        let body = format!("{}s3cr3tV4lue42xyzQQ and more", "A".repeat(290));
        let e = classify(StatusCode::BAD_REQUEST, None, &[], &body, &Masker::new(["s3cr3tV4lue42xyzQQ"])).unwrap_err();
        assert!(!e.message.contains("s3cr3t"), "{}", e.message);
        assert!(e.message.contains("A*** and"), "{}", e.message);
    }

    #[tokio::test]
    async fn connection_errors_are_said_once_and_retried() {
        // A port nothing listens on: bind one, note it, close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/x");
        let e = HttpCap::new(false).send(Method::GET, &url, &[], None).await.unwrap_err();
        assert_eq!(e.class, ErrorClass::Transient);
        assert!(e.message.starts_with(&format!("{url}: ")), "{}", e.message);
        assert!(e.message.contains("Connection refused"), "{}", e.message);
        assert_eq!(e.message.matches(&url).count(), 1, "{}", e.message);
        assert!(!e.message.contains("client error"), "{}", e.message);
    }

    #[tokio::test]
    async fn read_only_refuses_writes() {
        let cap = HttpCap::new(true);
        let e = cap.send(Method::POST, "http://127.0.0.1:9/x", &[], None).await.unwrap_err();
        assert!(e.message.contains("refused POST"), "{}", e.message);
    }
}
