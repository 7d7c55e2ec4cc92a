//! The deployment templates agree with the code: infra/template.yaml (SAM) declares the table,
//! indexes, TTL attribute and queues the code creates in tests and reads at run time, hands every
//! function the environment variables the code reads, routes every webhook the router serves;
//! infra/relay.yaml imports what the SAM stack exports and hands the relay the same settings.
//!
//! The table and queues are compared with the ones `imgate_aws`'s own setup functions create on
//! moto's server, so the names and attributes come from the code, not from a copy here.

#[path = "template_names/cfn.rs"]
mod cfn;
#[path = "template_names/yaml.rs"]
mod yaml;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail, ensure};
use cfn::{code_queue, code_table, referenced, resource, template_queue, template_table, text, visit};
use http_body_util::BodyExt;
use imgate_aws::schema::{GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, GSI3, GSI3_PK, GSI3_SK, PK, SK, TTL};
use imgate_aws::{
    AwsSettings, DELAY_DLQ_URL_VAR, DELAY_QUEUE_URL_VAR, DLQ_URL_VAR, KMS_KEY_ID_VAR, QUEUE_URL_VAR, TABLE_VAR,
};
use imgate_core::platform::Platform;
use imgate_dispatcher_fn::config::{DEFAULT_MAX_RECEIVES, MAX_RECEIVES_VAR};
use imgate_tests::moto::{MotoServer, unique_name};
use tower::ServiceExt;
use yaml::Node;

const SAM_TEMPLATE: &str = include_str!("../../infra/template.yaml");
const RELAY_TEMPLATE: &str = include_str!("../../infra/relay.yaml");
const DOCKERFILE: &str = include_str!("../../infra/Dockerfile");

/// The longest an agent call may take (imgate_core's agent `timeout_seconds` range is 1..=900).
const AGENT_TIMEOUT_MAX_SECONDS: u64 = 900;

fn sam() -> Node {
    yaml::parse(SAM_TEMPLATE).expect("infra/template.yaml")
}

fn relay() -> Node {
    yaml::parse(RELAY_TEMPLATE).expect("infra/relay.yaml")
}

#[test]
fn table_keys_indexes_and_ttl_use_the_schema_names() {
    let template = sam();
    let table = template_table(&template);
    let hash_range = |h: &str, r: &str| vec![(h.to_owned(), "HASH".to_owned()), (r.to_owned(), "RANGE".to_owned())];
    assert_eq!(table.key, hash_range(PK, SK));
    assert_eq!(table.indexes[GSI1].0, hash_range(GSI1_PK, GSI1_SK));
    assert_eq!(table.indexes[GSI2].0, hash_range(GSI2_PK, GSI2_SK));
    assert_eq!(
        table.indexes[GSI3],
        (hash_range(GSI3_PK, GSI3_SK), "KEYS_ONLY".to_owned())
    );
    assert_eq!(table.indexes.len(), 3);
    assert_eq!(table.ttl, TTL);
    let table = resource(&template, "Table");
    assert_eq!(
        text(
            table,
            &["PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"]
        ),
        "true"
    );
}

#[tokio::test]
async fn table_is_the_one_the_code_creates() -> Result<()> {
    assert_eq!(template_table(&sam()), code_table().await?);
    Ok(())
}

#[tokio::test]
async fn queues_are_the_ones_the_code_creates() -> Result<()> {
    let client = aws_sdk_sqs::Client::new(&MotoServer::shared().sdk_config());
    let base = unique_name("template-names");
    let (queue, dlq) = imgate_aws::create_fifo_queue_with_dlq(&client, &base, DEFAULT_MAX_RECEIVES).await?;
    let (delay, delay_dlq) = imgate_aws::create_delay_queue_with_dlq(&client, &base, DEFAULT_MAX_RECEIVES).await?;
    let template = sam();
    let environment = template
        .at(&["Globals", "Function", "Environment", "Variables"])
        .context("Globals environment")?;
    for (variable, url) in [
        (QUEUE_URL_VAR, &queue),
        (DLQ_URL_VAR, &dlq),
        (DELAY_QUEUE_URL_VAR, &delay),
        (DELAY_DLQ_URL_VAR, &delay_dlq),
    ] {
        let resource_name = environment
            .get(variable)
            .and_then(referenced)
            .with_context(|| format!("{variable}: !Ref <queue>"))?;
        assert_eq!(
            template_queue(&template, resource_name, &base),
            code_queue(&client, url).await?,
            "{variable} ({resource_name})"
        );
    }
    Ok(())
}

#[test]
fn every_function_gets_the_settings_the_code_reads() -> Result<()> {
    let template = sam();
    let environment = template
        .at(&["Globals", "Function", "Environment", "Variables"])
        .context("Globals environment")?;
    let settings = AwsSettings::from_lookup(|name| environment.get(name).map(|_| format!("value of {name}")))?;
    ensure!(
        settings.delay_dead_letter_queue_url.is_some(),
        "{DELAY_DLQ_URL_VAR} is not set"
    );
    for (variable, resource_name) in [
        (TABLE_VAR, "Table"),
        (KMS_KEY_ID_VAR, "CredentialsKey"),
        ("RUST_LOG", "LogLevel"),
    ] {
        assert_eq!(
            environment.get(variable).and_then(referenced),
            Some(resource_name),
            "{variable}"
        );
    }

    let dispatcher = resource(&template, "DispatcherFunction");
    let max_receives = dispatcher
        .at(&["Environment", "Variables", MAX_RECEIVES_VAR])
        .and_then(referenced);
    assert_eq!(max_receives, Some("MaxReceiveCount"));
    let default = text(&template, &["Parameters", "MaxReceiveCount", "Default"]);
    let settings =
        imgate_dispatcher_fn::Settings::from_lookup(|name| (name == MAX_RECEIVES_VAR).then(|| default.into()))?;
    assert_eq!(settings.max_receives, DEFAULT_MAX_RECEIVES);

    // A record must stay hidden while the dispatcher may still work on it (AWS advises 6x).
    let timeout: u64 = text(dispatcher, &["Timeout"]).parse()?;
    ensure!(
        timeout >= AGENT_TIMEOUT_MAX_SECONDS,
        "the dispatcher must outlast the slowest agent"
    );
    for queue in ["InboundQueue", "DelayQueue"] {
        let visibility: u64 = text(resource(&template, queue), &["VisibilityTimeout"]).parse()?;
        ensure!(
            visibility >= 6 * timeout,
            "{queue}'s VisibilityTimeout is under 6x the dispatcher's timeout"
        );
    }
    for function in ["AdminFunction", "WebhookFunction", "DispatcherFunction"] {
        let function = resource(&template, function);
        assert_eq!(text(function, &["LoggingConfig", "LogFormat"]), "JSON");
    }
    Ok(())
}

/// The exports of the SAM stack: export suffix (`${AWS::StackName}-<suffix>`) → output value.
fn exports(template: &Node) -> BTreeMap<String, Node> {
    template
        .get("Outputs")
        .map(Node::entries)
        .unwrap_or_default()
        .iter()
        .filter_map(|(_, output)| {
            let name = output.at(&["Export", "Name"])?.tagged("!Sub")?.text()?;
            let suffix = name.strip_prefix("${AWS::StackName}-")?;
            Some((suffix.to_owned(), output.get("Value")?.clone()))
        })
        .collect()
}

/// The export suffix a relay value imports (`{"Fn::ImportValue": !Sub "${ServerlessStackName}-X"}`).
fn imported(node: &Node) -> Option<&str> {
    node.get("Fn::ImportValue")?
        .tagged("!Sub")?
        .text()?
        .strip_prefix("${ServerlessStackName}-")
}

#[test]
fn relay_gets_the_same_settings_from_the_stack_exports() -> Result<()> {
    let sam = sam();
    let exports = exports(&sam);
    let lambda_environment = sam
        .at(&["Globals", "Function", "Environment", "Variables"])
        .context("Globals environment")?;
    let relay = relay();
    let containers = resource(&relay, "TaskDefinition")
        .get("ContainerDefinitions")
        .context("ContainerDefinitions")?
        .items();
    ensure!(containers.len() == 1, "one container");
    let environment: BTreeMap<&str, &Node> = containers[0]
        .get("Environment")
        .context("Environment")?
        .items()
        .iter()
        .map(|pair| (text(pair, &["Name"]), pair.get("Value").expect("Value")))
        .collect();

    let settings = AwsSettings::from_lookup(|name| environment.get(name).map(|_| format!("value of {name}")))?;
    ensure!(
        settings.delay_dead_letter_queue_url.is_some(),
        "{DELAY_DLQ_URL_VAR} is not set"
    );
    for variable in [
        TABLE_VAR,
        QUEUE_URL_VAR,
        DLQ_URL_VAR,
        DELAY_QUEUE_URL_VAR,
        DELAY_DLQ_URL_VAR,
        KMS_KEY_ID_VAR,
    ] {
        let suffix = imported(environment[variable]).with_context(|| format!("{variable} is not imported"))?;
        let exported = exports.get(suffix).with_context(|| format!("no export {suffix}"))?;
        assert_eq!(
            referenced(exported),
            lambda_environment.get(variable).and_then(referenced),
            "{variable}: the relay's and the functions' resource differ"
        );
    }
    assert_eq!(environment["IMGATE_LOG_FORMAT"].text(), Some("json"));

    // Every import anywhere in the relay stack names an export.
    let mut missing = BTreeSet::new();
    visit(&relay, &mut |node| {
        if let Some(suffix) = imported(node).filter(|s| !exports.contains_key(*s)) {
            missing.insert(suffix.to_owned());
        }
    });
    ensure!(missing.is_empty(), "imports without an export: {missing:?}");
    Ok(())
}

#[test]
fn relay_health_check_asks_the_address_it_listens_on() -> Result<()> {
    let relay = relay();
    let container = &resource(&relay, "TaskDefinition")
        .get("ContainerDefinitions")
        .context("containers")?
        .items()[0];
    let listen = container
        .get("Environment")
        .context("Environment")?
        .items()
        .iter()
        .find(|pair| pair.get("Name").and_then(Node::text) == Some("IMGATE_RELAY_LISTEN"))
        .map(|pair| text(pair, &["Value"]))
        .context("IMGATE_RELAY_LISTEN")?;
    let port = listen.rsplit(':').next().context("port")?;
    let command: Vec<&str> = container
        .at(&["HealthCheck", "Command"])
        .context("HealthCheck")?
        .items()
        .iter()
        .filter_map(Node::text)
        .collect();
    let url = format!("http://127.0.0.1:{port}/healthz");
    assert_eq!(
        command,
        ["CMD", "/usr/local/bin/imgate", "health", "--url", url.as_str()]
    );

    let env_line = DOCKERFILE.lines().find(|l| l.starts_with("ENV IMGATE_RELAY_LISTEN="));
    assert_eq!(env_line, Some(format!("ENV IMGATE_RELAY_LISTEN={listen}").as_str()));
    let healthcheck = DOCKERFILE
        .split("HEALTHCHECK")
        .nth(1)
        .and_then(|rest| rest.lines().find(|l| l.contains("CMD")))
        .context("HEALTHCHECK CMD")?;
    let expected = format!("CMD [\"/usr/local/bin/imgate\", \"health\", \"--url\", \"{url}\"]");
    assert_eq!(healthcheck.trim(), expected);
    ensure!(DOCKERFILE.contains("\nSTOPSIGNAL SIGTERM\n"), "STOPSIGNAL SIGTERM");
    Ok(())
}

/// Every scalar below `node`.
fn scalars(node: &Node) -> Vec<String> {
    let mut found = Vec::new();
    visit(node, &mut |n| {
        if let Node::Scalar(text) = n {
            found.push(text.clone());
        }
    });
    found
}

#[test]
fn the_media_bucket_is_private_expires_its_objects_and_only_the_dispatcher_reaches_it() -> Result<()> {
    let template = sam();
    let bucket = resource(&template, "MediaBucket");
    for block in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            text(bucket, &["PublicAccessBlockConfiguration", block]),
            "true",
            "{block}"
        );
    }
    let encryption = bucket
        .at(&["BucketEncryption", "ServerSideEncryptionConfiguration"])
        .context("encryption")?
        .items();
    ensure!(!encryption.is_empty(), "the bucket is encrypted");
    let rules = bucket
        .at(&["LifecycleConfiguration", "Rules"])
        .context("lifecycle")?
        .items();
    let expiry = rules
        .iter()
        .find(|rule| rule.get("ExpirationInDays").is_some())
        .context("a rule expiring objects")?;
    assert_eq!(text(expiry, &["Status"]), "Enabled");
    assert_eq!(text(expiry, &["Prefix"]), imgate_aws::MEDIA_PREFIX);
    let days: u64 = text(expiry, &["ExpirationInDays"]).parse()?;
    ensure!((1..=2).contains(&days), "objects expire within 1-2 days, not {days}");
    // The links the dispatcher hands out end before their objects do.
    ensure!(imgate_core::media::DEFAULT_LINK_TTL.as_secs() < days * 86_400);

    // The dispatcher is told the bucket and the cap, and may only put and get its objects.
    let dispatcher = resource(&template, "DispatcherFunction");
    let variables = dispatcher.at(&["Environment", "Variables"]).context("variables")?;
    assert_eq!(
        variables.get(imgate_aws::MEDIA_BUCKET_VAR).and_then(referenced),
        Some("MediaBucket")
    );
    let cap = imgate_dispatcher_fn::config::MEDIA_MAX_BYTES_VAR;
    assert_eq!(variables.get(cap).and_then(referenced), Some("MediaMaxBytes"));
    let default = text(&template, &["Parameters", "MediaMaxBytes", "Default"]);
    let settings = imgate_dispatcher_fn::Settings::from_lookup(|name| (name == cap).then(|| default.into()))?;
    assert_eq!(settings.media_max_bytes, imgate_core::media::DEFAULT_MAX_BYTES);
    let statements = dispatcher.at(&["Policies"]).context("policies")?.items()[0]
        .get("Statement")
        .context("statements")?
        .items();
    let s3: Vec<&Node> = statements
        .iter()
        .filter(|statement| scalars(statement).iter().any(|s| s.starts_with("s3:")))
        .collect();
    ensure!(s3.len() == 1, "one statement grants S3");
    let actions: BTreeSet<String> = scalars(s3[0].get("Action").context("Action")?).into_iter().collect();
    assert_eq!(
        actions,
        BTreeSet::from(["s3:GetObject".to_owned(), "s3:PutObject".to_owned()])
    );
    let objects = s3[0]
        .get("Resource")
        .and_then(|r| r.tagged("!Sub"))
        .and_then(Node::text);
    assert_eq!(
        objects,
        Some(format!("${{MediaBucket.Arn}}/{}*", imgate_aws::MEDIA_PREFIX).as_str())
    );
    for function in ["AdminFunction", "WebhookFunction"] {
        ensure!(
            !scalars(resource(&template, function))
                .iter()
                .any(|s| s.starts_with("s3:")),
            "{function} has no S3 access"
        );
    }

    // The relay running the dispatcher is told the same bucket, through the stack's export.
    let relay = relay();
    let environment = resource(&relay, "TaskDefinition")
        .get("ContainerDefinitions")
        .context("containers")?
        .items()[0]
        .get("Environment")
        .context("Environment")?
        .items();
    let bucket_value = environment
        .iter()
        .find(|pair| pair.get("Name").and_then(Node::text) == Some(imgate_aws::MEDIA_BUCKET_VAR))
        .and_then(|pair| pair.get("Value"))
        .context("the relay's media bucket")?;
    let suffix = imported(bucket_value).context("imported")?;
    assert_eq!(exports(&template).get(suffix).and_then(referenced), Some("MediaBucket"));
    Ok(())
}

#[test]
fn policies_name_the_indexes_that_exist() {
    let indexes: BTreeSet<String> = template_table(&sam()).indexes.into_keys().collect();
    let mut named = BTreeMap::new();
    for (stack, template) in [("template", sam()), ("relay", relay())] {
        visit(&template, &mut |node| {
            if let Some(index) = node.text().and_then(|t| t.split("/index/").nth(1)) {
                named
                    .entry(stack)
                    .or_insert_with(BTreeSet::new)
                    .insert(index.to_owned());
            }
        });
    }
    for (stack, names) in &named {
        assert!(names.is_subset(&indexes), "{stack} grants unknown indexes {names:?}");
    }
    // The admin API lists through gsi1 (and an integration's conversations through gsi3); the
    // relay lists long connections through gsi2.
    assert_eq!(
        named.get("template"),
        Some(&BTreeSet::from([GSI1.to_owned(), GSI3.to_owned()]))
    );
    assert_eq!(named.get("relay"), Some(&BTreeSet::from([GSI2.to_owned()])));
}

#[test]
fn the_admin_function_serves_the_console_and_reaches_the_dead_letters() {
    let template = sam();
    let routes = function_routes(&template, "AdminFunction");
    for route in [
        ("ANY", "/api/admin/v1/{proxy+}"),
        ("GET", "/console"),
        ("GET", "/console/{proxy+}"),
    ] {
        assert!(
            routes.contains(&(route.0.to_owned(), route.1.to_owned())),
            "AdminFunction lacks {route:?}: {routes:?}"
        );
    }
    let mut grants = Vec::new();
    visit(resource(&template, "AdminFunction"), &mut |node| {
        if let Some(text) = node.text() {
            grants.push(text.to_owned());
        }
    });
    for needed in [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:SendMessage",
        "dynamodb:BatchGetItem",
    ] {
        assert!(
            grants.iter().any(|g| g == needed),
            "AdminFunction is not granted {needed}"
        );
    }
}

/// `(method, path)` of the webhook function's HTTP API events.
fn template_routes(template: &Node) -> BTreeSet<(String, String)> {
    function_routes(template, "WebhookFunction")
}

/// `(method, path)` of one function's HTTP API events.
fn function_routes(template: &Node, function: &str) -> BTreeSet<(String, String)> {
    resource(template, function)
        .get("Events")
        .map(Node::entries)
        .unwrap_or_default()
        .iter()
        .map(|(_, event)| {
            assert_eq!(text(event, &["Type"]), "HttpApi");
            (
                text(event, &["Properties", "Method"]).to_owned(),
                text(event, &["Properties", "Path"]).to_owned(),
            )
        })
        .collect()
}

/// Whether the webhook router serves `method path` (anything but its "no such route" 404 or a
/// 405 means a handler ran).
async fn served(app: &axum::Router, method: &str, path: &str) -> Result<bool> {
    let request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .body(axum::body::Body::from("{}"))?;
    let response = app.clone().oneshot(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    Ok(status != 405 && !(status == 404 && body["error"]["message"] == "no such route"))
}

#[tokio::test]
async fn webhook_routes_cover_the_router() -> Result<()> {
    let backend = imgate_embedded::LocalBackend::open_in_memory(imgate_embedded::QueueOptions { max_receives: 5 })?;
    let deps = backend.deps([7; imgate_core::keyring::KEY_LEN]);
    let app = imgate_http::webhook_app(imgate_channels::Webhooks::new(&deps));
    let routes = template_routes(&sam());
    let id = imgate_core::IntegrationId::generate();

    for platform in Platform::ALL {
        // The path the admin API shows (Discord's is `/api/discord/interactions/{id}`).
        let path = imgate_core::integration::callback_url("", platform, &id);
        let template_path = path.replace(id.as_str(), "{integrationId}");
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if served(&app, method, &path).await? {
                ensure!(
                    routes.contains(&(method.to_owned(), template_path.clone())),
                    "the router serves {method} {template_path} but the HTTP API does not route it"
                );
            }
        }
    }
    // The template routes only platforms the code knows, on the path the admin API shows.
    for (method, path) in &routes {
        let known = Platform::ALL.iter().any(|p| {
            let shown = imgate_core::integration::callback_url("", *p, &id).replace(id.as_str(), "{integrationId}");
            *path == shown
        });
        ensure!(
            known && ["GET", "POST"].contains(&method.as_str()),
            "unexpected route {method} {path}"
        );
    }
    Ok(())
}

#[test]
fn callback_url_outputs_are_the_ones_the_admin_api_shows() -> Result<()> {
    let template = sam();
    let id = imgate_core::IntegrationId::generate();
    for (output, platform) in [
        ("WecomCallbackUrlPattern", Platform::Wecom),
        ("DingtalkCallbackUrlPattern", Platform::Dingtalk),
        ("LarkCallbackUrlPattern", Platform::Lark),
    ] {
        let sub = template
            .at(&["Outputs", output, "Value"])
            .and_then(|v| v.tagged("!Sub"))
            .map(Node::items)
            .and_then(|items| items.first())
            .and_then(Node::text)
            .with_context(|| format!("{output}: !Sub [\"${{Base}}/…\", …]"))?;
        let shown = imgate_core::integration::callback_url("${Base}", platform, &id);
        assert_eq!(sub, shown.replace(id.as_str(), "{integrationId}"), "{output}");
    }
    let all = template
        .at(&["Outputs", "CallbackUrlPattern", "Value"])
        .and_then(|v| v.tagged("!Sub"));
    match all
        .map(Node::items)
        .and_then(|items| items.first())
        .and_then(Node::text)
    {
        Some("${Base}/api/{platform}/webhook/{integrationId}") => Ok(()),
        other => bail!("CallbackUrlPattern is {other:?}"),
    }
}

/// `DispatcherPlacement`: the same two values on both stacks; `relay` disables the dispatcher
/// function's queue triggers in one and hands the relay the placement (and the queue rights the
/// dispatcher needs, only then) in the other.
#[test]
fn dispatcher_placement_switches_both_stacks() -> Result<()> {
    let placements = |template: &Node| -> Vec<String> {
        template
            .at(&["Parameters", "DispatcherPlacement", "AllowedValues"])
            .map(|v| v.items().iter().filter_map(Node::text).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let (sam, relay) = (sam(), relay());
    assert_eq!(placements(&sam), ["lambda", "relay"]);
    assert_eq!(placements(&relay), placements(&sam));
    assert_eq!(text(&sam, &["Parameters", "DispatcherPlacement", "Default"]), "lambda");
    for mapping in ["DispatcherInboundSource", "DispatcherDelaySource"] {
        let enabled = resource(&sam, mapping)
            .get("Enabled")
            .and_then(|e| e.tagged("!If"))
            .with_context(|| format!("{mapping}: Enabled is not an !If"))?;
        let branches: Vec<&str> = enabled.items().iter().filter_map(Node::text).collect();
        assert_eq!(branches, ["DispatcherInLambda", "true", "false"], "{mapping}");
    }
    ensure!(
        SAM_TEMPLATE.contains("DispatcherInLambda: !Equals [!Ref DispatcherPlacement, lambda]"),
        "the DispatcherInLambda condition"
    );

    let containers = resource(&relay, "TaskDefinition")
        .get("ContainerDefinitions")
        .context("ContainerDefinitions")?
        .items();
    let environment: BTreeMap<&str, &Node> = containers[0]
        .get("Environment")
        .context("Environment")?
        .items()
        .iter()
        .map(|pair| (text(pair, &["Name"]), pair.get("Value").expect("Value")))
        .collect();
    assert_eq!(
        environment["IMGATE_DISPATCHER_PLACEMENT"]
            .tagged("!Ref")
            .and_then(Node::text),
        Some("DispatcherPlacement")
    );
    assert_eq!(
        environment[MAX_RECEIVES_VAR].tagged("!Ref").and_then(Node::text),
        Some("MaxReceiveCount")
    );
    // The queue rights of the dispatcher are granted under the placement's condition only.
    let mut conditional_receive = false;
    visit(&relay, &mut |node| {
        if let Some(branches) = node.tagged("!If")
            && branches.items().first().and_then(Node::text) == Some("DispatcherInRelay")
            && format!("{branches:?}").contains("sqs:ReceiveMessage")
        {
            conditional_receive = true;
        }
    });
    ensure!(
        conditional_receive,
        "sqs:ReceiveMessage is not granted under DispatcherInRelay"
    );
    ensure!(
        RELAY_TEMPLATE.contains("DispatcherInRelay: !Equals [!Ref DispatcherPlacement, relay]"),
        "the DispatcherInRelay condition"
    );
    Ok(())
}
