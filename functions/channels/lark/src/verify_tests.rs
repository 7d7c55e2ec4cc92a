//! Vectors 0–2 of `protocols/lark.md` §2.11, plus tampering and malformed input.

use super::*;

pub(crate) const KEY: &str = "test-encrypt-key-123";

const V0_KEY: &str = "test key";
const V0_ENCRYPT: &str = "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=";

pub(crate) const V1_PLAIN: &str =
    r#"{"challenge":"ajls384kdj","token":"test-verification-token","type":"url_verification"}"#;
pub(crate) const V1_BODY: &str = r#"{"encrypt":"AAECAwQFBgcICQoLDA0OD7PVZRoi4t4QIuY0sS8ZOosxlBrfKSR1bkSSzHMH6HnC/lvvQld5dqeZ0kifg+djDNIhEQa/pHsNuuBmo5rNUdTeXJzx29XTTLhRAo7xEGXu+lhK9IfYNtfpsd1I1+qa3A=="}"#;
const V1_IV: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

pub(crate) const V2_PLAIN: &str = r#"{"schema":"2.0","header":{"event_id":"ev_0001","event_type":"im.message.receive_v1","create_time":"1700000000000","token":"test-verification-token","app_id":"cli_test","tenant_key":"tk_test"},"event":{"sender":{"sender_id":{"open_id":"ou_user1","union_id":"on_user1","user_id":"u1"},"sender_type":"user","tenant_key":"tk_test"},"message":{"message_id":"om_msg1","chat_id":"oc_chat1","chat_type":"p2p","message_type":"text","content":"{\"text\":\"hi\"}","create_time":"1700000000000"}}}"#;
pub(crate) const V2_BODY: &str = r#"{"encrypt":"8OHSw7Sllod4aVpLPC0eD38VNRD+Ayvop/X+TTtuYlUadxM8oeyZZS0pDWeFC4wKM8ac6NAnra1gpKM9GRjfI29Gn+I/QVbs4qYIPvwaIzE34UL+91sxvEBrMG5MrohzkxQudPQlc5ywQ2ZNiUXfIrlp40Q8AOqjMmpOgPLrSFC8o/n3sndsnamnFZjiFe7vP7ExXwtdhBKc3c/InEauFMpAAJc9QWj4LPCkYDXw6aBgifRfpk16rB8BUDPa4hXxue0NMki+tiCqc1cvZGUtkHbGay92IvsEe6ZS/ezQ7UCTw07zG/odmpo/74U/YkQHesWxuUVpCZD5O4aRMBbYHQQVXzWFMmTObzrCYJ2Ku5QCnbq+TdMpLxNaCxQ4hmOugsm9ovFAxmt/AvCamopiKjJQsARW+GQYREVfCwUWd8WvVrKTr5Z4vC1IqhwCpe2iNleXiFZ6PlVbDQpn+gU8D8HQVjjyJTywek/LqlW5Gkk3BYOKzhr8/FFu8YKCNyea+nv21e/hA+wCZFD44vfUMv5ZGkgvpADdhXrOsN/NFngColMYJiAvZnLlZYE4D5Mjf7cZCK2H46cyrOqaskY8upLBxwQrjbL4CAw1COcXqte/JH2yikhohC3CVGlIWbWmHeryjyNEw+SeWeNQrs7cQq9pwAkXQFKZHX2h4QhxySg="}"#;
const V2_IV: [u8; 16] = [
    0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87, 0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f,
];
pub(crate) const V2_TIMESTAMP: &str = "1700000000";
pub(crate) const V2_NONCE: &str = "abc123nonce";
pub(crate) const V2_SIGNATURE: &str = "3f7de31c6fa614dc837107d78bd9dba9b8f614c219b30fc114a708beceed7894";

/// The `encrypt` value inside a `{"encrypt":"…"}` body.
fn encrypt_of(body: &str) -> &str {
    body.trim_start_matches(r#"{"encrypt":""#).trim_end_matches(r#""}"#)
}

#[test]
fn key_is_sha256_of_the_encrypt_key() {
    assert_eq!(
        format!("{:x}", Sha256::digest(KEY.as_bytes())),
        "aff8322503d0ebb7b56e0412376892a07ef99caeb094a8b4acea9df7113cb48f"
    );
}

#[test]
fn vector_0_documented_sample() {
    assert_eq!(
        EventCipher::new(V0_KEY).decrypt_text(V0_ENCRYPT).unwrap(),
        "hello world"
    );
}

#[test]
fn vector_1_decrypts_and_reencrypts_byte_for_byte() {
    let cipher = EventCipher::new(KEY);
    assert_eq!(cipher.decrypt_text(encrypt_of(V1_BODY)).unwrap(), V1_PLAIN);
    assert_eq!(cipher.encrypt_with_iv(V1_PLAIN.as_bytes(), &V1_IV), encrypt_of(V1_BODY));
}

#[test]
fn vector_2_decrypts_reencrypts_and_verifies() {
    let cipher = EventCipher::new(KEY);
    assert_eq!(cipher.decrypt_text(encrypt_of(V2_BODY)).unwrap(), V2_PLAIN);
    assert_eq!(cipher.encrypt_with_iv(V2_PLAIN.as_bytes(), &V2_IV), encrypt_of(V2_BODY));
    assert_eq!(signature(V2_TIMESTAMP, V2_NONCE, KEY, V2_BODY.as_bytes()), V2_SIGNATURE);
    verify_signature(V2_SIGNATURE, V2_TIMESTAMP, V2_NONCE, KEY, V2_BODY.as_bytes()).unwrap();
    verify_signature(
        &V2_SIGNATURE.to_ascii_uppercase(),
        V2_TIMESTAMP,
        V2_NONCE,
        KEY,
        V2_BODY.as_bytes(),
    )
    .unwrap();
}

#[test]
fn wrong_signatures_are_refused() {
    let body = V2_BODY.as_bytes();
    let zeros = "0".repeat(64);
    for (sig, ts, nonce, key) in [
        (zeros.as_str(), V2_TIMESTAMP, V2_NONCE, KEY),
        ("", V2_TIMESTAMP, V2_NONCE, KEY),
        (V2_SIGNATURE, "1700000001", V2_NONCE, KEY),
        (V2_SIGNATURE, V2_TIMESTAMP, "other", KEY),
        (V2_SIGNATURE, V2_TIMESTAMP, V2_NONCE, "other key"),
    ] {
        assert_eq!(
            verify_signature(sig, ts, nonce, key, body),
            Err(CryptoError::BadSignature)
        );
    }
    let mut tampered = body.to_vec();
    tampered.push(b' ');
    assert_eq!(
        verify_signature(V2_SIGNATURE, V2_TIMESTAMP, V2_NONCE, KEY, &tampered),
        Err(CryptoError::BadSignature)
    );
}

#[test]
fn round_trip_with_a_random_iv() {
    let cipher = EventCipher::new("k");
    for len in [0, 1, 15, 16, 17, 1000] {
        let plain = vec![b'x'; len];
        assert_eq!(cipher.decrypt(&cipher.encrypt(&plain)).unwrap(), plain);
    }
}

#[test]
fn malformed_ciphertexts_give_clear_errors() {
    let cipher = EventCipher::new(KEY);
    assert_eq!(cipher.decrypt("not base64!"), Err(CryptoError::Base64));
    assert_eq!(
        cipher.decrypt(&STANDARD.encode([0u8; 16])),
        Err(CryptoError::Decrypt("shorter than an IV and one block"))
    );
    assert_eq!(
        cipher.decrypt(&STANDARD.encode([0u8; 40])),
        Err(CryptoError::Decrypt("length is not a whole number of AES blocks"))
    );
    // The right shape under the wrong key decrypts to garbage padding.
    assert_eq!(
        EventCipher::new("wrong key").decrypt(encrypt_of(V1_BODY)),
        Err(CryptoError::Decrypt("bad padding"))
    );
    let invalid_utf8 = cipher.encrypt(&[0xff, 0xfe]);
    assert_eq!(cipher.decrypt_text(&invalid_utf8), Err(CryptoError::Utf8));
    let message = CryptoError::Decrypt("bad padding").to_string();
    assert!(!message.contains(KEY));
}

#[test]
fn timestamp_window() {
    let now = Timestamp::from_millis(1_700_000_000_000);
    let window = Duration::from_secs(300);
    check_timestamp("1700000000", now, window).unwrap();
    check_timestamp("1700000300", now, window).unwrap();
    check_timestamp(" 1699999700 ", now, window).unwrap();
    assert_eq!(
        check_timestamp("1699999699", now, window),
        Err(CryptoError::StaleTimestamp)
    );
    assert_eq!(
        check_timestamp("1700000301", now, window),
        Err(CryptoError::StaleTimestamp)
    );
    assert_eq!(check_timestamp("", now, window), Err(CryptoError::BadTimestamp));
    assert_eq!(check_timestamp("17e8", now, window), Err(CryptoError::BadTimestamp));
    assert_eq!(
        check_timestamp(&i64::MAX.to_string(), now, window),
        Err(CryptoError::BadTimestamp)
    );
}
