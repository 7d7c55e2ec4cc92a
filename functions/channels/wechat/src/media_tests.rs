#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::STANDARD;
use imgate_core::event::MediaKind;

use super::*;

const KEY: [u8; 16] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
];

/// §11's AES-128-ECB vectors: plaintext and base64 ciphertext.
const VECTORS: [(&str, &str); 3] = [
    ("", "AGV+oUBlWkR4J0dwXUIvrQ=="),
    ("0123456789abcdef", "rr3TmxRAidXjHKzTW3oROgBlfqFAZVpEeCdHcF1CL60="),
    ("Hello, iLink CDN! 你好", "fsRUHPlm/0Fhgkhx0Va5pBsBO8UB7iL6MGIw5uFbGGY="),
];

#[test]
fn the_vectors_seal_and_open() {
    for (plain, sealed) in VECTORS {
        let sealed = STANDARD.decode(sealed).unwrap();
        assert_eq!(seal(&KEY, plain.as_bytes()), sealed, "{plain:?}");
        assert_eq!(open(&KEY, &sealed).unwrap(), plain.as_bytes(), "{plain:?}");
    }
}

#[test]
fn broken_ciphertexts_do_not_open() {
    let sealed = seal(&KEY, b"0123456789abcdef");
    assert_eq!(open(&KEY, &sealed[..31]), None, "not whole blocks");
    assert_eq!(open(&KEY, &[]), None);
    assert_eq!(open(&KEY, &sealed[..16]), None, "a block without its padding");
    let mut other = KEY;
    other[0] ^= 1;
    assert_eq!(open(&other, &sealed), None, "another key leaves bad padding");
}

#[test]
fn every_key_encoding_gives_the_same_key() {
    // §11: the hex form, base64 of the hex text (as the plugin sends it), base64 of the raw bytes.
    for encoded in [
        "00112233445566778899aabbccddeeff",
        "00112233445566778899AABBCCDDEEFF",
        "MDAxMTIyMzM0NDU1NjY3Nzg4OTlhYWJiY2NkZGVlZmY=",
        "MDAxMTIyMzM0NDU1NjY3Nzg4OTlhYWJiY2NkZGVlZmY",
        "ABEiM0RVZneImaq7zN3u/w==",
        "ABEiM0RVZneImaq7zN3u/w",
    ] {
        assert_eq!(key(encoded), Some(KEY), "{encoded}");
    }
    for bad in [
        "",
        "c2hvcnQ=",
        "not base64 at all!",
        "MDAxMTIyMzM0NDU1NjY3Nzg4OTlhYWJiY2NkZGVlZmZm",
    ] {
        assert_eq!(key(bad), None, "{bad}");
    }
}

fn item(url: Option<&str>, handle: Option<&str>) -> MediaRef {
    MediaRef {
        kind: MediaKind::Image,
        url: url.map(str::to_owned),
        key: handle.map(str::to_owned),
        name: None,
        mime: None,
        size: None,
        aes_key: None,
    }
}

#[test]
fn the_download_url_is_the_full_url_or_the_cdn_handle() {
    let fetcher = Fetcher::new(reqwest::Client::new(), &format!("{DEFAULT_CDN_URL}/"));
    // §11's URL vector.
    assert_eq!(
        fetcher.url(&item(None, Some("AbC+/=123&x"))).unwrap(),
        "https://novac2c.cdn.weixin.qq.com/c2c/download?encrypted_query_param=AbC%2B%2F%3D123%26x"
    );
    assert_eq!(
        fetcher
            .url(&item(Some("https://cdn.example/f?x=1"), Some("h")))
            .unwrap(),
        "https://cdn.example/f?x=1"
    );
    assert!(matches!(
        fetcher.url(&item(None, None)),
        Err(MediaError::Unsupported(_))
    ));
}
