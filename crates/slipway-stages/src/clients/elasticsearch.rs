//! Elasticsearch and OpenSearch: one document indexed under an id the caller
//! chooses (`PUT /{index}/_doc/{id}`). Indexing under a known id is an upsert,
//! so a retry after a lost answer replaces the document instead of adding a
//! second one: exactly once.

use base64::Engine;
use reqwest::Url;
use serde_json::Value;
use slipway_engine::runtime::StageError;
use slipway_engine::secrets::Masker;

use super::request::{Reply, Request};

/// How the client proves who it is.
pub enum Auth {
    /// `Authorization: ApiKey <base64(id:api_key)>`, the encoded key as
    /// Elasticsearch hands it out.
    ApiKey(String),
    /// `Authorization: Basic <base64(username:password)>`.
    Basic {
        username: String,
        password: String,
    },
    None,
}

/// `PUT {url}/{index}/_doc/{id}` with `document`. The index and the id are
/// path segments, percent-encoded: a `/` in a rendered index cannot reach
/// another endpoint.
pub fn index(url: &str, index: &str, id: &str, auth: &Auth, document: Value) -> Result<Request, StageError> {
    let mut u = Url::parse(url).map_err(|e| StageError::permanent(format!("`{url}` is not a URL: {e}")))?;
    u.path_segments_mut()
        .map_err(|()| StageError::permanent(format!("`{url}` cannot take a path")))?
        .pop_if_empty()
        .push(index)
        .push("_doc")
        .push(id);
    let req = Request::put(u.as_str());
    let req = match auth {
        Auth::ApiKey(key) => req.header("Authorization", format!("ApiKey {key}")),
        Auth::Basic { username, password } => {
            let pair = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            req.header("Authorization", format!("Basic {pair}"))
        }
        Auth::None => req,
    };
    Ok(req.json(document))
}

/// The document's `_id` once indexed (201 created, 200 replaced).
pub fn indexed_id(reply: &Reply, masker: &Masker) -> Result<String, StageError> {
    reply.check(masker).map_err(|e| match reply.status.as_u16() {
        401 | 403 => StageError {
            message: format!("{}: Elasticsearch refused the credentials: check `api_key`, or `username` and `password`", e.message),
            ..e
        },
        404 => StageError { message: format!("{}: check `index` (automatic index creation may be off)", e.message), ..e },
        _ => e,
    })?;
    let v = reply.json()?;
    v["_id"].as_str().map(str::to_owned).ok_or_else(|| StageError::permanent(format!("{}: the answer holds no `_id`", reply.url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_goes_under_its_id_with_credentials() {
        let basic = Auth::Basic { username: "deployer".into(), password: "pw".into() };
        let req = index("https://es.example:9200/", "deploys", "slipway.r.mark", &basic, serde_json::json!({"a": 1})).unwrap();
        assert_eq!((req.method.as_str(), req.url.as_str()), ("PUT", "https://es.example:9200/deploys/_doc/slipway.r.mark"));
        assert!(req.headers.contains(&("Authorization".into(), "Basic ZGVwbG95ZXI6cHc=".into())));
        let req = index("https://es.example/prefix", "../x", "i", &Auth::ApiKey("k".into()), Value::Null).unwrap();
        assert_eq!(req.url, "https://es.example/prefix/..%2Fx/_doc/i");
        assert!(req.headers.contains(&("Authorization".into(), "ApiKey k".into())));
    }
}
