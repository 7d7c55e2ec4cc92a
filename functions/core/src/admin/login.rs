//! QR logins through the admin API (`POST` / `GET /integrations/{id}/login`), for platforms
//! whose bot is bound by scanning a code (see [`crate::ports::LoginFlow`]).
//!
//! - The login's state lives in the stream store under the integration (the admin API runs on
//!   Lambda too): the platform's handle and poll host, how many codes this attempt issued, when
//!   it started and the code to show again. A code is good for [`CODE_LIFETIME`]; an attempt
//!   issues at most [`MAX_CODES`] codes within [`ATTEMPT_WINDOW`].
//! - A `GET` makes one status poll with a short hold; a `POST` starts over with a new code, or,
//!   with `verifyCode`, polls once with the number the phone shows.
//! - A confirmed login's credentials are sealed into the integration like any update (which
//!   restarts its connection) and never shown; the event log records the login.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Admin, AdminError, AdminResult, LoginRequest, LoginView, Principal};
use crate::credentials::Credentials;
use crate::event_log::{EventKind, record};
use crate::integration::IntegrationRecord;
use crate::ports::{LoginFlow, LoginStatus, StreamState};
use crate::time::Timestamp;

/// How long one code is good for (the platform may expire it sooner).
pub const CODE_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// How many codes one login attempt may issue.
pub const MAX_CODES: u64 = 3;

/// How long one attempt lasts (the plugin's 480 s).
pub const ATTEMPT_WINDOW: Duration = Duration::from_secs(8 * 60);

/// The stream record holding a login.
const RECORD_ID: &str = "login";

/// The longest verification number accepted.
const MAX_CODE_CHARS: usize = 16;

impl Admin {
    /// Starts a login with a new code, or (with `verifyCode`) polls the current one with the
    /// number the phone shows.
    ///
    /// # Errors
    /// 404 when absent, 422 for a platform without QR login or a bad number, 409 when the
    /// attempt issued its codes, when no login waits for a number, or on a concurrent change.
    pub async fn start_login(&self, principal: &Principal, id: &str, input: LoginRequest) -> AdminResult<LoginView> {
        let integration = self.owned_integration(principal, id).await?;
        let flow = self.login_flow(&integration)?;
        if let Some(code) = input.verify_code {
            let code = code.trim().to_owned();
            if code.is_empty()
                || code.chars().count() > MAX_CODE_CHARS
                || !code.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Err(AdminError::Invalid(format!(
                    "verifyCode must be the 1 to {MAX_CODE_CHARS} letters or digits the phone shows"
                )));
            }
            return self.poll(&integration, flow, Some(code)).await;
        }
        let now = Timestamp::now();
        let stored = self.stored_login(&integration, now).await?;
        let mut count = 1;
        let mut started_at = now;
        let previous = stored
            .as_ref()
            .map(|l| serde_json::from_str::<Value>(&l.content).unwrap_or_default())
            .filter(|state| state["confirmed"] != true);
        if let Some(state) = previous {
            // An attempt runs until a login is confirmed or its window has passed, across
            // codes that expired.
            let started = Timestamp::from_millis(state["startedAt"].as_i64().unwrap_or_default());
            if now.as_millis() < started.plus(ATTEMPT_WINDOW).as_millis() {
                count = state["qrCount"].as_u64().unwrap_or(0) + 1;
                started_at = started;
                if count > MAX_CODES {
                    return Err(AdminError::Conflict {
                        message: format!(
                            "this login already issued {MAX_CODES} codes; ask for a new one after {}",
                            started.plus(ATTEMPT_WINDOW)
                        ),
                        current_agent: None,
                    });
                }
            }
        }
        let credentials = self.open_credentials(&integration).await?;
        let step = flow.start(&credentials).await.map_err(AdminError::Invalid)?;
        let qr = step.qr.clone();
        let state = json!({
            "platform": step.state,
            "qrCount": count,
            "startedAt": started_at.as_millis(),
            "issuedAt": now.as_millis(),
            "qr": qr.as_ref().map(|q| json!({"svg": q.svg, "content": q.content})),
        });
        self.keep_login(&integration, stored, state, false, now).await?;
        record(
            self.deps.store.as_ref(),
            &integration.id,
            EventKind::Connecting,
            None,
            &format!("QR login started (code {count} of {MAX_CODES})"),
        )
        .await;
        Ok(view(
            &integration,
            step.status,
            &step.message,
            qr.map(|q| (q.svg, q.content)),
            Some(now.plus(CODE_LIFETIME)),
        ))
    }

    /// One status poll of the login in progress.
    ///
    /// # Errors
    /// 404 when absent, 422 for a platform without QR login, 409 on a concurrent change.
    pub async fn poll_login(&self, principal: &Principal, id: &str) -> AdminResult<LoginView> {
        let integration = self.owned_integration(principal, id).await?;
        let flow = self.login_flow(&integration)?;
        self.poll(&integration, flow, None).await
    }

    fn login_flow(&self, integration: &IntegrationRecord) -> AdminResult<std::sync::Arc<dyn LoginFlow>> {
        self.logins
            .get(&integration.platform)
            .cloned()
            .ok_or_else(|| AdminError::Invalid(format!("{} integrations have no QR login", integration.platform)))
    }

    async fn stored_login(&self, integration: &IntegrationRecord, now: Timestamp) -> AdminResult<Option<StreamState>> {
        Ok(self.deps.store.get_stream(&integration.id, RECORD_ID, now).await?)
    }

    /// Writes the login's state (a new record, or a new version of the stored one).
    async fn keep_login(
        &self,
        integration: &IntegrationRecord,
        stored: Option<StreamState>,
        state: Value,
        finished: bool,
        now: Timestamp,
    ) -> AdminResult<()> {
        let content = state.to_string();
        let written = match stored {
            Some(mut login) => {
                login.content = content;
                login.finished = finished;
                login.version += 1;
                login.expires_at = now.plus(ATTEMPT_WINDOW);
                self.deps.store.update_stream(&login).await?
            }
            None => {
                let login = StreamState {
                    integration_id: integration.id.clone(),
                    id: RECORD_ID.to_owned(),
                    content,
                    finished,
                    card: None,
                    version: 1,
                    created_at: now,
                    expires_at: now.plus(ATTEMPT_WINDOW),
                };
                self.deps.store.create_stream(&login).await?
            }
        };
        if written {
            Ok(())
        } else {
            Err(AdminError::Conflict {
                message: "the login changed concurrently; ask again".into(),
                current_agent: None,
            })
        }
    }

    async fn poll(
        &self,
        integration: &IntegrationRecord,
        flow: std::sync::Arc<dyn LoginFlow>,
        verify_code: Option<String>,
    ) -> AdminResult<LoginView> {
        let now = Timestamp::now();
        let stored = self.stored_login(integration, now).await?;
        let Some(login) = stored.filter(|l| !l.finished) else {
            if verify_code.is_some() {
                return Err(AdminError::Conflict {
                    message: "no login is waiting for a number; POST …/login for a new code".into(),
                    current_agent: None,
                });
            }
            return Ok(view(
                integration,
                LoginStatus::Expired,
                "no login in progress; POST …/login for a new code",
                None,
                None,
            ));
        };
        let mut state: Value = serde_json::from_str(&login.content).unwrap_or_default();
        let issued = Timestamp::from_millis(state["issuedAt"].as_i64().unwrap_or_default());
        let expires = issued.plus(CODE_LIFETIME);
        let qr = state["qr"]["svg"]
            .as_str()
            .zip(state["qr"]["content"].as_str())
            .map(|(svg, content)| (svg.to_owned(), content.to_owned()));
        if now.as_millis() >= expires.as_millis() {
            self.keep_login(integration, Some(login), state, true, now).await?;
            return Ok(view(
                integration,
                LoginStatus::Expired,
                "the code expired; POST …/login for a new one",
                None,
                None,
            ));
        }
        let credentials = self.open_credentials(integration).await?;
        let step = flow
            .poll(&credentials, &state["platform"], verify_code.as_deref())
            .await
            .map_err(AdminError::Invalid)?;
        let over = step.state.is_none();
        if let Some(platform) = &step.state {
            state["platform"] = platform.clone();
        }
        match step.status {
            LoginStatus::Confirmed => {
                self.confirm(integration, step.credentials.clone()).await?;
                state["confirmed"] = json!(true);
            }
            LoginStatus::Expired | LoginStatus::VerifyCodeBlocked | LoginStatus::Failed | LoginStatus::AlreadyBound => {
                let detail = format!("QR login ended: {}", step.message);
                record(
                    self.deps.store.as_ref(),
                    &integration.id,
                    EventKind::Stopped,
                    None,
                    &detail,
                )
                .await;
            }
            _ => {}
        }
        self.keep_login(integration, Some(login), state, over, now).await?;
        let shown = (!over).then_some(qr).flatten();
        let expires = shown.is_some().then_some(expires);
        Ok(view(integration, step.status, &step.message, shown, expires))
    }

    /// Seals a confirmed login's credentials into the integration (restarting its connection).
    async fn confirm(&self, integration: &IntegrationRecord, credentials: Option<Credentials>) -> AdminResult<()> {
        let Some(credentials) = credentials else {
            return Err(AdminError::Invalid(
                "the platform confirmed the login without credentials".into(),
            ));
        };
        let mut record_now = self
            .deps
            .store
            .get_integration(&integration.id)
            .await?
            .ok_or_else(|| AdminError::not_found("integration", integration.id.as_str()))?;
        record_now.credentials = self
            .deps
            .keyring
            .seal(&credentials.to_sealable_json(), record_now.id.as_str())
            .await?;
        self.save_integration(&mut record_now).await?;
        record(
            self.deps.store.as_ref(),
            &integration.id,
            EventKind::Connecting,
            None,
            "QR login confirmed: new credentials stored; the connection restarts with them",
        )
        .await;
        Ok(())
    }
}

fn view(
    integration: &IntegrationRecord,
    status: LoginStatus,
    message: &str,
    qr: Option<(String, String)>,
    expires_at: Option<Timestamp>,
) -> LoginView {
    let (qrcode_svg, qrcode_url) = qr.unzip();
    LoginView {
        integration_id: integration.id.to_string(),
        status,
        message: message.to_owned(),
        qrcode_svg,
        qrcode_url,
        expires_at,
    }
}
