//! AWS's published us-east-1 list prices and the deployment's sizes (infra/template.yaml,
//! infra/relay.yaml), turning measured requests into dollars. Kept beside the counts so the
//! cost tables in docs/cost.md are recomputed from what the code does, never typed by hand.

/// When these prices were taken from AWS's pricing pages (us-east-1, on-demand list prices).
pub const PRICE_DATE: &str = "2025-01 (DynamoDB on-demand after its 2024-11-01 price cut)";

/// DynamoDB on-demand: dollars per write request unit.
pub const DYNAMODB_WRU: f64 = 0.625 / 1e6;
/// DynamoDB on-demand: dollars per read request unit.
pub const DYNAMODB_RRU: f64 = 0.125 / 1e6;
/// SQS FIFO: dollars per request (each 64 KB chunk of a payload is a request; ours are small).
pub const SQS_FIFO_REQUEST: f64 = 0.50 / 1e6;
/// KMS: dollars per request.
pub const KMS_REQUEST: f64 = 0.03 / 1e4;
/// KMS: dollars per customer managed key and month.
pub const KMS_KEY_MONTH: f64 = 1.0;
/// API Gateway HTTP API: dollars per request (first 300 million a month).
pub const HTTP_API_REQUEST: f64 = 1.00 / 1e6;
/// Lambda: dollars per request.
pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
/// Lambda arm64: dollars per GB-second.
pub const LAMBDA_ARM_GB_SECOND: f64 = 0.000_013_333_4;
/// Fargate arm64 (Linux): dollars per vCPU-hour.
pub const FARGATE_ARM_VCPU_HOUR: f64 = 0.032_38;
/// Fargate arm64 (Linux): dollars per GB-hour.
pub const FARGATE_ARM_GB_HOUR: f64 = 0.003_56;

/// Every function's memory (infra/template.yaml, `Globals.Function.MemorySize`), in GB.
pub const LAMBDA_MEMORY_GB: f64 = 256.0 / 1024.0;
/// The relay task's default size (infra/relay.yaml `Cpu` 256, `Memory` 512).
pub const RELAY_VCPU: f64 = 0.25;
/// The relay task's memory in GB.
pub const RELAY_GB: f64 = 0.5;
/// Hours in AWS's billing month.
pub const HOURS_PER_MONTH: f64 = 730.0;

/// What one message uses, by component, in the units AWS bills.
#[derive(Debug, Default, Clone, Copy)]
pub struct Usage {
    /// DynamoDB write request units.
    pub write_units: f64,
    /// DynamoDB read request units.
    pub read_units: f64,
    /// SQS requests (the webhook's or relay's send, the event source's receive and delete, the
    /// dispatcher's visibility heartbeats).
    pub sqs_requests: f64,
    /// KMS requests.
    pub kms_requests: f64,
    /// API Gateway requests (every platform callback, WeCom's stream refreshes included).
    pub http_api_requests: f64,
    /// Lambda invocations (webhook and dispatcher functions).
    pub lambda_invocations: f64,
    /// Lambda seconds (webhook and dispatcher functions).
    pub lambda_seconds: f64,
}

/// Dollars by component.
#[derive(Debug, Default, Clone, Copy)]
pub struct Dollars {
    /// DynamoDB reads and writes.
    pub dynamodb: f64,
    /// SQS requests.
    pub sqs: f64,
    /// KMS requests.
    pub kms: f64,
    /// API Gateway requests.
    pub http_api: f64,
    /// Lambda requests and compute.
    pub lambda: f64,
}

impl Dollars {
    /// The sum.
    pub fn total(&self) -> f64 {
        self.dynamodb + self.sqs + self.kms + self.http_api + self.lambda
    }
}

/// What `usage` costs.
pub fn price(usage: &Usage) -> Dollars {
    Dollars {
        dynamodb: usage.write_units * DYNAMODB_WRU + usage.read_units * DYNAMODB_RRU,
        sqs: usage.sqs_requests * SQS_FIFO_REQUEST,
        kms: usage.kms_requests * KMS_REQUEST,
        http_api: usage.http_api_requests * HTTP_API_REQUEST,
        lambda: usage.lambda_invocations * LAMBDA_REQUEST
            + usage.lambda_seconds * LAMBDA_MEMORY_GB * LAMBDA_ARM_GB_SECOND,
    }
}

/// The relay task's cost per month when it runs all the time (one task, default size).
pub fn relay_month() -> f64 {
    (RELAY_VCPU * FARGATE_ARM_VCPU_HOUR + RELAY_GB * FARGATE_ARM_GB_HOUR) * HOURS_PER_MONTH
}

/// A bigger relay task for running the dispatcher at volume (infra/relay.yaml `Cpu` 1024,
/// `Memory` 2048).
pub const BIG_RELAY_VCPU: f64 = 1.0;
/// Its memory in GB.
pub const BIG_RELAY_GB: f64 = 2.0;

/// A relay task of `vcpu` and `gb` running all month.
pub fn task_month(vcpu: f64, gb: f64) -> f64 {
    (vcpu * FARGATE_ARM_VCPU_HOUR + gb * FARGATE_ARM_GB_HOUR) * HOURS_PER_MONTH
}

/// Messages a month above which the relay placement costs less than the function: the
/// placement's monthly `fixed` cost (a task, idle polling) over what it saves per message.
/// `None` when it saves nothing per message.
pub fn crossover(lambda: &Usage, relay: &Usage, fixed: f64) -> Option<f64> {
    let saved = price(lambda).total() - price(relay).total();
    (saved > 0.0).then(|| fixed.max(0.0) / saved)
}
