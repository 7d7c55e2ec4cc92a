//! A fake WeCom self-built app API (protocols/wecom.md §4) on 127.0.0.1, port 0, for one app:
//! `GET /cgi-bin/gettoken?corpid=…&corpsecret=…` answers a token (`expires_in` 7200) for the
//! corp ID and Secret it knows, errcode 40013 "invalid corpid" for another corp ID and 40001
//! "invalid credential" for another Secret, as WeCom does. Every token request is counted.
//! `GET /cgi-bin/media/get` serves the files users send ([`media`]).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::fake_media::Library;

mod media;

#[derive(Default)]
struct Inner {
    corp_id: String,
    secret: String,
    token_requests: usize,
}

/// The fake; clones share it.
#[derive(Clone)]
pub struct FakeWecomApp {
    inner: Arc<Mutex<Inner>>,
    /// `http://127.0.0.1:<port>`: the API base.
    pub base: String,
    /// The files users send, by `media_id` ([`media`]).
    pub media: Library,
}

impl FakeWecomApp {
    /// Starts the fake for the app of `corp_id` with `secret`.
    ///
    /// # Panics
    /// When it cannot listen.
    pub async fn start(corp_id: &str, secret: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake WeCom app API");
        let fake = Self {
            inner: Arc::new(Mutex::new(Inner {
                corp_id: corp_id.to_owned(),
                secret: secret.to_owned(),
                token_requests: 0,
            })),
            base: format!("http://{}", listener.local_addr().expect("fake WeCom address")),
            media: Library::default(),
        };
        let app = Router::new()
            .route("/cgi-bin/gettoken", get(gettoken))
            .merge(media::routes())
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    fn state(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `gettoken` requests so far, answered or refused.
    pub fn token_requests(&self) -> usize {
        self.state().token_requests
    }
}

async fn gettoken(State(fake): State<FakeWecomApp>, Query(query): Query<Vec<(String, String)>>) -> Json<Value> {
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    };
    let mut state = fake.state();
    state.token_requests += 1;
    if param("corpid") != state.corp_id {
        return Json(json!({"errcode": 40013, "errmsg": "invalid corpid"}));
    }
    if param("corpsecret") != state.secret {
        return Json(json!({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}));
    }
    Json(
        json!({"errcode": 0, "errmsg": "ok", "access_token": format!("wecom-token-{}", state.token_requests), "expires_in": 7200}),
    )
}
