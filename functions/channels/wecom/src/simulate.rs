//! Playing WeCom's side: real signed, encrypted smart-bot callbacks and decryption of the
//! gateway's passive replies. Used by `imgate simulate wecom` and the end-to-end tests.

use serde_json::{Value, json};

use crate::{Crypto, CryptoError};

/// A callback ready to POST: the query string (signature, timestamp, nonce) and the JSON body.
#[derive(Debug, Clone)]
pub struct SignedCallback {
    /// `msg_signature=…&timestamp=…&nonce=…`.
    pub query: String,
    /// `{"encrypt":"…"}`.
    pub body: String,
}

/// What a smart bot's passive reply says.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamFrame {
    /// The stream id.
    pub id: String,
    /// The whole answer so far.
    pub content: String,
    /// True on the last frame.
    pub finished: bool,
    /// A template card shown with it.
    pub card: Option<Value>,
}

/// Signs and encrypts callbacks with an integration's Token and EncodingAESKey.
pub struct Simulator {
    crypto: Crypto,
    bot_id: String,
}

impl Simulator {
    /// A simulator for a smart bot with these credentials.
    ///
    /// # Errors
    /// [`CryptoError::BadKey`] for an invalid EncodingAESKey.
    pub fn new(token: &str, encoding_aes_key: &str) -> Result<Self, CryptoError> {
        Ok(Self {
            crypto: Crypto::new(token, encoding_aes_key, "")?,
            bot_id: "imgate-simulator".into(),
        })
    }

    /// A text message from `userid` (in `chatid` if given: a group message that @-mentions the bot).
    pub fn text(
        &self,
        msgid: &str,
        userid: &str,
        chatid: Option<&str>,
        text: &str,
        response_url: Option<&str>,
    ) -> SignedCallback {
        let mut message = json!({
            "msgid": msgid,
            "aibotid": self.bot_id,
            "chattype": if chatid.is_some() { "group" } else { "single" },
            "from": {"userid": userid},
            "msgtype": "text",
            "text": {"content": if chatid.is_some() { format!("@bot {text}") } else { text.to_owned() }},
        });
        if let Some(chatid) = chatid {
            message["chatid"] = json!(chatid);
        }
        if let Some(url) = response_url {
            message["response_url"] = json!(url);
        }
        self.sign(&message)
    }

    /// The refresh callback WeCom sends while a stream is unfinished.
    pub fn refresh(&self, msgid: &str, stream_id: &str) -> SignedCallback {
        self.sign(&json!({
            "msgid": msgid,
            "aibotid": self.bot_id,
            "chattype": "single",
            "from": {"userid": "refresh"},
            "msgtype": "stream",
            "stream": {"id": stream_id},
        }))
    }

    /// A template card button click (e.g. the "new conversation" button).
    pub fn card_click(&self, msgid: &str, userid: &str, event_key: &str, task_id: &str) -> SignedCallback {
        self.sign(&json!({
            "msgid": msgid,
            "aibotid": self.bot_id,
            "chattype": "single",
            "from": {"userid": userid},
            "msgtype": "event",
            "create_time": imgate_core::Timestamp::now().as_secs(),
            "event": {"eventtype": "template_card_event", "template_card_event": {
                "card_type": "button_interaction", "event_key": event_key, "task_id": task_id}},
        }))
    }

    /// Signs and encrypts any plaintext callback JSON with the current time.
    pub fn sign(&self, plaintext: &Value) -> SignedCallback {
        let timestamp = imgate_core::Timestamp::now().as_secs().to_string();
        self.sign_at(plaintext, &timestamp)
    }

    /// Signs and encrypts with a given timestamp (tests use stale ones).
    pub fn sign_at(&self, plaintext: &Value, timestamp: &str) -> SignedCallback {
        let nonce = format!("{:016x}", rand::random::<u64>());
        let encrypt = self.crypto.encrypt(plaintext.to_string().as_bytes());
        let signature = self.crypto.signature(timestamp, &nonce, &encrypt);
        SignedCallback {
            query: format!("msg_signature={signature}&timestamp={timestamp}&nonce={nonce}"),
            body: json!({ "encrypt": encrypt }).to_string(),
        }
    }

    /// Verifies and decrypts a passive reply body into its plaintext JSON.
    ///
    /// # Errors
    /// [`CryptoError`] when the reply is not a correctly signed, encrypted reply.
    pub fn read_reply(&self, body: &str) -> Result<Value, CryptoError> {
        let reply: Value = serde_json::from_str(body).map_err(|_| CryptoError::Utf8)?;
        let field = |name: &str| {
            reply
                .get(name)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        };
        let (Some(encrypt), Some(signature), Some(timestamp), Some(nonce)) = (
            field("encrypt"),
            field("msgsignature"),
            field("timestamp"),
            field("nonce"),
        ) else {
            return Err(CryptoError::Utf8);
        };
        let plain = self.crypto.open(&signature, &timestamp, &nonce, &encrypt)?;
        serde_json::from_slice(&plain).map_err(|_| CryptoError::Utf8)
    }

    /// Reads a passive reply that is a stream frame.
    ///
    /// # Errors
    /// As [`Simulator::read_reply`], or [`CryptoError::Utf8`] when it is not a stream frame.
    pub fn read_stream(&self, body: &str) -> Result<StreamFrame, CryptoError> {
        let reply = self.read_reply(body)?;
        let stream = reply.get("stream").ok_or(CryptoError::Utf8)?;
        Ok(StreamFrame {
            id: stream["id"].as_str().unwrap_or_default().to_owned(),
            content: stream["content"].as_str().unwrap_or_default().to_owned(),
            finished: stream["finish"].as_bool().unwrap_or(false),
            card: reply.get("template_card").cloned(),
        })
    }
}
