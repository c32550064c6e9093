//! HTTPS for the API against a real server: a certificate made by `openssl` for this test (the
//! testbed's CA and a leaf for 127.0.0.1), a real TLS request with a key, plain HTTP on the TLS port
//! refused, and certificate files that cannot be used stop start-up with their path.

mod common;

use common::{config, dead_port, key};
use ringback::server::{Server, ServerError};
use ringback_testbed::certs;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_https_with_the_configured_certificate_and_refuses_plain_http() {
    let data = tempfile::tempdir().expect("temp dir");
    let certs = certs::generate(data.path()).expect("openssl makes the test certificates");
    let mut config = config(data.path(), dead_port());
    config.server.tls_cert = Some(certs.cert.clone());
    config.server.tls_key = Some(certs.key.clone());
    let server = Server::start(config).await.expect("server");
    let key = key(&server).await;
    assert_eq!(
        server.service.public_url(),
        format!("https://{}", server.http_addr),
        "derived URLs (recording_url) say https"
    );

    // A client that trusts the test CA gets the API over TLS, key and all.
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&certs.ca).expect("ca")).expect("pem");
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .expect("client");
    let url = format!("https://{}/v1/calls", server.http_addr);
    let response = client
        .get(&url)
        .bearer_auth(&key)
        .send()
        .await
        .expect("HTTPS request");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert!(body["data"].is_array(), "{body}");
    let response = client.get(&url).send().await.expect("HTTPS request");
    assert_eq!(response.status(), 401, "auth still applies over TLS");

    // A client that does not trust the certificate gets no answer (it really is the test CA's).
    let stranger = reqwest::Client::new().get(&url).bearer_auth(&key).send().await;
    assert!(stranger.is_err(), "untrusted certificate accepted: {stranger:?}");

    // Plain HTTP on the TLS port: no HTTP answer, over reqwest or raw bytes.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/v1/calls", server.http_addr))
        .bearer_auth(&key)
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");
    let mut raw = tokio::net::TcpStream::connect(server.http_addr)
        .await
        .expect("connect");
    raw.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut answer)).await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP answered: {:?}",
        String::from_utf8_lossy(&answer)
    );

    // A handshake that never starts does not hold up anyone else's request.
    let _idle = tokio::net::TcpStream::connect(server.http_addr)
        .await
        .expect("connect");
    let response = tokio::time::timeout(Duration::from_secs(5), client.get(&url).bearer_auth(&key).send())
        .await
        .expect("not held up by an idle connection")
        .expect("HTTPS request");
    assert_eq!(response.status(), 200);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_certificate_or_key_stops_start_up_naming_the_file() {
    let data = tempfile::tempdir().expect("temp dir");
    let certs = certs::generate(data.path()).expect("openssl makes the test certificates");
    let garbage = data.path().join("garbage.pem");
    std::fs::write(&garbage, "not a PEM file\n").expect("write");
    let missing = data.path().join("missing.pem");
    for (cert, key, named) in [
        (&garbage, &certs.key, &garbage),
        (&missing, &certs.key, &missing),
        (&certs.cert, &garbage, &garbage),
        (&certs.cert, &missing, &missing),
    ] {
        let mut config = config(data.path(), dead_port());
        config.server.tls_cert = Some(cert.clone());
        config.server.tls_key = Some(key.clone());
        let err = Server::start(config).await.expect_err("unusable TLS files");
        assert!(matches!(err, ServerError::HttpsTls(_)), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(&named.display().to_string()) && text.contains("HTTPS"),
            "{text}"
        );
    }
    // A key that is not the certificate's.
    let other = data.path().join("other");
    std::fs::create_dir(&other).expect("dir");
    let other = certs::generate(&other).expect("second certificate");
    let mut config = config(data.path(), dead_port());
    config.server.tls_cert = Some(certs.cert.clone());
    config.server.tls_key = Some(other.key.clone());
    let err = Server::start(config).await.expect_err("mismatched key");
    assert!(matches!(err, ServerError::HttpsTls(_)), "{err}");
}
