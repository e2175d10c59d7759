//! `http`: one HTTP request, with outputs picked from the JSON response.

use indexmap::IndexMap;

use super::checks::{self, exactly_one};
use super::{CheckContext, KindSpec, OutputDecl, OutputType};
use crate::decode::{Bounded, Key, Spanned};
use crate::diagnostic::{Code, Diagnostic};
use crate::model::JsonTemplate;
use crate::template::Template;
use crate::{config_struct, string_enum};

string_enum! {
    default Get;
    /// An HTTP method.
    pub enum HttpMethod {
        /// Read (the default); `plan --live-reads` may send it.
        Get = "GET",
        /// Read the headers only; `plan --live-reads` may send it.
        Head = "HEAD",
        /// Create.
        Post = "POST",
        /// Replace.
        Put = "PUT",
        /// Change part.
        Patch = "PATCH",
        /// Remove.
        Delete = "DELETE",
    }
}

config_struct! {
    /// Sends one HTTP request.
    pub struct HttpConfig {
        /// The request URL, e.g. `https://ci.internal/api/builds/{{ params.build }}`.
        pub url: Template,
        /// `GET` (default), `HEAD`, `POST`, `PUT`, `PATCH` or `DELETE`.
        #[serde(default)]
        pub method: HttpMethod,
        /// Request headers, e.g. `Authorization: "Bearer {{ secrets.TOKEN }}"`.
        #[serde(default)]
        pub headers: IndexMap<Key, Template>,
        /// A text body.
        pub body: Option<Template>,
        /// A JSON body written as YAML (sets `Content-Type: application/json`).
        pub json: Option<Spanned<JsonTemplate>>,
        /// Statuses that count as success (default: any 2xx).
        #[serde(default)]
        pub expect_status: Vec<Bounded<100, 599>>,
        /// Outputs picked from the JSON response by JSON pointer: `{ id: /data/id }`.
        #[serde(default)]
        pub outputs: IndexMap<Key, Spanned<String>>,
    }
}

impl KindSpec for HttpConfig {
    fn outputs(&self) -> Vec<OutputDecl> {
        let mut out: Vec<OutputDecl> = self
            .outputs
            .keys()
            .map(|k| OutputDecl::new(k.value.clone(), OutputType::String, "picked from the response").untrusted())
            .collect();
        out.push(OutputDecl::new("status", OutputType::Number, "the response status"));
        out.push(OutputDecl::new("body", OutputType::String, "the response body").untrusted());
        out
    }

    fn read_only(&self) -> bool {
        matches!(self.method, HttpMethod::Get | HttpMethod::Head)
    }

    fn check(&self, cx: &mut CheckContext<'_>) {
        checks::url(cx, &self.url, &["http", "https"]);
        if self.body.is_some() || self.json.is_some() {
            exactly_one(cx, &[("body", self.body.as_ref().map(|b| b.span)), ("json", self.json.as_ref().map(|j| j.span))]);
        }
        if let (Some(body), true) = (&self.body, self.read_only()) {
            cx.push(
                Diagnostic::warning(Code::ConflictingFields, body.span, format!("a {} request with a body", self.method.as_str()))
                    .with_help("servers usually ignore it; use `method: POST` or drop the body"),
            );
        }
        for (name, pointer) in &self.outputs {
            checks::output_name(cx, name);
            checks::pointer(cx, pointer);
        }
    }
}
