//! `imgate serve` as a user runs it: the real binary, a fresh directory, real HTTP.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

struct Server {
    child: Child,
    base: String,
    bootstrap: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `imgate serve` in `dir` on a free port and reads its first lines of output.
fn start(dir: &Path, extra_env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_imgate"));
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env_remove("IMGATE_BOOTSTRAP_KEY")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in extra_env {
        command.env(k, v);
    }
    let mut server = Server {
        child: command.spawn().unwrap(),
        base: String::new(),
        bootstrap: None,
    };
    let stdout = server.child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("imgate serve printed its address");
        if let Some(key) = line.trim().strip_prefix("imgate-bootstrap-") {
            server.bootstrap = Some(format!("imgate-bootstrap-{key}"));
        }
        if let Some(rest) = line.strip_prefix("imgate is listening on ") {
            server.base = rest.split_whitespace().next().unwrap().to_owned();
            return server;
        }
    }
}

async fn create_org(client: &reqwest::Client, server: &Server, key: &str) -> reqwest::Response {
    client
        .post(format!("{}/api/admin/v1/organizations", server.base))
        .bearer_auth(key)
        .json(&json!({"name": "Acme"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn first_start_creates_everything_and_restarts_keep_it() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();

    let first = start(dir.path(), &[]);
    let bootstrap = first.bootstrap.clone().expect("the first start prints a bootstrap key");
    let mode = std::fs::metadata(dir.path().join("imgate.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the key file is private");
    assert!(dir.path().join("imgate.db").exists());
    let health = client.get(format!("{}/healthz", first.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let r = create_org(&client, &first, &bootstrap).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let org_key = created["apiKey"]["token"].as_str().unwrap().to_owned();
    let body = json!({"name": "bot", "platform": "wecom",
        "credentials": {"token": "t0ken-secret", "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}});
    let r = client
        .post(format!("{}/api/admin/v1/integrations", first.base))
        .bearer_auth(&org_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    drop(first);

    // Restart: no new key is printed, the old one still works, data and secrets survive.
    let second = start(dir.path(), &[]);
    assert_eq!(second.bootstrap, None, "the bootstrap key is printed only once");
    assert_eq!(create_org(&client, &second, &bootstrap).await.status(), 201);
    let r = client
        .get(format!("{}/api/admin/v1/integrations", second.base))
        .bearer_auth(&org_key)
        .send()
        .await
        .unwrap();
    let list: Value = r.json().await.unwrap();
    assert_eq!(list[0]["credentials"]["token"], "***");
    assert!(list[0]["callbackUrl"].as_str().unwrap().starts_with(&second.base));
    drop(second);

    // A configured bootstrap key replaces the generated one.
    let configured = "configured-bootstrap-key-123";
    let third = start(dir.path(), &[("IMGATE_BOOTSTRAP_KEY", configured)]);
    assert_eq!(create_org(&client, &third, configured).await.status(), 201);
    assert_eq!(create_org(&client, &third, &bootstrap).await.status(), 401);
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_imgate"));
        c.arg("serve")
            .args(args)
            .current_dir(dir.path())
            .env_remove("IMGATE_BOOTSTRAP_KEY");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let out = run(&["--listen", "not-an-address"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
    let out = run(&["--listen", "127.0.0.1:0", "--public-base-url", "ftp://x"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("public-base-url"));
    let out = run(&["--listen", "127.0.0.1:0"], &[("IMGATE_BOOTSTRAP_KEY", "short")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at least 16"), "{stderr}");
    assert!(!stderr.contains("short\""), "the key is not echoed");
    // A key file others can read is refused.
    std::fs::write(dir.path().join("imgate.key"), "00".repeat(32)).unwrap();
    std::fs::set_permissions(dir.path().join("imgate.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&["--listen", "127.0.0.1:0"], &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("imgate.key"), "{stderr}");
}
