//! DynamoDB, SQS and KMS implementations of the imgate ports.
