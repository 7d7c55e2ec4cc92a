//! Vectors V1–V5 of `protocols/wecom.md` §1.8, plus tampering and malformed input.

use super::*;

const BOT_TOKEN: &str = "t0k3nForGatewayTests";
const BOT_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

const V1_PLAIN: &str = r#"{"msgid":"CAIQ16HMjQYY","aibotid":"AIBOTID","chatid":"CHATID","chattype":"group","from":{"userid":"zhangsan"},"response_url":"https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=RESPONSE_CODE","msgtype":"text","text":{"content":"@机器人 你好"}}"#;
const V1_ENCRYPT: &str = "EX/G4JcmKWDrVxtqpP+cpFh23VwMHNgdgsjwEulR4OoZCW6iQr1eQaxKcm6upM+jYFQ3SZj3Tgdkqdpe5r8pbDneiFsjUAp559Db1KrlnvQDDCeLdwRQDSUczpNH1Z2UDOKbTKVEdBp6Igs8Qk0q7tpwY+LkcbuB/R1Ssh4rbPOxto+w7LMcIZb/DLzV4bAp+JPHs8IbL2t7rmoaeXrMAXcOgl4ba5Ha6hVZ9gvHN2RPfJd4iK1vyt6Mai1PIV0kag1QC1abX0ymJXekeLAJCbWnTr+oxn4xBVal58Az6HFe4EQe1k8tNo+/RkHHhCQssSGjYeBMloMp7r0RODKPGSjABqlK3PgYk/6AU0YPYXU/iDVLMbP3VhgXyVBnRmJJ";
const V1_SIGNATURE: &str = "d9b8147435d19f2619e7a96fc52afc7aaa88ea71";

const V2_PLAIN: &str = r#"{"msgtype":"stream","stream":{"id":"STREAMID_1","finish":false,"content":"思考中..."}}"#;
const V2_ENCRYPT: &str = "Q3stYC6hdFzMh9T8HCvyDO6mier/TFfkAGP21IN3KSZjo8MQ0dyNXKnAptDB5FT8+9sghkwumOpF6As7LiI5QOy6hIr9M+6/BW6M82l3o3fO/5nF+78JIkSMwf+xrCk7LP8vUyq9B16hexD4or7eGbrY9g63kYeSjioAurym6Gk=";
const V2_SIGNATURE: &str = "cf03fffac382b767a9ce473df33f68f0506deb81";

const V3_ECHOSTR: &str = "8Q6sFaw1Cb9qj7RuhNb60niafl09Se+rmlweBixE19CFA0v5xsrTIExUybKXqen/q/H1MiR0vV7J3NBvy8WwmA==";
const V3_SIGNATURE: &str = "c4d8ce992fd8574e924e02223c2b9757991aff26";

const APP_TOKEN: &str = "appToken2024";
const APP_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const APP_CORP: &str = "ww1234567890abcdef";
const V4_PLAIN: &str = "<xml><ToUserName><![CDATA[ww1234567890abcdef]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>1409659813</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content><MsgId>4561255354251345929</MsgId><AgentID>1000002</AgentID></xml>";
const V4_ENCRYPT: &str = "4j/AuRx71kQlxVlzbpsMWER38M95pTvmYDZmD2EqXbjCOOlLxBYT8rs1cOML94HSiuR+5CLJ20lZ6Smjybpxgpf2gkdlCv9rwbOlq2/D++QnTODvgcflw/qrI5tOCHU5HIKrd6h33+7acDrO8FqAYi12MTie7UDvN3yWqLbaLwcIL5wBMd8XeeDmVa8qfYEbOKQPLYinPSDD0wvn9PN4BrohzpnPaxxODOiKjRPfLQYdY3RGQUAH99WRPXZFoqOMbVY7Kqe1BbTIHfQeI+P30TvcHJ12bqSsWF/L/FnwJBLdcRKiWLt8tQLlNuK5JcXoJ+C6d/7tCmIOx6Vlj1uw7QNBSBoHpcWdquJ302+/QVoK1xbYbwaaTj7fIGDj5IEFhxsuY7IqhwowXP91S48sQvHqemhVrXSeiGau5dZjCRs=";
const V4_SIGNATURE: &str = "316c5c2dbea6ad4c9aa0a482bb0c94e7508dbaec";

const V5_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
const V5_CIPHERTEXT: &str = "Lglu3yIwzipSnn70TJdfiUHEC87gbtK16tmy67FgPTI=";
const V5_PLAIN: &[u8] = b"%PDF-1.4 gateway media test\n";

fn bot() -> Crypto {
    Crypto::new(BOT_TOKEN, BOT_KEY, "").unwrap()
}

fn app() -> Crypto {
    Crypto::new(APP_TOKEN, APP_KEY, APP_CORP).unwrap()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn key_with_trailing_bits_decodes_like_python_and_node() {
    // STANDARD rejects this key (its last symbol has non-zero unused bits).
    assert!(STANDARD.decode(format!("{BOT_KEY}=")).is_err());
    let key = decode_key(BOT_KEY).unwrap();
    assert_eq!(
        key.to_vec(),
        unhex("69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051")
    );
    assert_eq!(bot().iv.to_vec(), unhex("69b71d79f8218a39259a7a29aabb2dba"));
    // With an explicit `=` it is the same key.
    assert_eq!(decode_key(&format!("{BOT_KEY}=")).unwrap(), key);
}

#[test]
fn bad_keys_are_rejected_without_echoing_them() {
    for key in [
        "",
        "short",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF",
        "!!!!abcdefghijklmnopqrstuvwxyz0123456789ABC",
    ] {
        let err = Crypto::new(BOT_TOKEN, key, "").unwrap_err();
        assert_eq!(err, CryptoError::BadKey);
        if !key.is_empty() {
            assert!(!err.to_string().contains(key));
        }
    }
    assert!(!format!("{:?}", bot()).contains(BOT_TOKEN));
}

#[test]
fn v1_inbound_text_callback() {
    let c = bot();
    assert_eq!(c.signature("1717171717", "nonce123456", V1_ENCRYPT), V1_SIGNATURE);
    c.verify(V1_SIGNATURE, "1717171717", "nonce123456", V1_ENCRYPT).unwrap();
    let plain = c.open(V1_SIGNATURE, "1717171717", "nonce123456", V1_ENCRYPT).unwrap();
    assert_eq!(plain.len(), 262);
    assert_eq!(plain, V1_PLAIN.as_bytes());
    assert_eq!(c.decrypt_text(V1_ENCRYPT).unwrap(), V1_PLAIN);
    assert_eq!(
        c.encrypt_with_prefix(V1_PLAIN.as_bytes(), b"RANDOM16BYTES!!!"),
        V1_ENCRYPT
    );
}

#[test]
fn v2_passive_reply_first_stream_frame() {
    let c = bot();
    assert_eq!(V2_PLAIN.len(), 89);
    let encrypt = c.encrypt_with_prefix(V2_PLAIN.as_bytes(), b"0123456789abcdef");
    assert_eq!(encrypt, V2_ENCRYPT);
    assert_eq!(c.signature("1717171718", "replyNonce42", V2_ENCRYPT), V2_SIGNATURE);
    assert_eq!(c.decrypt_text(V2_ENCRYPT).unwrap(), V2_PLAIN);
    let body = c.passive_reply_from(encrypt, "1717171718", "replyNonce42");
    assert_eq!(
        body,
        format!(
            r#"{{"encrypt":"{V2_ENCRYPT}","msgsignature":"{V2_SIGNATURE}","timestamp":1717171718,"nonce":"replyNonce42"}}"#
        )
    );
}

#[test]
fn passive_reply_with_random_prefix_round_trips() {
    let c = bot();
    let body: serde_json::Value =
        serde_json::from_str(&c.passive_reply(V2_PLAIN, "1717171718", "replyNonce42")).unwrap();
    let encrypt = body["encrypt"].as_str().unwrap();
    assert_ne!(encrypt, V2_ENCRYPT, "prefix must be random");
    assert_eq!(body["timestamp"], 1_717_171_718);
    assert_eq!(body["nonce"], "replyNonce42");
    c.verify(
        body["msgsignature"].as_str().unwrap(),
        "1717171718",
        "replyNonce42",
        encrypt,
    )
    .unwrap();
    assert_eq!(c.decrypt_text(encrypt).unwrap(), V2_PLAIN);
    // A non-numeric timestamp is echoed as a string, still signed as given.
    let body: serde_json::Value = serde_json::from_str(&c.passive_reply("{}", "17x", "n")).unwrap();
    assert_eq!(body["timestamp"], "17x");
}

#[test]
fn v3_url_verification() {
    let c = bot();
    assert_eq!(c.signature("1717171700", "echoNonce7", V3_ECHOSTR), V3_SIGNATURE);
    assert_eq!(
        c.verify_url(V3_SIGNATURE, "1717171700", "echoNonce7", V3_ECHOSTR)
            .unwrap(),
        "8345672345678123456"
    );
    assert_eq!(
        c.encrypt_with_prefix(b"8345672345678123456", b"abcdefghijklmnop"),
        V3_ECHOSTR
    );
    assert_eq!(
        c.verify_url(V3_SIGNATURE, "1717171701", "echoNonce7", V3_ECHOSTR),
        Err(CryptoError::BadSignature)
    );
}

#[test]
fn v4_app_callback_checks_the_corp_id() {
    let c = app();
    assert_eq!(c.signature("1409659813", "1372623149", V4_ENCRYPT), V4_SIGNATURE);
    let plain = c.open(V4_SIGNATURE, "1409659813", "1372623149", V4_ENCRYPT).unwrap();
    assert_eq!(plain.len(), 281);
    assert_eq!(plain, V4_PLAIN.as_bytes());
    assert_eq!(
        c.encrypt_with_prefix(V4_PLAIN.as_bytes(), b"0123456789abcdef"),
        V4_ENCRYPT
    );

    let other_corp = Crypto::new(APP_TOKEN, APP_KEY, "ww0000000000000000").unwrap();
    assert_eq!(other_corp.decrypt(V4_ENCRYPT), Err(CryptoError::ReceiveIdMismatch));
    let prefix_corp = Crypto::new(APP_TOKEN, APP_KEY, "ww1234567890abcde").unwrap();
    assert_eq!(prefix_corp.decrypt(V4_ENCRYPT), Err(CryptoError::ReceiveIdMismatch));
    // An unconfigured receive id ignores the trailing bytes.
    let no_corp = Crypto::new(APP_TOKEN, APP_KEY, "").unwrap();
    assert_eq!(no_corp.decrypt(V4_ENCRYPT).unwrap(), V4_PLAIN.as_bytes());
    // And a smart-bot message (no receive id) fails a CorpID check.
    let bot_payload = Crypto::new(APP_TOKEN, APP_KEY, "").unwrap().encrypt(b"{}");
    assert_eq!(c.decrypt(&bot_payload), Err(CryptoError::ReceiveIdMismatch));
}

#[test]
fn app_passive_reply_xml_is_signed_and_well_formed() {
    let c = app();
    let xml = c.app_passive_reply_from(V4_ENCRYPT.to_owned(), "1409659813", "1372623149");
    assert_eq!(
        xml,
        format!(
            "<xml><Encrypt><![CDATA[{V4_ENCRYPT}]]></Encrypt><MsgSignature><![CDATA[{V4_SIGNATURE}]]></MsgSignature><TimeStamp>1409659813</TimeStamp><Nonce><![CDATA[1372623149]]></Nonce></xml>"
        )
    );
    let random = c.app_passive_reply_xml("<xml/>", "1", "n]]>x");
    assert!(
        random.contains("<Nonce><![CDATA[n]]]]><![CDATA[>x]]></Nonce>"),
        "{random}"
    );
}

#[test]
fn v5_media_decryption() {
    let data = STANDARD.decode(V5_CIPHERTEXT).unwrap();
    assert_eq!(decrypt_media(V5_KEY, &data).unwrap(), V5_PLAIN);
    assert_eq!(decrypt_media(V5_KEY.trim_end_matches('='), &data).unwrap(), V5_PLAIN);
    assert_eq!(decrypt_media("c2hvcnQ=", &data), Err(CryptoError::BadKey));
    assert!(matches!(
        decrypt_media(V5_KEY, &data[..31]),
        Err(CryptoError::Decrypt(_))
    ));
    assert!(matches!(decrypt_media(V5_KEY, &[]), Err(CryptoError::Decrypt(_))));
}

#[test]
fn v5_media_encryption_round_trips() {
    let data = STANDARD.decode(V5_CIPHERTEXT).unwrap();
    assert_eq!(encrypt_media(V5_KEY, V5_PLAIN).unwrap(), data);
    let blocks = [7u8; 64];
    let sealed = encrypt_media(V5_KEY, &blocks).unwrap();
    assert_eq!(sealed.len(), 96, "whole blocks get a whole block of padding");
    assert_eq!(decrypt_media(V5_KEY, &sealed).unwrap(), blocks);
    assert_eq!(encrypt_media("c2hvcnQ=", &blocks), Err(CryptoError::BadKey));
}

#[test]
fn bot_media_uses_the_bot_key() {
    // Build a media blob the way WeCom does: AES with the bot key, PKCS#7 to 32, no header.
    let c = bot();
    let mut buf = b"\x89PNG fake image bytes".to_vec();
    pad32(&mut buf);
    let enc = cbc::Encryptor::<Aes256>::inner_iv_init(c.cipher.clone(), (&c.iv).into())
        .encrypt_padded_vec_mut::<NoPadding>(&buf);
    assert_eq!(c.decrypt_bot_media(&enc).unwrap(), b"\x89PNG fake image bytes");
}

#[test]
fn tampered_ciphertext_fails_signature_and_decryption() {
    let c = bot();
    let mut bytes = STANDARD.decode(V1_ENCRYPT).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let tampered = STANDARD.encode(&bytes);
    assert_eq!(
        c.open(V1_SIGNATURE, "1717171717", "nonce123456", &tampered),
        Err(CryptoError::BadSignature)
    );
    // Flipping a bit of the last block scrambles the padding.
    assert!(matches!(c.decrypt(&tampered), Err(CryptoError::Decrypt(_))));
}

#[test]
fn wrong_token_or_signature_is_rejected() {
    let other = Crypto::new("another-token", BOT_KEY, "").unwrap();
    assert_eq!(
        other.verify(V1_SIGNATURE, "1717171717", "nonce123456", V1_ENCRYPT),
        Err(CryptoError::BadSignature)
    );
    let c = bot();
    assert_eq!(
        c.verify(&V1_SIGNATURE.to_uppercase(), "1717171717", "nonce123456", V1_ENCRYPT),
        Ok(())
    );
    for sig in ["", "d9b8", &V1_SIGNATURE.replace('d', "e")] {
        assert_eq!(
            c.verify(sig, "1717171717", "nonce123456", V1_ENCRYPT),
            Err(CryptoError::BadSignature)
        );
    }
}

/// Encrypts raw `plain` (already laid out) without adding padding.
fn raw_encrypt(c: &Crypto, plain: &[u8]) -> String {
    let enc = cbc::Encryptor::<Aes256>::inner_iv_init(c.cipher.clone(), (&c.iv).into())
        .encrypt_padded_vec_mut::<NoPadding>(plain);
    STANDARD.encode(enc)
}

#[test]
fn bad_padding_is_rejected() {
    let c = bot();
    let mut layout = b"0123456789abcdef\x00\x00\x00\x02hi".to_vec();
    layout.resize(32, 0); // pad byte 0
    assert_eq!(
        c.decrypt(&raw_encrypt(&c, &layout)),
        Err(CryptoError::Decrypt("bad padding"))
    );
    layout[31] = 33; // above the block
    assert_eq!(
        c.decrypt(&raw_encrypt(&c, &layout)),
        Err(CryptoError::Decrypt("bad padding"))
    );
    layout[22..].fill(10);
    layout[25] = 9; // inconsistent pad bytes
    assert_eq!(
        c.decrypt(&raw_encrypt(&c, &layout)),
        Err(CryptoError::Decrypt("bad padding"))
    );
    layout[25] = 10;
    assert_eq!(c.decrypt(&raw_encrypt(&c, &layout)).unwrap(), b"hi");
}

#[test]
fn truncated_and_malformed_input_is_rejected() {
    let c = bot();
    let bytes = STANDARD.decode(V1_ENCRYPT).unwrap();
    let cut = STANDARD.encode(&bytes[..bytes.len() - 5]);
    assert!(matches!(c.decrypt(&cut), Err(CryptoError::Decrypt(_))));
    assert!(matches!(c.decrypt(""), Err(CryptoError::Decrypt(_))));
    assert_eq!(c.decrypt("not base64!"), Err(CryptoError::Base64));
    // Shorter than the 20-byte header once unpadded.
    let mut short = b"0123456789".to_vec();
    pad32(&mut short);
    assert_eq!(
        c.decrypt(&raw_encrypt(&c, &short)),
        Err(CryptoError::Decrypt("message shorter than its header"))
    );
}

#[test]
fn oversized_length_field_is_rejected() {
    let c = bot();
    for len in [3u32, 0x7fff_ffff, u32::MAX] {
        let mut layout = b"0123456789abcdef".to_vec();
        layout.extend_from_slice(&len.to_be_bytes());
        layout.extend_from_slice(b"hi");
        pad32(&mut layout);
        assert_eq!(
            c.decrypt(&raw_encrypt(&c, &layout)),
            Err(CryptoError::Decrypt("length field exceeds the message"))
        );
    }
}

#[test]
fn round_trips_every_padding_length() {
    let c = app();
    for n in 0..80 {
        let msg = vec![b'x'; n];
        let enc = c.encrypt(&msg);
        assert_eq!(c.decrypt(&enc).unwrap(), msg, "{n}");
    }
    assert_eq!(c.decrypt_text(&c.encrypt(&[0xff, 0xfe])), Err(CryptoError::Utf8));
}
