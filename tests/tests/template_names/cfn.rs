//! CloudFormation helpers for the template tests: looking up resources and references in a
//! parsed template, and the table and queue "shapes" compared between a template and what the
//! code's own setup functions create on moto's server.

use std::collections::BTreeMap;

use anyhow::{Context, Result, ensure};
use aws_sdk_sqs::types::QueueAttributeName;
use imgate_tests::moto::{MotoServer, unique_name};

use crate::yaml::Node;

/// The `Properties` of the resource `name` (panics when it has none).
pub fn resource<'a>(template: &'a Node, name: &str) -> &'a Node {
    template
        .at(&["Resources", name, "Properties"])
        .unwrap_or_else(|| panic!("resource {name} with Properties"))
}

/// The resource a `!Ref X` or `!GetAtt X.Attr` names.
pub fn referenced(node: &Node) -> Option<&str> {
    let (tag, operand) = match node {
        Node::Tagged(tag, operand) => (tag.as_str(), operand.text()?),
        _ => return None,
    };
    match tag {
        "!Ref" => Some(operand),
        "!GetAtt" => operand.split('.').next(),
        _ => None,
    }
}

/// The scalar at `path` below `node` (panics when there is none).
pub fn text<'a>(node: &'a Node, path: &[&str]) -> &'a str {
    node.at(path)
        .and_then(Node::text)
        .unwrap_or_else(|| panic!("scalar at {path:?}"))
}

/// A table's key design, whether read from a template or from DynamoDB.
#[derive(Debug, PartialEq, Eq)]
pub struct TableShape {
    pub attributes: BTreeMap<String, String>,
    pub key: Vec<(String, String)>,
    pub indexes: BTreeMap<String, (Vec<(String, String)>, String)>,
    pub ttl: String,
}

/// `(AttributeName, KeyType)` of a `KeySchema` list.
pub fn key_schema(node: &Node) -> Vec<(String, String)> {
    node.items()
        .iter()
        .map(|k| (text(k, &["AttributeName"]).to_owned(), text(k, &["KeyType"]).to_owned()))
        .collect()
}

/// The table declared as `Table` in `template`.
pub fn template_table(template: &Node) -> TableShape {
    let table = resource(template, "Table");
    let attributes = table
        .get("AttributeDefinitions")
        .expect("AttributeDefinitions")
        .items()
        .iter()
        .map(|a| {
            (
                text(a, &["AttributeName"]).to_owned(),
                text(a, &["AttributeType"]).to_owned(),
            )
        })
        .collect();
    let indexes = table
        .get("GlobalSecondaryIndexes")
        .expect("GlobalSecondaryIndexes")
        .items()
        .iter()
        .map(|i| {
            let keys = key_schema(i.get("KeySchema").expect("index KeySchema"));
            let projection = text(i, &["Projection", "ProjectionType"]).to_owned();
            (text(i, &["IndexName"]).to_owned(), (keys, projection))
        })
        .collect();
    assert_eq!(text(table, &["TimeToLiveSpecification", "Enabled"]), "true");
    TableShape {
        attributes,
        key: key_schema(table.get("KeySchema").expect("KeySchema")),
        indexes,
        ttl: text(table, &["TimeToLiveSpecification", "AttributeName"]).to_owned(),
    }
}

/// The table `imgate_aws::create_table` makes, as DynamoDB (moto) describes it.
pub async fn code_table() -> Result<TableShape> {
    let client = aws_sdk_dynamodb::Client::new(&MotoServer::shared().sdk_config());
    let name = unique_name("template-names");
    imgate_aws::create_table(&client, &name).await.context("create_table")?;
    let described = client.describe_table().table_name(&name).send().await?;
    let table = described.table().context("table description")?;
    let keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| {
        schema
            .iter()
            .map(|k| (k.attribute_name().to_owned(), k.key_type().as_str().to_owned()))
            .collect::<Vec<_>>()
    };
    let ttl = client.describe_time_to_live().table_name(&name).send().await?;
    let ttl = ttl.time_to_live_description().context("TTL description")?;
    ensure!(
        ttl.time_to_live_status().map(|s| s.as_str()) == Some("ENABLED"),
        "TTL is not enabled on the code's table"
    );
    Ok(TableShape {
        attributes: table
            .attribute_definitions()
            .iter()
            .map(|a| (a.attribute_name().to_owned(), a.attribute_type().as_str().to_owned()))
            .collect(),
        key: keys(table.key_schema()),
        indexes: table
            .global_secondary_indexes()
            .iter()
            .map(|i| {
                let projection = i.projection().and_then(|p| p.projection_type()).map(|p| p.as_str());
                let name = i.index_name().unwrap_or_default().to_owned();
                (name, (keys(i.key_schema()), projection.unwrap_or_default().to_owned()))
            })
            .collect(),
        ttl: ttl.attribute_name().unwrap_or_default().to_owned(),
    })
}

/// A queue as the code configures it: its name with `base` for the stack name, FIFO or not,
/// content-based deduplication, and its dead-letter queue's name and receive count.
#[derive(Debug, PartialEq, Eq)]
pub struct QueueShape {
    pub name: String,
    pub fifo: bool,
    pub content_based_deduplication: bool,
    pub dead_letters: Option<(String, String)>,
}

/// The queue declared as `resource_name` in `template`, with `base` for the stack name.
pub fn template_queue(template: &Node, resource_name: &str, base: &str) -> QueueShape {
    let queue = resource(template, resource_name);
    let name = queue
        .get("QueueName")
        .and_then(|n| n.tagged("!Sub"))
        .and_then(Node::text)
        .unwrap_or_else(|| panic!("{resource_name}: QueueName: !Sub \"${{AWS::StackName}}…\""))
        .replace("${AWS::StackName}", base);
    let flag = |key: &str| queue.get(key).and_then(Node::text) == Some("true");
    let dead_letters = queue.get("RedrivePolicy").map(|policy| {
        let target = policy
            .get("deadLetterTargetArn")
            .and_then(referenced)
            .expect("dead-letter target");
        let receives = policy
            .get("maxReceiveCount")
            .and_then(referenced)
            .expect("maxReceiveCount: !Ref");
        assert_eq!(receives, "MaxReceiveCount", "{resource_name}'s maxReceiveCount");
        let default = text(template, &["Parameters", "MaxReceiveCount", "Default"]);
        (template_queue(template, target, base).name, default.to_owned())
    });
    QueueShape {
        name,
        fifo: flag("FifoQueue"),
        content_based_deduplication: flag("ContentBasedDeduplication"),
        dead_letters,
    }
}

/// The queue at `url` as the code's setup made it.
pub async fn code_queue(client: &aws_sdk_sqs::Client, url: &str) -> Result<QueueShape> {
    let name = |url: &str| url.rsplit('/').next().unwrap_or_default().to_owned();
    let attributes = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await?
        .attributes
        .unwrap_or_default();
    let flag = |key: QueueAttributeName| attributes.get(&key).map(String::as_str) == Some("true");
    let dead_letters = match attributes.get(&QueueAttributeName::RedrivePolicy) {
        None => None,
        Some(policy) => {
            let policy: serde_json::Value = serde_json::from_str(policy)?;
            let arn = policy["deadLetterTargetArn"].as_str().context("deadLetterTargetArn")?;
            let receives = policy["maxReceiveCount"].to_string().trim_matches('"').to_owned();
            Some((arn.rsplit(':').next().unwrap_or_default().to_owned(), receives))
        }
    };
    Ok(QueueShape {
        name: name(url),
        fifo: flag(QueueAttributeName::FifoQueue),
        content_based_deduplication: flag(QueueAttributeName::ContentBasedDeduplication),
        dead_letters,
    })
}

/// Calls `f` on `node` and on every node below it.
pub fn visit(node: &Node, f: &mut impl FnMut(&Node)) {
    f(node);
    match node {
        Node::Scalar(_) => {}
        Node::Map(entries) => entries.iter().for_each(|(_, v)| visit(v, f)),
        Node::List(items) => items.iter().for_each(|v| visit(v, f)),
        Node::Tagged(_, operand) => visit(operand, f),
    }
}
