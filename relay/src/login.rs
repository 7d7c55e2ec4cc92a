//! `imgate login wechat`: a WeChat QR login in a terminal, through a running gateway's admin API
//! (`POST` / `GET /api/admin/v1/integrations/{id}/login`).
//!
//! The code is drawn with Unicode blocks from the link the admin API answers (and the link is
//! printed, for a terminal that cannot show it); the status is followed until the login is
//! confirmed. A number the phone asks for is read from the terminal; an expired code is
//! replaced (the admin API allows three per attempt). The token never reaches this process.

use std::io::{BufRead, Write};
use std::time::Duration;

use anyhow::{Context, bail};
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;
use serde_json::{Value, json};

use crate::cli::LoginWechatArgs;

/// How long the whole login may take (the plugin's 480 s attempt).
const ATTEMPT: Duration = Duration::from_secs(8 * 60);

/// Runs the login.
///
/// # Errors
/// When the admin API refuses, the login fails or it takes too long.
pub async fn wechat(args: LoginWechatArgs) -> anyhow::Result<()> {
    let admin = Admin::new(&args)?;
    let mut shown = admin.start(None).await?;
    show_code(&shown)?;
    let deadline = tokio::time::Instant::now() + ATTEMPT;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        let status = shown["status"].as_str().unwrap_or("wait").to_owned();
        if status != last {
            println!("{status}: {}", shown["message"].as_str().unwrap_or_default());
            last.clone_from(&status);
        }
        shown = match status.as_str() {
            "confirmed" => {
                println!("Logged in. The relay starts polling this bot.");
                return Ok(());
            }
            "already_bound" => return Ok(()),
            "need_verifycode" => {
                let code = ask("The number the phone shows: ")?;
                admin.start(Some(&code)).await?
            }
            "expired" => {
                let fresh = admin.start(None).await?;
                show_code(&fresh)?;
                fresh
            }
            "verify_code_blocked" | "failed" => bail!("the login failed: {}", shown["message"]),
            _ => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                admin.poll().await?
            }
        };
    }
    bail!("the login was not confirmed within {} minutes", ATTEMPT.as_secs() / 60)
}

/// Draws the code of an admin API answer.
fn show_code(answer: &Value) -> anyhow::Result<()> {
    let Some(url) = answer["qrcodeUrl"].as_str() else {
        bail!("the admin API answered no code: {}", answer["message"]);
    };
    println!("{}", drawn(url)?);
    println!("Scan with WeChat, or open: {url}");
    Ok(())
}

/// `content` as a QR code in Unicode half blocks.
fn drawn(content: &str) -> anyhow::Result<String> {
    let code = QrCode::new(content.as_bytes()).context("the code could not be drawn")?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

fn ask(prompt: &str) -> anyhow::Result<String> {
    print!("{prompt}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

/// The login routes of one integration.
struct Admin {
    http: reqwest::Client,
    url: String,
    api_key: String,
}

impl Admin {
    fn new(args: &LoginWechatArgs) -> anyhow::Result<Self> {
        if !imgate_core::agent::is_http_url(&args.admin_url) {
            bail!("--admin-url must be an http:// or https:// URL");
        }
        let base = args.admin_url.trim_end_matches('/');
        let base = base.strip_suffix("/api/admin/v1").unwrap_or(base);
        Ok(Self {
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?,
            url: format!("{base}/api/admin/v1/integrations/{}/login", args.integration.trim()),
            api_key: args.api_key.clone(),
        })
    }

    /// A new code, or the number the phone shows.
    async fn start(&self, verify_code: Option<&str>) -> anyhow::Result<Value> {
        let mut request = self.http.post(&self.url).bearer_auth(&self.api_key);
        if let Some(code) = verify_code {
            request = request.json(&json!({"verifyCode": code}));
        }
        answer(request).await
    }

    async fn poll(&self) -> anyhow::Result<Value> {
        answer(self.http.get(&self.url).bearer_auth(&self.api_key)).await
    }
}

async fn answer(request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let response = request
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("the admin API could not be reached: {}", e.without_url()))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        bail!("the admin API answered {status}: {}", body["error"]["message"]);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_drawn_in_half_blocks() {
        let drawn = drawn("https://liteapp.weixin.qq.com/q/7GiQu1?qrcode=abc&bot_type=3").unwrap();
        assert!(drawn.lines().count() > 10);
        assert!(drawn.contains('█') || drawn.contains('▀') || drawn.contains('▄'));
    }
}
