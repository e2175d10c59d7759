//! One HTTP exchange, described once: a plan shows the [`Request`], a run sends
//! the same value through [`HttpCap::exchange`], so what `plan` prints is what a
//! run sends.

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use slipway_engine::runtime::{Effect, StageEnv, StageError};
use slipway_engine::secrets::Masker;

use crate::caps::{HttpCap, classify};

/// Headers whose values are credentials: a plan shows `***` for them whatever
/// the masker knows.
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "dd-api-key", "x-api-key", "cookie", "private-token"];

/// A request a stage sends.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// The body as JSON, when it is JSON: plans print it indented.
    json: Option<Value>,
}

impl Request {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Request { method, url: url.into(), headers: Vec::new(), body: None, json: None }
    }

    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::GET, url)
    }

    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::POST, url)
    }

    pub fn put(url: impl Into<String>) -> Self {
        Self::new(Method::PUT, url)
    }

    pub fn patch(url: impl Into<String>) -> Self {
        Self::new(Method::PATCH, url)
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn headers(mut self, headers: impl IntoIterator<Item = (String, String)>) -> Self {
        self.headers.extend(headers);
        self
    }

    /// Whether a header of this name is set (names compare without case).
    pub fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    /// A JSON body, with `Content-Type: application/json` unless one is set.
    pub fn json(mut self, body: Value) -> Self {
        if !self.has_header("content-type") {
            self.headers.push(("Content-Type".into(), "application/json".into()));
        }
        self.body = Some(serde_json::to_string(&body).unwrap_or_default());
        self.json = Some(body);
        self
    }

    /// A text body, sent as given.
    pub fn text(mut self, body: String) -> Self {
        self.body = Some(body);
        self.json = None;
        self
    }

    /// The request as `plan` shows it: credentials in headers hidden, a JSON
    /// body indented.
    pub fn effect(&self) -> Effect {
        let headers = self
            .headers
            .iter()
            .map(|(k, v)| {
                let secret = CREDENTIAL_HEADERS.contains(&k.to_ascii_lowercase().as_str());
                (k.clone(), if secret { "***".to_owned() } else { v.clone() })
            })
            .collect();
        let body = match &self.json {
            Some(v) => pretty(v),
            None => self.body.clone(),
        };
        Effect::Http { method: self.method.as_str().to_owned(), url: self.url.clone(), headers, body }
    }
}

/// A JSON value as a plan shows it.
pub fn pretty(v: &Value) -> Option<String> {
    serde_json::to_string_pretty(v).ok()
}

/// What came back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    /// The URL asked, for messages.
    pub url: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Success is any 2xx; 408, 429 and 5xx are transient (with `Retry-After`);
    /// the rest is permanent. The error holds the start of the body, masked.
    pub fn check(&self, masker: &Masker) -> Result<&Self, StageError> {
        self.expect(&[], masker)
    }

    /// As [`Reply::check`], with the statuses that count as success (none: 2xx).
    pub fn expect(&self, expected: &[u16], masker: &Masker) -> Result<&Self, StageError> {
        classify(self.status, self.header("retry-after"), expected, &self.body, masker)
            .map_err(|e| StageError { message: format!("{}: {}", self.url, e.message), ..e })?;
        Ok(self)
    }

    /// The body as JSON; a body that is not JSON is a permanent error.
    pub fn json(&self) -> Result<Value, StageError> {
        serde_json::from_str(&self.body).map_err(|e| {
            let start: String = self.body.chars().take(80).filter(|c| !c.is_control()).collect();
            StageError::permanent(format!("{}: the response is not JSON ({e}): {start}", self.url))
        })
    }
}

/// The most of a response a stage keeps: it lives in memory, in the outputs and
/// in the journal.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// The response body as text (invalid UTF-8 replaced), up to [`MAX_BODY`].
pub async fn read_body(mut response: reqwest::Response, url: &str) -> Result<String, StageError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| StageError::transient(format!("reading the response of {url}: {e}")))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(StageError::permanent(format!(
                "the response of {url} is larger than {} MiB, more than a stage keeps: ask the service for less",
                MAX_BODY / (1024 * 1024)
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8(body).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

impl HttpCap {
    /// Sends `req` and reads the whole reply, stopping at once if the run is
    /// interrupted. HTTP statuses are not errors here: see [`Reply::check`].
    pub async fn exchange(&self, env: &StageEnv<'_>, req: &Request) -> Result<Reply, StageError> {
        let exchange = async {
            let response = self.send(req.method.clone(), &req.url, &req.headers, req.body.clone().map(String::into_bytes)).await?;
            let (status, headers) = (response.status(), response.headers().clone());
            let body = read_body(response, &req.url).await?;
            Ok::<_, StageError>(Reply { status, headers, body, url: req.url.clone() })
        };
        tokio::select! {
            result = exchange => result,
            () = env.interrupted() => Err(StageError::permanent("stopped: the run was interrupted")),
        }
    }
}
