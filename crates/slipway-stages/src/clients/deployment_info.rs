//! A service's own report of what it runs (`/actuator/info`, `/__version__`,
//! `/deployment-info`): one GET, the revision read at a JSON pointer.

use serde_json::Value;
use slipway_engine::runtime::{StageEnv, StageError};

use super::request::Request;
use crate::caps::HttpCap;

/// The GET that reads it, with the stage's headers.
pub fn request(url: String, headers: Vec<(String, String)>) -> Request {
    Request::get(url).headers(headers)
}

/// The deployed revision the service reports.
pub async fn read(http: &HttpCap, env: &StageEnv<'_>, req: &Request, pointer: &str) -> Result<String, StageError> {
    let reply = http.exchange(env, req).await?;
    reply.check(env.masker)?;
    revision(&reply.json()?, pointer).map_err(|why| StageError::permanent(format!("{}: {why}", req.url)))
}

/// The text at `pointer`: a string, or a number (a short SHA of digits only,
/// written without quotes).
pub fn revision(json: &Value, pointer: &str) -> Result<String, String> {
    match json.pointer(pointer) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(format!("`{pointer}` holds {other}, not a revision: check `deployment_info.pointer`")),
        None => Err(format!("the response has nothing at `{pointer}`: check `deployment_info.pointer`")),
    }
}

#[cfg(test)]
mod tests {
    use super::revision;
    use serde_json::json;

    #[test]
    fn the_revision_is_read_at_the_pointer() {
        let info = json!({"git": {"commit": {"id": "abc1234"}}, "n": 1234567, "empty": "", "obj": {}});
        assert_eq!(revision(&info, "/git/commit/id").as_deref(), Ok("abc1234"));
        assert_eq!(revision(&info, "/n").as_deref(), Ok("1234567"));
        assert!(revision(&info, "/empty").unwrap_err().contains("not a revision"));
        assert!(revision(&info, "/obj").is_err());
        assert!(revision(&info, "/sha").unwrap_err().contains("nothing at `/sha`"));
    }
}
