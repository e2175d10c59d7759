//! Destinations shared by `marker` and `notify`.

use indexmap::IndexMap;

use crate::config_struct;
use crate::decode::Key;
use crate::model::JsonTemplate;
use crate::template::Template;

config_struct! {
    /// A generic webhook: POST of a JSON body with an `Idempotency-Key` header.
    pub struct WebhookSink {
        /// The URL the JSON is POSTed to.
        pub url: Template,
        /// Extra request headers, e.g. `Authorization: "Bearer {{ secrets.TOKEN }}"`.
        #[serde(default)]
        pub headers: IndexMap<Key, Template>,
        /// Signs the body with HMAC-SHA256 in `X-Slipway-Signature-256: sha256=<hex>`.
        pub secret: Option<Template>,
        /// The JSON body (default: the event as Slipway describes it).
        pub body: Option<JsonTemplate>,
    }
}
