//! A generic JSON webhook (our convention, shared by `marker` and `notify`):
//! POST with an `Idempotency-Key`, and an HMAC-SHA256 signature of the exact
//! body bytes in `X-Slipway-Signature-256: sha256=<hex>` when a secret is set,
//! in the style of GitHub's `X-Hub-Signature-256`.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use slipway_core::kinds::WebhookSink;
use slipway_engine::runtime::{StageEnv, StageError};

use super::request::Request;

pub const SIGNATURE_HEADER: &str = "X-Slipway-Signature-256";

/// The request for `sink`, with `default_body` unless the sink gives a `body`.
/// In a plan the signature is described, not computed.
pub fn request(env: &StageEnv<'_>, sink: &WebhookSink, default_body: Value) -> Result<Request, StageError> {
    let body = match &sink.body {
        Some(b) => env.render_json(b)?,
        None => default_body,
    };
    let mut req = Request::post(env.render(&sink.url)?).headers(env.render_map(&sink.headers)?).json(body);
    if !req.has_header("idempotency-key") {
        req = req.header("Idempotency-Key", env.idempotency_key.clone());
    }
    if let Some(secret) = &sink.secret {
        let value = if env.dry_run {
            "sha256=<HMAC-SHA256 of the body>".to_owned()
        } else {
            signature(env.render(secret)?.as_bytes(), req.body.as_deref().unwrap_or("").as_bytes())
        };
        req = req.header(SIGNATURE_HEADER, value);
    }
    Ok(req)
}

/// `sha256=<lowercase hex of HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(7 + digest.len() * 2);
    hex.push_str("sha256=");
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn the_signature_is_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
