//! The operator console at `/console/`: a few static files compiled into the binary (no
//! build step, no CDN, works offline), talking to the admin API with the session cookie.
//!
//! Every answer carries a strict Content-Security-Policy: scripts, styles and connections
//! only from this origin, images also as `data:` (the QR codes), no inline script or style,
//! no framing.

use axum::Router;
use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::error::ApiError;

/// Where the console is served.
pub const CONSOLE_PATH: &str = "/console/";

/// The policy every console answer carries.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../console/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../console/app.js"),
    },
    Asset {
        name: "pages.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../console/pages.js"),
    },
    Asset {
        name: "i18n.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../console/i18n.js"),
    },
    Asset {
        name: "platforms.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../console/platforms.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../console/app.css"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../console/icon.svg"),
    },
];

/// Each asset's ETag, in [`ASSETS`] order, computed once per process.
static ETAGS: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| ASSETS.iter().map(|a| etag(a.body)).collect());

/// `/console` (redirects), `/console/` (the page), `/console/{file}`, and the icon at
/// `/favicon.ico` (where browsers look for it, e.g. when showing an API answer).
pub fn router() -> Router {
    Router::new()
        .route(
            "/favicon.ico",
            get(|headers: HeaderMap| async move { serve("icon.svg", &headers) }),
        )
        .route("/console", get(|| async { Redirect::permanent(CONSOLE_PATH) }))
        .route(
            CONSOLE_PATH,
            get(|headers: HeaderMap| async move { serve("index.html", &headers) }),
        )
        .route(
            "/console/{file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move { serve(&file, &headers) }),
        )
}

fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.name == name) else {
        return ApiError::not_found("no such console file").into_response();
    };
    let asset = &ASSETS[index];
    let etag = ETAGS[index].as_str();
    let headers = [
        (CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
        // Revalidate every time: a new build must never be mixed with old cached files.
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            ETAG,
            HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"0\"")),
        ),
        (
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ),
        (
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ),
        (
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ),
    ];
    let fresh = request
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, asset.body).into_response()
}

/// A strong validator: FNV-1a of the file (stable across builds of the same file).
fn etag(body: &str) -> String {
    let hash = body.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The keys of one language block of i18n.js (`const en = { 'a.b': …, … };`).
    fn keys_of(block: &str) -> BTreeSet<String> {
        let start = ASSETS[3]
            .body
            .find(&format!("const {block} = {{"))
            .unwrap_or_else(|| unreachable!());
        let rest = &ASSETS[3].body[start..];
        let end = rest.find("\n};").unwrap_or(rest.len());
        let pieces: Vec<&str> = rest[..end].split('\'').collect();
        // A key is a quoted text directly followed by a colon.
        pieces
            .windows(2)
            .skip(1)
            .step_by(2)
            .filter(|pair| pair[1].trim_start().starts_with(':'))
            .map(|pair| pair[0].to_owned())
            .collect()
    }

    #[test]
    fn every_text_the_pages_use_exists_in_both_languages() {
        assert_eq!(ASSETS[3].name, "i18n.js");
        let en = keys_of("en");
        let zh = keys_of("zh");
        assert!(en.len() > 200, "found only {} keys", en.len());
        assert_eq!(
            en.symmetric_difference(&zh).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "keys in one language only"
        );
        for script in ["app.js", "pages.js"] {
            let body = ASSETS
                .iter()
                .find(|a| a.name == script)
                .map(|a| a.body)
                .unwrap_or_default();
            let calls = body.match_indices("t('").filter(|(at, _)| {
                let before = body[..*at].chars().next_back().unwrap_or(' ');
                !(before.is_ascii_alphanumeric() || before == '_' || before == '.')
            });
            for (at, _) in calls {
                let key = body[at + 3..].split('\'').next().unwrap_or_default();
                assert!(en.contains(key), "{script} uses `{key}`, which i18n.js lacks");
            }
        }
        for family in [
            "chip.",
            "reason.",
            "mode.",
            "platform.",
            "readiness.",
            "outcome.",
            "probe.",
            "qr.",
            "kind.",
        ] {
            assert!(en.iter().any(|k| k.starts_with(family)), "no texts for {family}*");
        }
    }

    #[test]
    fn the_integrations_page_is_light() {
        let total: usize = ASSETS.iter().map(|a| a.body.len()).sum();
        assert!(
            total < 150 * 1024,
            "the console weighs {total} bytes before compression"
        );
    }

    #[test]
    fn the_page_uses_no_inline_script_or_style() {
        for asset in ASSETS
            .iter()
            .filter(|a| a.name.ends_with(".html") || a.name.ends_with(".js"))
        {
            for forbidden in ["innerHTML", "onclick=\"", "style=\"", "eval(", "<script>"] {
                assert!(!asset.body.contains(forbidden), "{} contains {forbidden}", asset.name);
            }
        }
    }
}
