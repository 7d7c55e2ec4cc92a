//! Who is calling: `Authorization: Bearer <key>` (scripts, curl), or the console's session
//! cookie. A cookie-authenticated change (any method but GET/HEAD) must also carry the
//! session's CSRF token in `X-CSRF-Token`, and is refused when the browser says it came from
//! another site (`Sec-Fetch-Site`) or another origin (`Origin`), so a forged cross-site form
//! or script cannot act with the operator's session.

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use imgate_core::admin::Principal;
use imgate_core::admin::signin::{ConsoleSession, csrf_matches};
use imgate_core::time::Timestamp;

use super::AdminState;
use crate::error::ApiError;

/// The console session cookie's name.
pub const SESSION_COOKIE: &str = "imgate_session";
/// The header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The authenticated caller.
pub struct Caller(pub Principal);

impl FromRequestParts<AdminState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, Self::Rejection> {
        if let Some(token) = bearer(&parts.headers) {
            return Ok(Self(state.admin.authenticate(Some(token)).await?));
        }
        let session = Session::from_request_parts(parts, state).await?.0;
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            check_same_origin(&parts.headers)?;
            let presented = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !csrf_matches(&session, presented) {
                return Err(csrf_refusal("this change needs the console's CSRF token"));
            }
        }
        Ok(Self(session.principal))
    }
}

/// The caller's console session, from its cookie (no CSRF check: for reads of the session).
pub struct Session(pub ConsoleSession);

impl FromRequestParts<AdminState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, Self::Rejection> {
        let token = session_cookie(&parts.headers).ok_or(imgate_core::admin::AdminError::Unauthorized)?;
        Ok(Self(state.admin.open_session(token, Timestamp::now()).await?))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
}

/// The session cookie's value, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// Refuses a request the browser marks as coming from another site or origin.
fn check_same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if let Some(site) = fetch_site
        && site != "same-origin"
        && site != "none"
    {
        return Err(csrf_refusal("a change from another site is refused"));
    }
    if let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers.get(HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
        if origin_host != host {
            return Err(csrf_refusal("a change from another origin is refused"));
        }
    }
    Ok(())
}

fn csrf_refusal(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "csrf", message)
}

/// The `Set-Cookie` value opening a session (`Secure` when the gateway is served over HTTPS).
pub fn open_cookie(token: &str, max_age_seconds: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_seconds}{secure}")
}

/// The `Set-Cookie` value ending a session.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap_or_else(|_| unreachable!()));
        }
        map
    }

    #[test]
    fn finds_the_session_cookie_among_others() {
        let h = headers(&[("cookie", "a=1; imgate_session=v1.x.y; b=2")]);
        assert_eq!(session_cookie(&h), Some("v1.x.y"));
        assert_eq!(session_cookie(&headers(&[("cookie", "imgate_session=")])), None);
        assert_eq!(session_cookie(&headers(&[])), None);
    }

    #[test]
    fn cross_site_and_cross_origin_changes_are_refused() {
        assert!(check_same_origin(&headers(&[("sec-fetch-site", "same-origin")])).is_ok());
        assert!(check_same_origin(&headers(&[("sec-fetch-site", "same-site")])).is_err());
        assert!(check_same_origin(&headers(&[("sec-fetch-site", "cross-site")])).is_err());
        let same = headers(&[("origin", "http://127.0.0.1:8080"), ("host", "127.0.0.1:8080")]);
        assert!(check_same_origin(&same).is_ok());
        let other = headers(&[("origin", "http://127.0.0.1:9090"), ("host", "127.0.0.1:8080")]);
        assert!(check_same_origin(&other).is_err());
    }
}
