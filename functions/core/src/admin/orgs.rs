//! Organizations and API keys.

use super::{
    Admin, AdminError, AdminResult, ApiKeyView, IssuedApiKeyView, OrganizationCreated, Principal, clean_name, parse_id,
};
use crate::apikey::{self, ApiKeyRecord};
use crate::ids::{ApiKeyId, OrgId};
use crate::org::Organization;
use crate::time::Timestamp;

impl Admin {
    /// Creates an organization and its first API key (bootstrap key only).
    ///
    /// # Errors
    /// 403 for organization keys, 422 for a bad name.
    pub async fn create_org(&self, principal: &Principal, name: &str) -> AdminResult<OrganizationCreated> {
        require_bootstrap(principal)?;
        let now = Timestamp::now();
        let org = Organization {
            id: OrgId::generate(),
            name: clean_name(name)?,
            created_at: now,
        };
        self.deps.store.create_org(&org).await?;
        let api_key = self.issue_key(&org.id, "default".into(), now).await?;
        tracing::info!(org_id = %org.id, "organization created");
        Ok(OrganizationCreated {
            organization: org,
            api_key,
        })
    }

    /// Every organization (bootstrap key only).
    ///
    /// # Errors
    /// 403 for organization keys.
    pub async fn list_orgs(&self, principal: &Principal) -> AdminResult<Vec<Organization>> {
        require_bootstrap(principal)?;
        Ok(self.deps.store.list_orgs().await?)
    }

    /// One organization: the bootstrap key sees all, an organization key only its own.
    ///
    /// # Errors
    /// 404 for unknown or foreign organizations.
    pub async fn get_org(&self, principal: &Principal, org_id: &str) -> AdminResult<Organization> {
        let org_id = self.visible_org(principal, org_id).await?;
        self.deps
            .store
            .get_org(&org_id)
            .await?
            .ok_or_else(|| AdminError::not_found("organization", org_id.as_str()))
    }

    /// Issues a new key for an organization.
    ///
    /// # Errors
    /// 404 for unknown or foreign organizations, 422 for a bad name.
    pub async fn create_api_key(
        &self,
        principal: &Principal,
        org_id: &str,
        name: &str,
    ) -> AdminResult<IssuedApiKeyView> {
        let org_id = self.visible_org(principal, org_id).await?;
        self.issue_key(&org_id, clean_name(name)?, Timestamp::now()).await
    }

    /// An organization's keys (never their secrets).
    ///
    /// # Errors
    /// 404 for unknown or foreign organizations.
    pub async fn list_api_keys(&self, principal: &Principal, org_id: &str) -> AdminResult<Vec<ApiKeyView>> {
        let org_id = self.visible_org(principal, org_id).await?;
        Ok(self
            .deps
            .store
            .list_api_keys(&org_id)
            .await?
            .iter()
            .map(key_view)
            .collect())
    }

    /// Revokes a key. A key cannot revoke itself, so an organization never locks itself out by accident.
    ///
    /// # Errors
    /// 404 for unknown keys, 409 for the calling key.
    pub async fn delete_api_key(&self, principal: &Principal, org_id: &str, key_id: &str) -> AdminResult<()> {
        let org_id = self.visible_org(principal, org_id).await?;
        let key_id: ApiKeyId = parse_id("API key", key_id)?;
        let record = self.deps.store.get_api_key(&key_id).await?;
        if record.is_none_or(|r| r.org_id != org_id) {
            return Err(AdminError::not_found("API key", key_id.as_str()));
        }
        if matches!(principal, Principal::Org { key_id: own, .. } if *own == key_id) {
            return Err(AdminError::Conflict {
                message: "an API key cannot revoke itself".into(),
                current_agent: None,
            });
        }
        self.deps.store.delete_api_key(&key_id).await?;
        tracing::info!(org_id = %org_id, key_id = %key_id, "API key revoked");
        Ok(())
    }

    async fn issue_key(&self, org_id: &OrgId, name: String, now: Timestamp) -> AdminResult<IssuedApiKeyView> {
        let issued = apikey::issue(org_id.clone(), name, now);
        self.deps.store.create_api_key(&issued.record).await?;
        Ok(IssuedApiKeyView {
            key: key_view(&issued.record),
            token: issued.token.expose().to_owned(),
        })
    }

    /// Parses `org_id` and checks the caller may see it.
    async fn visible_org(&self, principal: &Principal, org_id: &str) -> AdminResult<OrgId> {
        let id: OrgId = parse_id("organization", org_id)?;
        match principal {
            Principal::Org { org_id: own, .. } if *own != id => Err(AdminError::not_found("organization", org_id)),
            Principal::Org { .. } => Ok(id),
            Principal::Bootstrap => {
                if self.deps.store.get_org(&id).await?.is_none() {
                    return Err(AdminError::not_found("organization", org_id));
                }
                Ok(id)
            }
        }
    }
}

fn require_bootstrap(principal: &Principal) -> AdminResult<()> {
    match principal {
        Principal::Bootstrap => Ok(()),
        Principal::Org { .. } => Err(AdminError::Forbidden("only the bootstrap key manages organizations")),
    }
}

fn key_view(record: &ApiKeyRecord) -> ApiKeyView {
    ApiKeyView {
        id: record.id.to_string(),
        org_id: record.org_id.to_string(),
        name: record.name.clone(),
        created_at: record.created_at,
    }
}
