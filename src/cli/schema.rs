//! `slipway schema`: the JSON Schema that `schemas/pipeline.schema.json` holds.

use super::exit;

pub fn run() -> i32 {
    print!("{}", slipway_core::schema::pipeline_schema_json());
    exit::OK
}
