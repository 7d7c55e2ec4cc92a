//! The long connection's frame, `pbbp2.Frame` (protocols/lark.md §3.4), written by hand: proto2,
//! so the four required scalars (SeqID, LogID, service, method) are on the wire even when 0, and
//! every field goes out in ascending field order, as the official SDKs' serializers emit them.

use std::fmt;

use serde_json::Value;

/// `method` of a control frame (`ping`, `pong`).
pub const METHOD_CONTROL: i32 = 0;
/// `method` of a data frame (`event`, `card`).
pub const METHOD_DATA: i32 = 1;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH_DELIMITED: u8 = 2;
const FIXED32: u8 = 5;

/// One `pbbp2.Frame`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frame {
    /// Field 1, `SeqID`.
    pub seq_id: u64,
    /// Field 2, `LogID`.
    pub log_id: u64,
    /// Field 3, `service`: the `service_id` of the connection URL.
    pub service: i32,
    /// Field 4, `method`: [`METHOD_CONTROL`] or [`METHOD_DATA`].
    pub method: i32,
    /// Field 5, the headers as `(key, value)` in wire order.
    pub headers: Vec<(String, String)>,
    /// Field 6, never set by the SDKs.
    pub payload_encoding: Option<String>,
    /// Field 7, never set by the SDKs.
    pub payload_type: Option<String>,
    /// Field 8.
    pub payload: Option<Vec<u8>>,
    /// Field 9, never set by the SDKs.
    pub log_id_new: Option<String>,
}

/// A frame read from the wire, with the required fields it lacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The frame; a missing required field reads as 0.
    pub frame: Frame,
    /// Numbers (1–4) of the required fields that were not on the wire.
    pub missing: Vec<u32>,
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(String);

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a pbbp2 frame: {}", self.0)
    }
}

impl std::error::Error for FrameError {}

fn error(what: impl Into<String>) -> FrameError {
    FrameError(what.into())
}

impl Frame {
    /// A control frame of header `type` `kind` (`ping`, `pong`).
    pub fn control(service: i32, kind: &str, payload: Option<Vec<u8>>) -> Self {
        Self {
            service,
            method: METHOD_CONTROL,
            headers: vec![("type".to_owned(), kind.to_owned())],
            payload,
            ..Self::default()
        }
    }

    /// The value of the first header named `key`.
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The payload parsed as JSON.
    pub fn payload_json(&self) -> Option<Value> {
        serde_json::from_slice(self.payload.as_deref()?).ok()
    }

    /// The protobuf bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_varint_field(&mut out, 1, self.seq_id);
        put_varint_field(&mut out, 2, self.log_id);
        put_varint_field(&mut out, 3, int32_wire(self.service));
        put_varint_field(&mut out, 4, int32_wire(self.method));
        for (key, value) in &self.headers {
            let mut header = Vec::new();
            put_bytes_field(&mut header, 1, key.as_bytes());
            put_bytes_field(&mut header, 2, value.as_bytes());
            put_bytes_field(&mut out, 5, &header);
        }
        if let Some(v) = &self.payload_encoding {
            put_bytes_field(&mut out, 6, v.as_bytes());
        }
        if let Some(v) = &self.payload_type {
            put_bytes_field(&mut out, 7, v.as_bytes());
        }
        if let Some(v) = &self.payload {
            put_bytes_field(&mut out, 8, v);
        }
        if let Some(v) = &self.log_id_new {
            put_bytes_field(&mut out, 9, v.as_bytes());
        }
        out
    }

    /// Reads a frame, skipping unknown fields and noting the required ones that were absent.
    pub fn decode(bytes: &[u8]) -> Result<Decoded, FrameError> {
        let mut reader = Reader { bytes, pos: 0 };
        let mut frame = Self::default();
        let mut seen = [false; 4];
        while let Some((field, wire)) = reader.tag()? {
            match (field, wire) {
                (1, VARINT) => frame.seq_id = reader.varint()?,
                (2, VARINT) => frame.log_id = reader.varint()?,
                (3, VARINT) => frame.service = int32_from_wire(reader.varint()?),
                (4, VARINT) => frame.method = int32_from_wire(reader.varint()?),
                (5, LENGTH_DELIMITED) => frame.headers.push(decode_header(reader.bytes()?)?),
                (6, LENGTH_DELIMITED) => frame.payload_encoding = Some(utf8(reader.bytes()?)?),
                (7, LENGTH_DELIMITED) => frame.payload_type = Some(utf8(reader.bytes()?)?),
                (8, LENGTH_DELIMITED) => frame.payload = Some(reader.bytes()?.to_vec()),
                (9, LENGTH_DELIMITED) => frame.log_id_new = Some(utf8(reader.bytes()?)?),
                (1..=9, _) => return Err(error(format!("field {field} has wire type {wire}"))),
                _ => reader.skip(wire)?,
            }
            if (1..=4).contains(&field) {
                seen[field as usize - 1] = true;
            }
        }
        let missing = (1..=4).filter(|f| !seen[*f as usize - 1]).collect();
        Ok(Decoded { frame, missing })
    }
}

/// An int32 on the wire: negative values are sign-extended to ten bytes.
fn int32_wire(value: i32) -> u64 {
    i64::from(value) as u64
}

/// The low 32 bits of a varint, as protobuf reads an int32.
fn int32_from_wire(value: u64) -> i32 {
    value as u32 as i32
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    put_tag(out, field, VARINT);
    put_varint(out, value);
}

fn put_bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_tag(out, field, LENGTH_DELIMITED);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn utf8(bytes: &[u8]) -> Result<String, FrameError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| error("a string field is not UTF-8"))
}

fn decode_header(bytes: &[u8]) -> Result<(String, String), FrameError> {
    let mut reader = Reader { bytes, pos: 0 };
    let (mut key, mut value) = (None, None);
    while let Some((field, wire)) = reader.tag()? {
        match (field, wire) {
            (1, LENGTH_DELIMITED) => key = Some(utf8(reader.bytes()?)?),
            (2, LENGTH_DELIMITED) => value = Some(utf8(reader.bytes()?)?),
            (1 | 2, _) => return Err(error(format!("header field {field} has wire type {wire}"))),
            _ => reader.skip(wire)?,
        }
    }
    match (key, value) {
        (Some(key), Some(value)) => Ok((key, value)),
        _ => Err(error("a header lacks its required key or value")),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// The next field number and wire type, `None` at the end.
    fn tag(&mut self) -> Result<Option<(u32, u8)>, FrameError> {
        if self.pos == self.bytes.len() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let field = u32::try_from(tag >> 3).map_err(|_| error("field number out of range"))?;
        if field == 0 {
            return Err(error("field number 0"));
        }
        Ok(Some((field, (tag & 7) as u8)))
    }

    fn varint(&mut self) -> Result<u64, FrameError> {
        let mut value = 0_u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.pos).ok_or_else(|| error("truncated varint"))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(error("varint longer than ten bytes"))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], FrameError> {
        let end = self.pos.checked_add(len).filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| error("truncated field"))?;
        let bytes = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn bytes(&mut self) -> Result<&'a [u8], FrameError> {
        let len = usize::try_from(self.varint()?).map_err(|_| error("length out of range"))?;
        self.take(len)
    }

    fn skip(&mut self, wire: u8) -> Result<(), FrameError> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LENGTH_DELIMITED => self.bytes().map(drop),
            FIXED32 => self.take(4).map(drop),
            _ => Err(error(format!("wire type {wire}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of protocols/lark.md §3.10, made with the official SDK's generated code.
    const PING: &str = "08001000187b20002a0c0a0474797065120470696e67";
    const PONG: &str = "08001000187b20002a0c0a04747970651204706f6e6742547b2250696e67496e74657276616c223a3132302c225265636f6e6e656374436f756e74223a2d312c225265636f6e6e656374496e74657276616c223a3132302c225265636f6e6e6563744e6f6e6365223a33307d";
    const EVENT: &str = "0807102a187b20012a0d0a047479706512056576656e742a150a0a6d6573736167655f696412076d73672d6162632a080a0373756d1201312a080a037365711201302a150a0874726163655f6964120974726163652d78797a42607b22736368656d61223a22322e30222c22686561646572223a7b226576656e745f6964223a2265765f30303031222c226576656e745f74797065223a22696d2e6d6573736167652e726563656976655f7631227d2c226576656e74223a7b7d7d";
    const ACK: &str = "0807102a187b20012a0d0a047479706512056576656e742a150a0a6d6573736167655f696412076d73672d6162632a080a0373756d1201312a080a037365711201302a150a0874726163655f6964120974726163652d78797a2a0b0a0662697a5f7274120135420d7b22636f6465223a203230307d";
    const EVENT_PAYLOAD: &str =
        r#"{"schema":"2.0","header":{"event_id":"ev_0001","event_type":"im.message.receive_v1"},"event":{}}"#;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn event_frame() -> Frame {
        Frame {
            seq_id: 7,
            log_id: 42,
            service: 123,
            method: METHOD_DATA,
            headers: headers(&[
                ("type", "event"),
                ("message_id", "msg-abc"),
                ("sum", "1"),
                ("seq", "0"),
                ("trace_id", "trace-xyz"),
            ]),
            payload: Some(EVENT_PAYLOAD.as_bytes().to_vec()),
            ..Frame::default()
        }
    }

    #[test]
    fn ping_is_written_with_its_zero_fields() {
        let ping = Frame::control(123, "ping", None);
        assert_eq!(ping.encode(), hex(PING));
        let decoded = Frame::decode(&hex(PING)).unwrap();
        assert_eq!(decoded.frame, ping);
        assert!(decoded.missing.is_empty());
    }

    #[test]
    fn pong_with_config_matches_the_vector() {
        let config = r#"{"PingInterval":120,"ReconnectCount":-1,"ReconnectInterval":120,"ReconnectNonce":30}"#;
        let pong = Frame::control(123, "pong", Some(config.as_bytes().to_vec()));
        assert_eq!(pong.encode(), hex(PONG));
        let decoded = Frame::decode(&hex(PONG)).unwrap().frame;
        assert_eq!(decoded.header("type"), Some("pong"));
        assert_eq!(decoded.payload_json().unwrap()["ReconnectCount"], -1);
    }

    #[test]
    fn event_frame_matches_the_vector() {
        assert_eq!(event_frame().encode(), hex(EVENT));
        assert_eq!(Frame::decode(&hex(EVENT)).unwrap().frame, event_frame());
    }

    #[test]
    fn ack_of_the_sdk_decodes_and_reencodes() {
        let decoded = Frame::decode(&hex(ACK)).unwrap();
        assert!(decoded.missing.is_empty());
        let ack = decoded.frame;
        let mut expected = event_frame();
        expected.headers.push(("biz_rt".to_owned(), "5".to_owned()));
        expected.payload = Some(br#"{"code": 200}"#.to_vec());
        assert_eq!(ack, expected);
        assert_eq!(ack.payload_json().unwrap()["code"], 200);
        assert_eq!(ack.encode(), hex(ACK));
    }

    #[test]
    fn negative_int32_takes_ten_bytes_and_round_trips() {
        let frame = Frame {
            service: -2,
            method: i32::MIN,
            ..Frame::default()
        };
        let bytes = frame.encode();
        assert_eq!(&bytes[4..15], &hex("18feffffffffffffffff01"));
        assert_eq!(Frame::decode(&bytes).unwrap().frame, frame);
    }

    #[test]
    fn optional_fields_round_trip_in_field_order() {
        let frame = Frame {
            seq_id: u64::MAX,
            payload_encoding: Some("gzip".to_owned()),
            payload_type: Some("json".to_owned()),
            payload: Some(vec![0, 255, 128]),
            log_id_new: Some("log-new".to_owned()),
            ..event_frame()
        };
        let bytes = frame.encode();
        assert_eq!(Frame::decode(&bytes).unwrap().frame, frame);
        // Fields 6, 7, 8 and 9 follow the headers, in that order.
        assert!(bytes.ends_with(b"\x32\x04gzip\x3a\x04json\x42\x03\x00\xff\x80\x4a\x07log-new"));
    }

    #[test]
    fn proto3_style_frame_is_flagged_for_its_missing_fields() {
        // A proto3 encoder drops the zero scalars: only service 123 and the ping header remain.
        let decoded = Frame::decode(&hex("187b2a0c0a0474797065120470696e67")).unwrap();
        assert_eq!(decoded.missing, vec![1, 2, 4]);
        assert_eq!(decoded.frame.header("type"), Some("ping"));
    }

    #[test]
    fn unknown_fields_are_skipped() {
        let mut bytes = hex(PING);
        bytes.extend_from_slice(&hex("5005")); // field 10, varint 5
        bytes.extend_from_slice(&hex("5a03616263")); // field 11, "abc"
        bytes.extend_from_slice(&hex("6101020304050607086d01020304")); // fields 12 (fixed64) and 13 (fixed32)
        assert_eq!(Frame::decode(&bytes).unwrap().frame, Frame::control(123, "ping", None));
    }

    #[test]
    fn broken_bytes_are_errors() {
        let ping = hex(PING);
        assert!(Frame::decode(&ping[..ping.len() - 1]).is_err());
        assert!(Frame::decode(&hex("08ffffffffffffffffffff01")).is_err());
        assert!(Frame::decode(&hex("0a0100")).is_err()); // field 1 as bytes
        assert!(Frame::decode(&hex("2a020a00")).is_err()); // header without value
        assert!(Frame::decode(&hex("4202ff")).is_err()); // length past the end
        assert!(Frame::decode(b"not protobuf at all").is_err());
    }
}
