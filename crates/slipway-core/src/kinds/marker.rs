//! `marker`: deploy events drawn on dashboards.

use super::checks::{self, at_least_one};
use super::{CheckContext, KindSpec, OutputDecl, OutputType, WebhookSink};
use crate::decode::{Bounded, Spanned};
use crate::template::Template;
use crate::{config_struct, string_enum};

string_enum! {
    default Point;
    /// Which moment of a deploy the marker records.
    pub enum MarkerEvent {
        /// A deploy begins: opens a Grafana region.
        Start = "start",
        /// A deploy ended: closes the Grafana region a `start` marker opened.
        End = "end",
        /// A single moment (the default).
        Point = "point",
    }
}

string_enum! {
    default Us1;
    /// A Datadog site.
    pub enum DatadogSite {
        /// US1 (the default).
        Us1 = "datadoghq.com",
        /// US3.
        Us3 = "us3.datadoghq.com",
        /// US5.
        Us5 = "us5.datadoghq.com",
        /// EU1.
        Eu1 = "datadoghq.eu",
        /// AP1 (Japan).
        Ap1 = "ap1.datadoghq.com",
        /// AP2 (Australia).
        Ap2 = "ap2.datadoghq.com",
        /// US1-FED (GovCloud).
        Us1Fed = "ddog-gov.com",
        /// US2-FED (GovCloud).
        Us2Fed = "us2.ddog-gov.com",
    }
}

/// Datadog's event alert types.
pub const DATADOG_ALERT_TYPES: &[&str] = &["error", "warning", "info", "success", "user_update", "recommendation", "snapshot"];

string_enum! {
    default List;
    /// How events reach Logstash's redis input.
    pub enum RedisDataType {
        /// RPUSH onto a list: buffered while Logstash is down (the default).
        List = "list",
        /// PUBLISH on a channel: dropped while nobody listens.
        Channel = "channel",
    }
}

config_struct! {
    /// Datadog Events API v1.
    pub struct DatadogSink {
        /// A Datadog API key (sent as `DD-API-KEY`); use a secret.
        pub api_key: Template,
        /// Site (default `datadoghq.com`).
        #[serde(default)]
        pub site: DatadogSite,
        /// Overrides the site's API base (for proxies and tests).
        pub api_base: Option<Template>,
        /// `error`, `warning`, `info` (default), `success`, `user_update`,
        /// `recommendation` or `snapshot`; may be a template.
        pub alert_type: Option<Template>,
        /// Groups related events (at most 100 characters).
        pub aggregation_key: Option<Template>,
    }
}

config_struct! {
    /// A Grafana annotation. A `start` marker opens a region; the `end` marker closes
    /// it when given the start marker's `grafana_annotation_id`.
    pub struct GrafanaSink {
        /// Grafana's base URL, e.g. `https://grafana.internal`.
        pub url: Template,
        /// A service-account token (sent as `Authorization: Bearer`).
        pub token: Template,
        /// Draw the annotation on this dashboard only (default: an organisation-wide annotation).
        pub dashboard_uid: Option<Template>,
        /// With `dashboard_uid`: draw it on this panel only.
        pub panel_id: Option<Bounded<0, 1000000>>,
        /// Org id for multi-org Grafana (`X-Grafana-Org-Id`).
        pub org_id: Option<Bounded<1, 1000000>>,
        /// The annotation to close (PATCH `timeEnd`), usually the start marker's output.
        pub annotation_id: Option<Template>,
    }
}

config_struct! {
    /// A document in Elasticsearch or OpenSearch, under an id derived from the run, so
    /// retries upsert instead of duplicating.
    pub struct ElasticsearchSink {
        /// The cluster's base URL, e.g. `https://es.internal:9200`.
        pub url: Template,
        /// The index the document is written to, e.g. `deploys`.
        pub index: Template,
        /// `base64(id:api_key)`, sent as `Authorization: ApiKey`.
        pub api_key: Option<Template>,
        /// With `password`: basic auth, instead of `api_key`.
        pub username: Option<Template>,
        /// With `username`: basic auth; use a secret.
        pub password: Option<Template>,
    }
}

config_struct! {
    /// An event for Logstash's redis input, as one JSON object.
    pub struct RedisSink {
        /// `redis://[:password@]host:port[/db]`.
        pub url: Template,
        /// The list or channel name Logstash reads (it has no default).
        pub key: Template,
        /// `list` (RPUSH, the default) or `channel` (PUBLISH).
        #[serde(default)]
        pub data_type: RedisDataType,
    }
}

config_struct! {
    /// Sends a deploy event to one or more destinations.
    pub struct MarkerConfig {
        /// `start`, `end` or `point` (default).
        #[serde(default)]
        pub event: MarkerEvent,
        /// The event's title, e.g. `Deploy {{ params.version }}`.
        pub title: Template,
        /// The event's body (default: empty).
        pub text: Option<Template>,
        /// Tags for the event, e.g. `service:web`, `env:{{ params.environment }}`.
        #[serde(default)]
        pub tags: Vec<Template>,
        /// Datadog Events API v1. At-least-once: Datadog takes no idempotency key, so
        /// an answer lost after the event was made can lead to a second event when the
        /// stage is retried or resumed.
        pub datadog: Option<Spanned<DatadogSink>>,
        /// A Grafana annotation (a `start` marker opens a region; the `end` marker given
        /// `annotation_id` closes it). Exactly once: the annotation is tagged
        /// `slipway.<run id>.<stage id>`, looked for before it is created.
        pub grafana: Option<Spanned<GrafanaSink>>,
        /// A document in Elasticsearch or OpenSearch. Exactly once: it is stored under the
        /// id `slipway.<run id>.<stage id>`, so a retry replaces it.
        pub elasticsearch: Option<Spanned<ElasticsearchSink>>,
        /// One JSON event for Logstash's redis input. Exactly once: one Lua script sets
        /// the key `slipway:idempotency:<run id>:<stage id>` (NX, kept 7 days) and pushes
        /// only if the key was new.
        pub redis: Option<Spanned<RedisSink>>,
        /// A JSON POST; the default body is the event (see docs/stages/marker.md).
        /// Exactly once where the receiver honours the `Idempotency-Key` header.
        pub webhook: Option<Spanned<WebhookSink>>,
    }
}

impl KindSpec for MarkerConfig {
    fn outputs(&self) -> Vec<OutputDecl> {
        vec![
            OutputDecl::new("datadog_event_id", OutputType::String, "the Datadog event id (id_str); empty without `datadog`"),
            OutputDecl::new("grafana_annotation_id", OutputType::String, "the Grafana annotation id; empty without `grafana`"),
            OutputDecl::new("elasticsearch_id", OutputType::String, "the Elasticsearch document id; empty without `elasticsearch`"),
            OutputDecl::new("timestamp", OutputType::String, "when the event happened (RFC 3339)"),
        ]
    }

    fn check(&self, cx: &mut CheckContext<'_>) {
        at_least_one(
            cx,
            &[
                ("datadog", self.datadog.is_some()),
                ("grafana", self.grafana.is_some()),
                ("elasticsearch", self.elasticsearch.is_some()),
                ("redis", self.redis.is_some()),
                ("webhook", self.webhook.is_some()),
            ],
        );
        let http = &["http", "https"];
        if let Some(g) = &self.grafana {
            checks::url(cx, &g.url, http);
        }
        if let Some(e) = &self.elasticsearch {
            checks::url(cx, &e.url, http);
        }
        if let Some(d) = &self.datadog {
            if let Some(base) = &d.api_base {
                checks::url(cx, base, http);
            }
            if let Some(t) = &d.alert_type {
                checks::one_of(cx, t, DATADOG_ALERT_TYPES);
            }
        }
        if let Some(r) = &self.redis {
            checks::url(cx, &r.url, &["redis", "rediss"]);
        }
        if let Some(w) = &self.webhook {
            checks::url(cx, &w.url, http);
        }
    }
}
