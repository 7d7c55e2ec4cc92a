//! A file a user sent, from the message-resource API:
//! `GET /open-apis/im/v1/messages/{message_id}/resources/{file_key}?type=image|file` with the
//! tenant token. A success is the file itself (its type in `Content-Type`); a refusal is the
//! usual `{"code","msg"}` answer, and an invalid token is renewed once as for every call.

use imgate_channel_kit::fetch::{self, Body, Failure as FetchFailure};
use imgate_core::credentials::Lark;
use imgate_core::ports::MediaError;

use super::{Failure, LarkApi, TOKEN_MARGIN, answer, path_segment};

impl LarkApi {
    /// Downloads the resource `file_key` of message `message_id`, as `kind` (`image` for images
    /// of image and rich-text messages, `file` for files, audio and video), reading at most
    /// `limit` bytes.
    ///
    /// # Errors
    /// [`MediaError::Platform`] for Lark's refusals (a key that is not the message's, a resource
    /// over Lark's 100 MB), [`MediaError::TooLarge`], [`MediaError::Transport`].
    pub async fn message_resource(
        &self,
        app: &Lark,
        message_id: &str,
        file_key: &str,
        kind: &str,
        limit: u64,
    ) -> Result<Body, MediaError> {
        let url = format!(
            "{}/open-apis/im/v1/messages/{}/resources/{}",
            self.endpoints.base(app.domain),
            path_segment(message_id),
            path_segment(file_key)
        );
        self.tokens
            .with_token(
                &self.token_key(app),
                TOKEN_MARGIN,
                || self.fetch_token(app),
                |token| {
                    let request = self
                        .http
                        .get(&url)
                        .query(&[("type", kind)])
                        .bearer_auth(token.expose())
                        .timeout(fetch::TIMEOUT);
                    async move {
                        let response = request.send().await.map_err(fetch::transport)?;
                        if response.status().is_success() {
                            return Ok(fetch::read(response, limit, |_| None).await?);
                        }
                        Err(refused(answer(response).await.err()))
                    }
                },
                |failure: &FetchFailure| failure.token_rejected,
            )
            .await
            .map_err(|failure| failure.error)
    }
}

/// A refused download as a [`FetchFailure`], marked when the token was the problem.
fn refused(failure: Option<Failure>) -> FetchFailure {
    match failure {
        Some(Failure::InvalidToken) => FetchFailure {
            error: MediaError::Platform("the tenant access token was refused".into()),
            token_rejected: true,
        },
        Some(Failure::Other(error)) => error.into(),
        None => MediaError::Platform("Lark refused the download".into()).into(),
    }
}
