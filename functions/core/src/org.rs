//! Organizations: the tenant scope of every integration, agent and API key.

use serde::{Deserialize, Serialize};

use crate::ids::OrgId;
use crate::time::Timestamp;

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    /// Id.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// Created.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    #[serde(alias = "created_at")]
    pub created_at: Timestamp,
}
