//! A counting HTTP proxy: put in front of moto (or of the gateway) to count, per operation, the
//! requests the real code paths make — what AWS bills per message.
//!
//! AWS calls are named by their `X-Amz-Target` (`DynamoDB_20120810.PutItem` → `dynamodb:PutItem`,
//! `AmazonSQS.SendMessage` → `sqs:SendMessage`, `TrentService.Decrypt` → `kms:Decrypt`); other
//! requests by method and path with ids left out (`POST /api/wecom/webhook`). DynamoDB capacity
//! is estimated from sizes the way on-demand mode bills it: a write unit per started 1 KB of each
//! item written (two in a transaction), a read unit per started 4 KB read (half for an eventually
//! consistent read, two in a transaction). The estimate uses request and response sizes, so it
//! errs high by the few bytes of JSON around the items.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// What one operation cost so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OpCount {
    /// Requests.
    pub requests: u64,
    /// Estimated DynamoDB write capacity units (0 for other services).
    pub write_units: f64,
    /// Estimated DynamoDB read capacity units (0 for other services).
    pub read_units: f64,
    /// Milliseconds the upstream took to answer, all requests together (for the gateway's
    /// webhooks: what a webhook function invocation would be billed for).
    pub millis: f64,
}

/// Counts by operation name.
pub type Counts = BTreeMap<String, OpCount>;

/// The proxy; clones share its counts.
#[derive(Clone)]
pub struct CountingProxy {
    /// `http://127.0.0.1:<port>`: point clients here instead of at the upstream.
    pub endpoint: String,
    counts: Arc<Mutex<Counts>>,
    by_item: Arc<Mutex<Counts>>,
}

#[derive(Clone)]
struct Shared {
    upstream: String,
    http: reqwest::Client,
    counts: Arc<Mutex<Counts>>,
    by_item: Arc<Mutex<Counts>>,
}

impl CountingProxy {
    /// Starts a proxy forwarding everything to `upstream` (e.g. moto's endpoint).
    ///
    /// # Panics
    /// When it cannot listen.
    pub async fn start(upstream: &str) -> Self {
        let counts: Arc<Mutex<Counts>> = Arc::default();
        let by_item: Arc<Mutex<Counts>> = Arc::default();
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            counts: counts.clone(),
            by_item: by_item.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the counting proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("proxy address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            endpoint,
            counts,
            by_item,
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        lock(&self.counts).clone()
    }

    /// The DynamoDB counts so far, by operation and the kind of item it touched
    /// (`dynamodb:PutItem EVENTS`, `dynamodb:GetItem DEDUPE replied`): where the requests go.
    pub fn counts_by_item(&self) -> Counts {
        lock(&self.by_item).clone()
    }
}

fn lock(counts: &Mutex<Counts>) -> MutexGuard<'_, Counts> {
    counts.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What `later` counted beyond `earlier`.
#[must_use]
pub fn since(later: &Counts, earlier: &Counts) -> Counts {
    later
        .iter()
        .filter_map(|(op, count)| {
            let before = earlier.get(op).copied().unwrap_or_default();
            let delta = OpCount {
                requests: count.requests - before.requests,
                write_units: count.write_units - before.write_units,
                read_units: count.read_units - before.read_units,
                millis: count.millis - before.millis,
            };
            (delta.requests > 0).then(|| (op.clone(), delta))
        })
        .collect()
}

async fn forward(State(shared): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let url = format!(
        "{}{}",
        shared.upstream,
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut request = shared.http.request(method.clone(), url).body(body.clone());
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let started = std::time::Instant::now();
    let (status, response_headers, response_body) = match request.send().await {
        Ok(response) => {
            let status = response.status();
            let headers = response.headers().clone();
            (status, headers, response.bytes().await.unwrap_or_default())
        }
        Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    };
    let item = target
        .as_deref()
        .filter(|t| t.starts_with("DynamoDB"))
        .map(|_| item_kind(&body));
    let (op, count) = match &target {
        Some(target) => aws_op(target, &body, &response_body),
        None => (
            format!("{method} {}", without_ids(uri.path())),
            OpCount {
                requests: 1,
                ..OpCount::default()
            },
        ),
    };
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    if let Some(item) = item {
        add(&mut lock(&shared.by_item), format!("{op} {item}"), count, millis);
    }
    add(&mut lock(&shared.counts), op, count, millis);
    let mut response = (status, response_body).into_response();
    for (name, value) in &response_headers {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}

fn add(counts: &mut Counts, op: String, count: OpCount, millis: f64) {
    let entry = counts.entry(op).or_default();
    entry.requests += count.requests;
    entry.write_units += count.write_units;
    entry.read_units += count.read_units;
    entry.millis += millis;
}

/// The kind of item a DynamoDB request touches: its partition key's prefix (`EVENTS`,
/// `SESSION`), with the claim's or stream's own prefix for dedupe claims and streams
/// (`DEDUPE replied`, `STREAM answer`), and the index for index queries.
fn item_kind(request: &[u8]) -> String {
    let body: Value = serde_json::from_slice(request).unwrap_or_default();
    let key = body["Key"]["pk"]["S"]
        .as_str()
        .or_else(|| body["Item"]["pk"]["S"].as_str())
        .or_else(|| {
            body["ExpressionAttributeValues"].as_object().and_then(|values| {
                values
                    .values()
                    .find_map(|v| v["S"].as_str().filter(|s| s.contains('#')))
            })
        })
        .unwrap_or("");
    let (prefix, rest) = key.split_once('#').unwrap_or((key, ""));
    let mut kind = if prefix.is_empty() {
        "?".to_owned()
    } else {
        prefix.to_owned()
    };
    let rest = rest.split_once('#').map_or(rest, |(_, after)| after);
    if let Some((sub, _)) = rest.split_once(':')
        && (prefix == "DEDUPE" || prefix == "STREAM")
        && sub.chars().all(|c| c.is_ascii_lowercase())
    {
        kind = format!("{kind} {sub}");
    }
    if let Some(index) = body["IndexName"].as_str() {
        kind = format!("{kind} ({index})");
    }
    kind
}

/// `/api/wecom/webhook/<id>` → `/api/wecom/webhook`.
fn without_ids(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["", "api", platform, route, _id] => format!("/api/{platform}/{route}"),
        _ => path.to_owned(),
    }
}

/// The operation's name and its estimated capacity.
fn aws_op(target: &str, request: &[u8], response: &[u8]) -> (String, OpCount) {
    let (service, operation) = target.split_once('.').unwrap_or((target, ""));
    let service = if service.starts_with("DynamoDB") {
        "dynamodb"
    } else if service.starts_with("AmazonSQS") {
        "sqs"
    } else if service.starts_with("TrentService") {
        "kms"
    } else {
        service
    };
    let mut count = OpCount {
        requests: 1,
        ..OpCount::default()
    };
    if service == "dynamodb" {
        let body: Value = serde_json::from_slice(request).unwrap_or_default();
        let consistent = body["ConsistentRead"] == true;
        let read = |bytes: usize, factor: f64| bytes.div_ceil(4096).max(1) as f64 * factor;
        match operation {
            "PutItem" | "UpdateItem" | "DeleteItem" => count.write_units = request.len().div_ceil(1024).max(1) as f64,
            "TransactWriteItems" => {
                let items = body["TransactItems"].as_array().map_or(1, Vec::len).max(1);
                count.write_units = 2.0 * (request.len().div_ceil(1024) as f64).max(items as f64);
            }
            "BatchWriteItem" => {
                let items: usize = body["RequestItems"].as_object().map_or(1, |tables| {
                    tables.values().filter_map(Value::as_array).map(Vec::len).sum()
                });
                count.write_units = (request.len().div_ceil(1024) as f64).max(items as f64);
            }
            "GetItem" | "Query" | "Scan" => {
                count.read_units = read(response.len(), if consistent { 1.0 } else { 0.5 });
            }
            "TransactGetItems" => count.read_units = read(response.len(), 2.0),
            "BatchGetItem" => count.read_units = read(response.len(), 0.5),
            _ => {}
        }
    }
    (format!("{service}:{operation}"), count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_named_and_costed_as_on_demand_bills_them() {
        let put = vec![b' '; 1500];
        assert_eq!(aws_op("DynamoDB_20120810.PutItem", &put, b"{}").1.write_units, 2.0);
        let (op, count) = aws_op("AmazonSQS.SendMessage", b"{}", b"{}");
        assert_eq!(
            (op.as_str(), count.requests, count.write_units),
            ("sqs:SendMessage", 1, 0.0)
        );
        let get = br#"{"ConsistentRead":true}"#;
        assert_eq!(aws_op("DynamoDB_20120810.GetItem", get, b"{}").1.read_units, 1.0);
        assert_eq!(aws_op("DynamoDB_20120810.GetItem", b"{}", b"{}").1.read_units, 0.5);
        let transact = br#"{"TransactItems":[{},{},{}]}"#;
        assert_eq!(
            aws_op("DynamoDB_20120810.TransactWriteItems", transact, b"{}")
                .1
                .write_units,
            6.0
        );
        assert_eq!(without_ids("/api/wecom/webhook/abc"), "/api/wecom/webhook");
        let claim = br#"{"Item":{"pk":{"S":"DEDUPE#replied:int_1:ev"}}}"#;
        assert_eq!(item_kind(claim), "DEDUPE replied");
        let answer = br#"{"Key":{"pk":{"S":"STREAM#int_1#answer:int_1:ev"}}}"#;
        assert_eq!(item_kind(answer), "STREAM answer");
        let events = br#"{"Item":{"pk":{"S":"EVENTS#int_1"},"sk":{"S":"1#a"}}}"#;
        assert_eq!(item_kind(events), "EVENTS");
    }
}
