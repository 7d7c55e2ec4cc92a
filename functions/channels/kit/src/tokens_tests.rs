use std::sync::atomic::{AtomicUsize, Ordering};

use imgate_core::keyring::LocalKeyring;

use super::*;

fn tokens() -> (SealedTokens, Arc<MemoryTokens>) {
    let memory = Arc::new(MemoryTokens::default());
    let keyring = Arc::new(LocalKeyring::new(LocalKeyring::generate_key()));
    (SealedTokens::new("test", memory.clone(), keyring), memory)
}

const MARGIN: Duration = Duration::from_secs(300);

/// A token endpoint that counts its calls and hands out `token-1`, `token-2`, …
#[derive(Default)]
struct Endpoint(AtomicUsize);

impl Endpoint {
    async fn fetch(&self, lifetime: Duration) -> Result<Fetched, ReplyError> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(Fetched {
            token: Secret::new(format!("token-{n}")),
            expires_in: lifetime,
        })
    }
    fn calls(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn concurrent_misses_fetch_once_and_later_calls_use_the_cache() {
    let (tokens, memory) = tokens();
    let endpoint = Endpoint::default();
    let lifetime = Duration::from_secs(7200);
    let asks = (0..20).map(|_| tokens.get_or_fetch("k", MARGIN, || endpoint.fetch(lifetime)));
    let got = futures_util::future::join_all(asks).await;
    assert!(got.iter().all(|t| t.as_ref().unwrap().expose() == "token-1"));
    assert_eq!(endpoint.calls(), 1, "one fetch for twenty concurrent misses");
    let again = tokens
        .get_or_fetch("k", MARGIN, || endpoint.fetch(lifetime))
        .await
        .unwrap();
    assert_eq!(again.expose(), "token-1");
    assert_eq!(endpoint.calls(), 1);
    let stored = memory.0.lock().unwrap()["k"].clone();
    assert!(!format!("{stored:?}").contains("token-1"), "sealed at rest");
    assert!(tokens.fetching.lock().unwrap().is_empty(), "no lock left behind");
}

#[tokio::test]
async fn a_token_inside_the_margin_is_fetched_again_and_failures_are_not_cached() {
    let (tokens, _) = tokens();
    let endpoint = Endpoint::default();
    let short = tokens
        .get_or_fetch("k", MARGIN, || endpoint.fetch(Duration::from_secs(60)))
        .await;
    assert_eq!(short.unwrap().expose(), "token-1");
    let renewed = tokens
        .get_or_fetch("k", MARGIN, || endpoint.fetch(Duration::from_secs(7200)))
        .await;
    assert_eq!(
        renewed.unwrap().expose(),
        "token-2",
        "60 s left is inside the 300 s margin"
    );

    let failed = tokens
        .get_or_fetch("other", MARGIN, || async { Err(ReplyError::Transport("down".into())) })
        .await;
    assert!(matches!(failed, Err(ReplyError::Transport(_))));
    let next = tokens
        .get_or_fetch("other", MARGIN, || endpoint.fetch(Duration::from_secs(7200)))
        .await;
    assert_eq!(next.unwrap().expose(), "token-3");
}

#[tokio::test]
async fn a_rejected_token_is_dropped_and_the_call_made_once_more() {
    let (tokens, _) = tokens();
    let endpoint = Endpoint::default();
    let lifetime = Duration::from_secs(7200);
    let fetch = || endpoint.fetch(lifetime);
    tokens.get_or_fetch("k", MARGIN, fetch).await.unwrap();
    let used = Mutex::new(Vec::new());
    let call = |token: Secret| {
        used.lock().unwrap().push(token.expose().to_owned());
        let stale = token.expose() == "token-1";
        async move {
            if stale {
                Err(ReplyError::Platform {
                    code: 42001,
                    message: "access_token expired".into(),
                })
            } else {
                Ok("sent")
            }
        }
    };
    let rejected = |e: &ReplyError| matches!(e, ReplyError::Platform { code: 42001, .. });
    let sent = tokens.with_token("k", MARGIN, fetch, call, rejected).await;
    assert_eq!(sent.unwrap(), "sent");
    assert_eq!(*used.lock().unwrap(), ["token-1", "token-2"]);
    assert_eq!(endpoint.calls(), 2);

    // Another error is returned as it is, without a refetch.
    let other = tokens
        .with_token(
            "k",
            MARGIN,
            fetch,
            |_| async { Err::<(), _>(ReplyError::Transport("reset".into())) },
            rejected,
        )
        .await;
    assert!(matches!(other, Err(ReplyError::Transport(_))));
    assert_eq!(endpoint.calls(), 2);
}

/// A store that counts its reads, in front of [`MemoryTokens`].
#[derive(Default)]
struct CountedTokens {
    inner: MemoryTokens,
    reads: AtomicUsize,
}

#[async_trait::async_trait]
impl TokenCache for CountedTokens {
    async fn get_token(&self, key: &str, now: Timestamp) -> imgate_core::ports::StoreResult<Option<CachedToken>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get_token(key, now).await
    }
    async fn put_token(&self, key: &str, token: &CachedToken) -> imgate_core::ports::StoreResult<()> {
        self.inner.put_token(key, token).await
    }
    async fn invalidate_token(&self, key: &str) -> imgate_core::ports::StoreResult<()> {
        self.inner.invalidate_token(key).await
    }
}

#[tokio::test]
async fn a_process_reads_a_token_from_the_store_once_and_then_from_memory() {
    let store = Arc::new(CountedTokens::default());
    let keyring: Arc<dyn Keyring> = Arc::new(LocalKeyring::new(LocalKeyring::generate_key()));
    let endpoint = Endpoint::default();
    let lifetime = Duration::from_secs(7200);
    // Another instance fetched and stored the token.
    let other = SealedTokens::new("test", store.clone(), keyring.clone());
    other
        .get_or_fetch("k", MARGIN, || endpoint.fetch(lifetime))
        .await
        .unwrap();
    let this = SealedTokens::new("test", store.clone(), keyring);
    let before = store.reads.load(Ordering::SeqCst);
    for _ in 0..5 {
        let token = this
            .get_or_fetch("k", MARGIN, || endpoint.fetch(lifetime))
            .await
            .unwrap();
        assert_eq!(token.expose(), "token-1");
    }
    assert_eq!(
        store.reads.load(Ordering::SeqCst) - before,
        1,
        "one store read for five uses"
    );
    assert_eq!(endpoint.calls(), 1, "and no fetch");
}

#[tokio::test]
async fn a_rejected_token_gives_way_to_a_newer_one_another_instance_stored_without_a_fetch() {
    let store = Arc::new(CountedTokens::default());
    let keyring: Arc<dyn Keyring> = Arc::new(LocalKeyring::new(LocalKeyring::generate_key()));
    let endpoint = Endpoint::default();
    let lifetime = Duration::from_secs(7200);
    let fetch = || endpoint.fetch(lifetime);
    let this = SealedTokens::new("test", store.clone(), keyring.clone());
    this.get_or_fetch("k", MARGIN, fetch).await.unwrap();
    // Another instance got `token-1` rejected and fetched `token-2` (which revoked `token-1`).
    let other = SealedTokens::new("test", store.clone(), keyring);
    other.invalidate("k").await;
    other.get_or_fetch("k", MARGIN, fetch).await.unwrap();
    let used = Mutex::new(Vec::new());
    let call = |token: Secret| {
        used.lock().unwrap().push(token.expose().to_owned());
        let revoked = token.expose() == "token-1";
        async move {
            if revoked {
                Err(ReplyError::Platform {
                    code: 42001,
                    message: "access_token expired".into(),
                })
            } else {
                Ok("sent")
            }
        }
    };
    let rejected = |e: &ReplyError| matches!(e, ReplyError::Platform { code: 42001, .. });
    let sent = this.with_token("k", MARGIN, fetch, call, rejected).await;
    assert_eq!(sent.unwrap(), "sent");
    assert_eq!(
        *used.lock().unwrap(),
        ["token-1", "token-2"],
        "the stored token was used"
    );
    assert_eq!(
        endpoint.calls(),
        2,
        "no third fetch, which would revoke token-2 in turn"
    );
}
