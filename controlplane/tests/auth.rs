//! Auth over real TLS on loopback: certificates are generated with rcgen for each run.
//! No credentials, a certificate from a foreign CA, and a viewer calling an admin method
//! are each refused with the right gRPC status; refusals that reach the API are audited.

mod common;

use std::path::Path;
use std::time::Duration;

use controlplane::api::auth::{token_sha256_hex, Role};
use controlplane::config::{ClientCertConfig, ControlPlaneConfig, TlsConfig, TokenConfig};
use controlplane::console::Connection;
use controlplane::proto;
use controlplane::server::ControlPlane;
use tonic::Code;

use common::tls::Ca;
use common::SimAppliance;

static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_mtls_tokens_roles_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server_ca = Ca::new("osprey server CA");
    let client_ca = Ca::new("osprey clients CA");
    let rogue_ca = Ca::new("rogue CA");
    let (scert, skey) = server_ca.leaf("osprey", &["localhost"]);
    let (acert, akey) = client_ca.leaf("alice", &[]);
    let (rcert, rkey) = rogue_ca.leaf("alice", &[]);
    let (ucert, ukey) = client_ca.leaf("mallory", &[]);

    let mut cfg = ControlPlaneConfig::default();
    cfg.api.listen = "127.0.0.1:0".parse().unwrap();
    cfg.api.allow_plaintext = false;
    cfg.api.tls = Some(TlsConfig {
        cert: write(d, "server.crt", &scert),
        key: write(d, "server.key", &skey),
        client_ca: Some(write(d, "clients-ca.crt", &client_ca.pem)),
    });
    cfg.metrics.enabled = false;
    cfg.storage.path = d.join("db");
    cfg.auth.tokens = vec![TokenConfig {
        name: "watcher".into(),
        role: Role::Viewer,
        sha256: token_sha256_hex("view-only"),
    }];
    cfg.auth.clients = vec![ClientCertConfig {
        subject: "alice".into(),
        role: Role::Operator,
    }];
    let names = vec!["w0".to_string()];
    let sim = SimAppliance::new(&names);
    let cp = ControlPlane::start_with_sources(
        cfg,
        sim.sources(),
        sim.clone(),
        sim.compiler(Duration::ZERO),
    )
    .await
    .unwrap();
    sim.run_workers(Duration::from_millis(2));
    let endpoint = format!("https://127.0.0.1:{}", cp.grpc_addr.port());
    let server_ca_file = write(d, "server-ca.crt", &server_ca.pem);
    let conn = |cert: Option<(&str, &str)>, token: Option<&str>| {
        let (c, k) = match cert {
            Some((c, k)) => {
                let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                (
                    Some(write(d, &format!("client{n}.crt"), c)),
                    Some(write(d, &format!("client{n}.key"), k)),
                )
            }
            None => (None, None),
        };
        Connection {
            endpoint: endpoint.clone(),
            ca: Some(server_ca_file.clone()),
            cert: c,
            key: k,
            token: token.map(str::to_owned),
            domain: Some("localhost".into()),
        }
    };

    // No credentials at all: the TLS handshake succeeds (client certs are optional), the
    // API refuses.
    let mut anon = conn(None, None).connect().await.unwrap();
    let e = anon
        .system
        .status(proto::StatusRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");

    // A wrong token.
    let mut bad = conn(None, Some("guess")).connect().await.unwrap();
    assert_eq!(
        bad.rules
            .list(proto::ListRulesRequest::default())
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );

    // mTLS: alice is an operator — may add rules, may not shut down.
    let mut alice = conn(Some((&acert, &akey)), None).connect().await.unwrap();
    alice.system.status(proto::StatusRequest {}).await.unwrap();
    alice
        .rules
        .add(proto::AddRulesRequest {
            text: common::rule_text(77, "mtls"),
            ..Default::default()
        })
        .await
        .unwrap();
    let e = alice
        .system
        .shutdown(proto::ShutdownRequest {
            reason: "test".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    // A certificate from the right CA whose subject has no role.
    let mut mallory = conn(Some((&ucert, &ukey)), None).connect().await.unwrap();
    assert_eq!(
        mallory
            .system
            .status(proto::StatusRequest {})
            .await
            .unwrap_err()
            .code(),
        Code::PermissionDenied
    );

    // A viewer token calling an admin method.
    let mut viewer = conn(None, Some("view-only")).connect().await.unwrap();
    viewer
        .alerts
        .query(proto::AlertQuery::default())
        .await
        .unwrap();
    let e = viewer
        .system
        .shutdown(proto::ShutdownRequest { reason: "x".into() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = viewer
        .rules
        .reload(proto::ReloadRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);

    // A certificate signed by a foreign CA (with alice's name) never reaches the API: the
    // server aborts the TLS session. With TLS 1.3 the client learns it only on its first
    // request, as a transport error (CANCELLED, UNAVAILABLE, or UNKNOWN carrying the
    // "UnknownCA" alert), never as an answer.
    let audited_before = cp.ctx.store.audit_log(1000).unwrap().len();
    match conn(Some((&rcert, &rkey)), None).connect().await {
        Err(_) => {}
        Ok(mut c) => {
            let e = c.system.status(proto::StatusRequest {}).await.unwrap_err();
            assert!(
                matches!(
                    e.code(),
                    Code::Cancelled | Code::Unavailable | Code::Unknown
                ),
                "{e:?}"
            );
            let e = c
                .rules
                .add(proto::AddRulesRequest {
                    text: common::rule_text(78, "rogue"),
                    ..Default::default()
                })
                .await
                .unwrap_err();
            assert!(
                matches!(
                    e.code(),
                    Code::Cancelled | Code::Unavailable | Code::Unknown
                ),
                "{e:?}"
            );
        }
    }
    assert_eq!(cp.ctx.store.audit_log(1000).unwrap().len(), audited_before);

    // Plaintext against the TLS port does not work either.
    let plain = Connection {
        endpoint: endpoint.replace("https", "http"),
        ..Default::default()
    }
    .connect()
    .await;
    if let Ok(mut p) = plain {
        assert!(p.system.status(proto::StatusRequest {}).await.is_err());
    }

    // Audited: refusals and the successful mutation, with who and result; the unknown
    // callers' refusals as one summary record (written now instead of at the interval).
    assert!(cp.ctx.auth.flush_refusals() > 0);
    let log = cp.ctx.store.audit_log(100).unwrap();
    let has = |who: &str, method: &str, result: &str| {
        log.iter()
            .any(|r| r.who == who && r.method.ends_with(method) && r.result == result)
    };
    assert!(
        has("anonymous", "unauthenticated", "Unauthenticated"),
        "{log:#?}"
    );
    assert!(has("cert:alice", "RulesService/Add", "ok"));
    assert!(has(
        "cert:alice",
        "SystemService/Shutdown",
        "PermissionDenied"
    ));
    assert!(has(
        "cert:mallory",
        "SystemService/Status",
        "PermissionDenied"
    ));
    assert!(has("watcher", "SystemService/Shutdown", "PermissionDenied"));
    assert!(has("watcher", "RulesService/Reload", "PermissionDenied"));
    assert_eq!(
        sim.shutdown_calls.load(std::sync::atomic::Ordering::SeqCst),
        0
    );

    sim.join();
    cp.request_shutdown();
    cp.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_shutdown_stops_appliance_and_servers() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ControlPlaneConfig::default();
    cfg.api.listen = "127.0.0.1:0".parse().unwrap();
    cfg.metrics.enabled = false;
    cfg.storage.path = dir.path().join("db");
    cfg.auth.tokens = vec![TokenConfig {
        name: "root".into(),
        role: Role::Admin,
        sha256: token_sha256_hex("root"),
    }];
    let names = vec!["w0".to_string()];
    let sim = SimAppliance::new(&names);
    let cp = ControlPlane::start_with_sources(
        cfg,
        sim.sources(),
        sim.clone(),
        sim.compiler(Duration::ZERO),
    )
    .await
    .unwrap();
    sim.run_workers(Duration::from_millis(1));
    let mut c = Connection {
        endpoint: format!("http://{}", cp.grpc_addr),
        token: Some("root".into()),
        ..Default::default()
    }
    .connect()
    .await
    .unwrap();
    let r = c
        .system
        .shutdown(proto::ShutdownRequest {
            reason: "maintenance".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.accepted);
    let store = cp.ctx.store.clone();
    tokio::time::timeout(Duration::from_secs(10), cp.wait())
        .await
        .expect("control plane stops");
    assert_eq!(
        sim.shutdown_calls.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    let log = store.audit_log(10).unwrap();
    assert!(log.iter().any(|r| r.method.ends_with("Shutdown")
        && r.who == "root"
        && r.target == "maintenance"
        && r.result == "ok"));
    sim.join();
}
