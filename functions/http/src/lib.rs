//! axum routers shared by the Lambda functions and imgate serve.
