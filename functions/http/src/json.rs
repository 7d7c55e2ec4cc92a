//! A JSON body extractor whose rejections use the API's error format and status codes:
//! unreadable JSON 400, a body over the limit 413, well-formed JSON of the wrong shape 422.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// `Json<T>` with API-formatted rejections.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(reject(&rejection)),
        }
    }
}

fn reject(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            describe_data_error(&e.body_text()),
        ),
        JsonRejection::JsonSyntaxError(_) => ApiError::bad_request("the request body is not valid JSON"),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::bad_request("expected a JSON body with `Content-Type: application/json`")
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is too large",
        ),
        _ => ApiError::bad_request("the request body could not be read"),
    }
}

/// serde's data errors name the field and may quote the offending value; keep the field part
/// only, so a secret sent in the wrong place never comes back in an error.
fn describe_data_error(text: &str) -> String {
    let detail = text
        .strip_prefix("Failed to deserialize the JSON body into the target type: ")
        .unwrap_or(text);
    let (path, reason) = detail.split_once(": ").unwrap_or(("", detail));
    let reason = if reason.starts_with("unknown field") || reason.starts_with("missing field") {
        reason.split(", expected").next().unwrap_or(reason).to_owned()
    } else if reason.starts_with("unknown variant") {
        let variant_list = reason.split_once(", expected ").map_or("", |(_, list)| list);
        format!(
            "unknown value, expected {}",
            variant_list.split(" at line").next().unwrap_or(variant_list)
        )
    } else {
        "wrong type or value".to_owned()
    };
    let reason = reason.split(" at line").next().unwrap_or(&reason).to_owned();
    if path.is_empty() || path == "." {
        reason
    } else {
        format!("{path}: {reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_keep_field_names_only() {
        let t = "Failed to deserialize the JSON body into the target type: name: invalid type: string \"sk-123\", expected u32 at line 1 column 20";
        assert_eq!(describe_data_error(t), "name: wrong type or value");
        let t = "Failed to deserialize the JSON body into the target type: unknown field `foo`, expected one of `name` at line 1 column 7";
        assert_eq!(describe_data_error(t), "unknown field `foo`");
        let t = "Failed to deserialize the JSON body into the target type: platform: unknown variant `slack`, expected one of `wecom`, `lark` at line 1 column 20";
        assert_eq!(
            describe_data_error(t),
            "platform: unknown value, expected one of `wecom`, `lark`"
        );
    }
}
