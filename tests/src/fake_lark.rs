//! A fake Lark/Feishu (protocols/lark.md) on 127.0.0.1, port 0: the Open API a bot calls and the
//! long connection it keeps, written from the protocol notes alone so the gateway's Lark code is
//! tested against an independent reading of them.
//!
//! - HTTP ([`FakeLark::base`]): `tenant_access_token/internal` (§4.1; a wrong app id or secret is
//!   answered HTTP 400 code 10014), `bot/v3/info`, message send and reply (§4.2–4.4), CardKit
//!   (§5.1), image uploads and image messages ([`images`]) and `POST /callback/ws/endpoint`
//!   (§3.2). Everything but the token and endpoint calls
//!   needs a bearer token this fake issued, not expired and not invalidated (HTTP 400 code
//!   99991663 otherwise). Every call is recorded ([`FakeLark::calls`]), except the downloads of
//!   the files users send ([`media`]), which are counted.
//! - WebSocket ([`FakeLark::ws_base`]): a URL from the endpoint call is good for one handshake;
//!   binary `pbbp2` frames ([`Frame`]) only. Client pings get pongs carrying the current
//!   [`ClientConfig`]; events are pushed as data frames, whole or in fragments, and re-pushed on
//!   the newest connection until a frame with `{"code":200}` acknowledges them.
//! - Faults: invalidated tokens, HTTP 429 rate limits, refused card creation or interactive
//!   messages, recalled messages, busy or failing endpoint calls, refused handshakes, dropped,
//!   closed or muted connections, text and garbage frames.
//!
//! Error codes the notes do not give were taken from the Open Platform error tables where they
//! list one (CardKit: 200740 unknown card, 300317 sequence not increasing, 300309 streaming
//! closed, 300310 not a text element, 300303 not schema 2.0, 200770 uuid reused for another
//! request; messages: 230001 bad parameter, 230011 recalled, 230025 too long, 230027 no
//! permission, 230099 card content; 99991672 missing scope). Where none is documented the fake
//! picks one and says so at the place it is used.

mod cardkit;
mod frame;
mod images;
mod long_conn;
mod media;
mod open_api;
#[cfg(test)]
mod self_tests;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use tokio::net::TcpListener;

use crate::fake_media::Library;

pub use cardkit::{CardOp, CardRateViolation, CardRecord, ElementRecord};
pub use frame::{Decoded, Frame, FrameError, METHOD_CONTROL, METHOD_DATA};
pub use long_conn::{Ack, ClientConfig, ClientFrame, ConnectionRecord, HandshakeRefusal, PushOptions, USER_OPEN_ID};
pub use open_api::{Call, SentMessage};

/// The app name `bot/v3/info` answers.
pub const APP_NAME: &str = "Fake Lark Bot";

/// Everything the fake knows, behind one lock: every request is handled start to end under it.
struct State {
    app_id: String,
    app_secret: String,
    /// The source of every generated id (tokens, messages, cards, frames).
    next: u64,
    calls: Vec<Call>,
    api: open_api::Api,
    cards: cardkit::Cards,
    long: long_conn::Long,
    images: images::Images,
}

impl State {
    fn next_id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    fn bot_open_id(&self) -> String {
        format!("ou_bot_{}", self.app_id)
    }
}

/// The running fake; it stops when the test's runtime ends.
#[derive(Clone)]
pub struct FakeLark {
    /// `http://127.0.0.1:<port>`: the Open API and the endpoint call, the base URL to configure.
    pub base: String,
    /// `ws://127.0.0.1:<port>`: the WebSocket listener the endpoint URLs point at.
    pub ws_base: String,
    state: Arc<Mutex<State>>,
    /// The files users send, by `<message_id>/<file_key>` ([`media`]).
    pub media: Library,
}

impl FakeLark {
    /// Starts a fake knowing one app.
    pub async fn start(app_id: &str, app_secret: &str) -> Self {
        let ws = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Lark WebSocket");
        let ws_base = format!("ws://{}", ws.local_addr().expect("WebSocket address"));
        let http = TcpListener::bind("127.0.0.1:0").await.expect("bind fake Lark API");
        let base = format!("http://{}", http.local_addr().expect("API address"));
        let state = State {
            app_id: app_id.to_owned(),
            app_secret: app_secret.to_owned(),
            next: 0,
            calls: Vec::new(),
            api: open_api::Api::default(),
            cards: cardkit::Cards::default(),
            long: long_conn::Long::new(ws_base.clone()),
            images: images::Images::default(),
        };
        let fake = Self {
            base,
            ws_base,
            state: Arc::new(Mutex::new(state)),
            media: Library::default(),
        };
        let accepting = fake.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = ws.accept().await {
                tokio::spawn(accepting.clone().serve(tcp));
            }
        });
        tokio::spawn(fake.clone().redeliver());
        let app = Router::new()
            .route("/open-apis/im/v1/images", axum::routing::post(images::upload))
            .merge(media::routes())
            .fallback(open_api::dispatch)
            .with_state(fake.clone());
        tokio::spawn(async move {
            let _ = axum::serve(http, app).await;
        });
        fake
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The app id this fake knows.
    pub fn app_id(&self) -> String {
        self.state().app_id.clone()
    }

    /// The bot's own open_id (`ou_bot_<app id>`), as `bot/v3/info` answers it; put it in
    /// mentions to @-mention the bot.
    pub fn bot_open_id(&self) -> String {
        self.state().bot_open_id()
    }

    /// Every HTTP call, in order (the Authorization header left out).
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// Polls `done` every 10 ms until it holds (true) or `timeout` passes (false).
    pub async fn wait_for(&self, timeout: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
