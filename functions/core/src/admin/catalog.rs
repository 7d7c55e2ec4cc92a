//! `GET /platforms`: every platform and mode this build serves, with its credential fields,
//! so forms (the console's, or any tool's) follow the server's rules instead of a copy of them.

use serde::Serialize;

use super::Admin;
use crate::credentials::{fields, supports};
use crate::platform::{ConnectionMode, Platform};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// One credential field.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FieldView {
    /// The JSON name in `credentials`.
    pub name: &'static str,
    /// Write-only: shown as `***`, kept when sent empty or as `***`.
    pub secret: bool,
    /// Must be given.
    pub required: bool,
}

/// One connection mode of a platform.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ModeView {
    /// The mode.
    pub mode: ConnectionMode,
    /// Its credential fields, in form order.
    pub fields: Vec<FieldView>,
}

/// One platform.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PlatformView {
    /// The platform.
    pub platform: Platform,
    /// `credentials`, or `qr_login` when the bot is bound by scanning a code.
    pub connection_method: &'static str,
    /// The modes it offers.
    pub modes: Vec<ModeView>,
}

impl Admin {
    /// The platforms and modes of this build with their credential fields.
    pub fn platform_catalog(&self) -> Vec<PlatformView> {
        Platform::ALL
            .into_iter()
            .map(|platform| PlatformView {
                platform,
                connection_method: if platform == Platform::Wechat {
                    "qr_login"
                } else {
                    "credentials"
                },
                modes: [ConnectionMode::Webhook, ConnectionMode::LongConnection]
                    .into_iter()
                    .filter(|&mode| supports(platform, mode))
                    .map(|mode| ModeView {
                        mode,
                        fields: fields(platform, mode)
                            .iter()
                            .map(|f| FieldView {
                                name: f.name,
                                secret: f.secret,
                                required: f.required,
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect()
    }
}
