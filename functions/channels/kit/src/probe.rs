//! The parts of a credential test ([`CredentialProbe`](imgate_core::ports::CredentialProbe))
//! every platform words the same: a call that got no verdict on the credentials (network
//! trouble, a rate limit, the token cache), and credentials of another platform. What a
//! platform's refusal means, and where its console keeps the right value, stays in the
//! platform's own `probe` module.

use imgate_core::ports::{ProbeFailure, ReplyError};

/// `error` of a call to `platform` as a test failure: a refusal ([`ReplyError::Platform`]) is
/// worded by `refused` from the platform's code and message; everything else is
/// [`ProbeFailure::unreachable`], since the platform gave no verdict on the credentials.
pub fn failure(platform: &str, error: ReplyError, refused: impl FnOnce(i64, &str) -> ProbeFailure) -> ProbeFailure {
    match error {
        ReplyError::Platform { code, message } => refused(code, &message),
        ReplyError::RateLimited { retry_after } => ProbeFailure::unreachable(format!(
            "{platform} asked to slow down: try the test again in {} s",
            retry_after.as_secs().max(1)
        )),
        ReplyError::Transport(detail) => ProbeFailure::unreachable(format!(
            "{platform} could not be reached ({detail}): check that this server can reach {platform}, then try again"
        )),
        ReplyError::Store(error) => {
            ProbeFailure::unreachable(format!("the token cache could not be read ({error}): try again"))
        }
        other @ (ReplyError::Expired | ReplyError::Unsupported(_)) => {
            ProbeFailure::unreachable(format!("{platform} gave an unexpected answer: {other}"))
        }
    }
}

/// The answer to credentials that are not `platform`'s (a record and its credentials disagree).
pub fn mismatch(platform: &str) -> ProbeFailure {
    ProbeFailure::unsupported(format!(
        "these are not {platform} credentials: save the integration's credentials again"
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use imgate_core::ports::ProbeFailureKind;

    use super::*;

    #[test]
    fn only_a_refusal_is_a_rejection() {
        let refused = |code: i64, message: &str| ProbeFailure::rejected(format!("{code} {message}"));
        let rejected = failure(
            "Example",
            ReplyError::Platform {
                code: 40001,
                message: "bad secret".into(),
            },
            refused,
        );
        assert_eq!(rejected, ProbeFailure::rejected("40001 bad secret"));
        for error in [
            ReplyError::Transport("connection refused".into()),
            ReplyError::RateLimited {
                retry_after: Duration::from_secs(3),
            },
            ReplyError::Expired,
        ] {
            assert_eq!(failure("Example", error, refused).kind, ProbeFailureKind::Unreachable);
        }
    }

    #[test]
    fn a_mismatch_is_unsupported() {
        assert_eq!(mismatch("Example").kind, ProbeFailureKind::Unsupported);
    }
}
