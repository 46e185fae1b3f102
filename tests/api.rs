//! DIGG's message API on live dev nodes (real TLS on the API listener, real
//! files): OAuth2 refusals and their audit trail, Idempotency-Key, and the
//! status of a message followed through the API to ACCEPTED and REJECTED.

mod support;
#[path = "support/api_client.rs"]
mod api_client;

use std::time::{Duration, Instant};

use api_client::{add_functional_address, api_section, append_config, audit_entries, message_body, ApiClient, Client, ALL_SCOPES};
use brygga::audit::{Action, Outcome};
use brygga::node::devnet::{DevNetwork, DevOrg};
use brygga::node::outbox::DocumentType;
use serde_json::{json, Value};

const BUP: &str = "0203:bup.regionstockholm.se";
const SOC: &str = "0203:socialtjanst.stockholm.se";
const BUP_FA: &str = "bup.envagin";
const BUP_OTHER_FA: &str = "bup.remisser";
const SOC_FA: &str = "soc.mottagning";
const SECRET: &str = "correct horse battery staple";

fn orgs() -> Vec<DevOrg> {
    vec![
        DevOrg::new("Region Stockholm BUP", BUP, BUP_FA),
        DevOrg::new("Stockholms stad socialtjänst", SOC, SOC_FA),
    ]
}

/// BUP: `case-system` (every scope, BUP_FA), `reader` (getMessage only),
/// `remisser` (every scope, BUP_OTHER_FA). SOC: `soc-system`.
async fn network(dir: &std::path::Path) -> DevNetwork {
    DevNetwork::start_with(dir, &orgs(), |_, inits| {
        for init in inits {
            if init.org.org_id == BUP {
                add_functional_address(&init.config_file, BUP_OTHER_FA, "BUP remisser");
                let clients = [
                    Client { id: "case-system", secret: SECRET, scopes: ALL_SCOPES, functional_addresses: &[BUP_FA] },
                    Client { id: "reader", secret: SECRET, scopes: &["urn:sdk.api:getMessage"], functional_addresses: &[BUP_FA] },
                    Client { id: "remisser", secret: SECRET, scopes: ALL_SCOPES, functional_addresses: &[BUP_OTHER_FA] },
                ];
                append_config(&init.config_file, &api_section(&clients, ""));
            } else {
                let clients = [Client { id: "soc-system", secret: SECRET, scopes: ALL_SCOPES, functional_addresses: &[SOC_FA] }];
                append_config(&init.config_file, &api_section(&clients, ""));
            }
        }
    })
    .await
    .expect("network starts")
}

fn client(net: &DevNetwork, org: &str) -> ApiClient {
    let node = net.node(org);
    ApiClient::new(node.bound.api.port(), &node.state.config.trust.tls_ca)
}

fn denials(net: &DevNetwork, org: &str) -> Vec<brygga::audit::Entry> {
    audit_entries(&net.node(org).state.config.data_dir)
        .into_iter()
        .filter(|e| e.action == Action::AccessDenied && e.outcome == Outcome::Denied)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_401_or_403_and_every_one_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path()).await;
    let api = client(&net, BUP);

    // No token, a token that is not ours: 401 with a Bearer challenge.
    let a = api.send(reqwest::Method::GET, "/v1/sdk/messages", None, None, &[]).await;
    assert_eq!(a.status, 401, "{}", a.text);
    assert!(a.header("www-authenticate").unwrap().starts_with("Bearer"), "{:?}", a.headers);
    assert_eq!(a.body["status"], 401);
    let a = api.get("/v1/sdk/messages", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl").await;
    assert_eq!(a.status, 401);
    assert!(a.header("www-authenticate").unwrap().contains("invalid_token"));

    // The token endpoint: a wrong secret, an unknown client, a scope not granted.
    let a = api.token_request(&[("grant_type", "client_credentials")], Some(("case-system", "not-the-secret-4711"))).await;
    assert_eq!((a.status, a.body["error"].as_str()), (401, Some("invalid_client")), "{}", a.text);
    assert!(a.header("www-authenticate").unwrap().starts_with("Basic"));
    let a = api
        .token_request(&[("grant_type", "client_credentials"), ("client_id", "nobody"), ("client_secret", SECRET)], None)
        .await;
    assert_eq!(a.status, 401);
    let a = api
        .token_request(&[("grant_type", "client_credentials"), ("scope", "urn:sdk.api:sendMessage")], Some(("reader", SECRET)))
        .await;
    assert_eq!((a.status, a.body["error"].as_str()), (400, Some("invalid_scope")), "{}", a.text);
    let a = api.token_request(&[("grant_type", "password")], Some(("reader", SECRET))).await;
    assert_eq!(a.body["error"], "unsupported_grant_type");

    // Form credentials work too, and the send scope is granted in both spellings.
    let a = api
        .token_request(
            &[("grant_type", "client_credentials"), ("client_id", "case-system"), ("client_secret", SECRET), ("scope", "urn:sdk.api:sendMessage urn:sdk.api:getMessage")],
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(a.body["token_type"], "Bearer");
    let scope = a.body["scope"].as_str().unwrap();
    assert!(scope.contains("urn:sdk.api:sendMessages") && scope.contains("urn:sdk.api:sendMessage "), "{scope}");
    let narrow = a.body["access_token"].as_str().unwrap().to_owned();
    // That token lacks getMessageByFilter: 403.
    let a = api.get("/v1/sdk/messages", &narrow).await;
    assert_eq!(a.status, 403, "{}", a.text);

    // A wrong scope: 403 insufficient_scope.
    let reader = api.token("reader", SECRET).await;
    let body = message_body((BUP, BUP_FA), (SOC, SOC_FA), "Remiss");
    let a = api.post(&reader, &body, &[]).await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert!(a.header("www-authenticate").unwrap().contains("insufficient_scope"));

    // Another client's functional address: sending from it, filtering on it.
    let full = api.token("case-system", SECRET).await;
    let a = api.post(&full, &message_body((BUP, BUP_OTHER_FA), (SOC, SOC_FA), "Remiss"), &[]).await;
    assert_eq!(a.status, 403, "{}", a.text);
    let a = api
        .get(&format!("/v1/sdk/messages?filter%5BrecipientAttention.subOrganization.extension%5D={BUP_OTHER_FA}"), &full)
        .await;
    assert_eq!(a.status, 403, "{}", a.text);

    // Another client's message: not found for this one, and audited.
    let remisser = api.token("remisser", SECRET).await;
    let created = api.post(&remisser, &message_body((BUP, BUP_OTHER_FA), (SOC, SOC_FA), "Remiss"), &[]).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let location = created.header("location").unwrap();
    assert_eq!(api.get(&location, &full).await.status, 404);
    assert_eq!(api.delete(&location, &full).await.status, 404);
    assert_eq!(api.get(&location, &remisser).await.status, 200);

    // Every refusal is in the audit log, with the client as actor when
    // known, and no secret or token anywhere in it.
    let denied = denials(&net, BUP);
    let by = |actor: &str| denied.iter().filter(|e| e.actor == actor).count();
    assert!(by("anonymous") >= 3, "{denied:#?}"); // no token, foreign token, unknown client
    assert!(by("case-system") >= 5, "{denied:#?}"); // wrong secret, narrow scope, address ×2, other's message ×2
    assert!(by("reader") >= 2, "{denied:#?}"); // scope at the token endpoint, scope at the API
    assert!(denied.iter().any(|e| e.functional_address.as_deref() == Some(BUP_OTHER_FA) && e.actor == "case-system"));
    assert!(denied.iter().any(|e| e.message_id.as_deref() == Some(location.rsplit('/').next().unwrap())));
    let log = std::fs::read_to_string(net.node(BUP).state.config.data_dir.join("audit.log")).unwrap();
    for secret in [SECRET, "not-the-secret-4711", full.as_str(), reader.as_str(), narrow.as_str()] {
        assert!(!log.contains(secret), "the audit log holds a secret or token");
    }
    net.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_twice_sends_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path()).await;
    let api = client(&net, BUP);
    let token = api.token("case-system", SECRET).await;
    let body = message_body((BUP, BUP_FA), (SOC, SOC_FA), "Orosanmälan");
    let key = [("idempotency-key", "2f1c7d7e-retry-1")];

    let first = api.post(&token, &body, &key).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let second = api.post(&token, &body, &key).await;
    assert_eq!(second.status, 201, "{}", second.text);
    assert_eq!(second.header("location"), first.header("location"));
    assert_eq!(second.body, first.body);
    let id = first.body["data"]["id"].as_str().unwrap().to_owned();

    // The same key with another body: 422, nothing sent.
    let other = message_body((BUP, BUP_FA), (SOC, SOC_FA), "Något annat");
    let a = api.post(&token, &other, &key).await;
    assert_eq!(a.status, 422, "{}", a.text);

    // Without a key the same body is a new message.
    let third = api.post(&token, &body, &[]).await;
    assert_eq!(third.status, 201);
    assert_ne!(third.body["data"]["id"], first.body["data"]["id"]);

    // One outbox entry for the retried request, and one message at the receiver.
    let store = &net.node(BUP).state.store;
    let messages = brygga::node::outbox::OutboxState::ALL
        .iter()
        .map(|s| store.count_by_state().outbox[s])
        .sum::<u64>();
    assert!(messages >= 2);
    let sent: Vec<_> = [id.as_str(), third.body["data"]["id"].as_str().unwrap()]
        .iter()
        .map(|i| store.outbox_entry(i).unwrap().expect("stored"))
        .collect();
    assert!(sent.iter().all(|e| e.document_type() == DocumentType::Message));
    let soc = &net.node(SOC).state.store;
    let deadline = Instant::now() + Duration::from_secs(30);
    while soc.inbox(SOC_FA, &Default::default()).unwrap().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let inbox = soc.inbox(SOC_FA, &Default::default()).unwrap();
    assert_eq!(inbox.len(), 2, "{inbox:?}");
    assert_eq!(inbox.iter().filter(|e| e.message_id() == id).count(), 1);
    net.stop().await.unwrap();
}

/// Polls GET by id until a final status; every status seen, in order,
/// after the one the create answered with.
async fn follow(api: &ApiClient, token: &str, created: &Value, location: &str) -> (Vec<String>, Value) {
    let mut seen: Vec<String> = vec![created["data"]["attributes"]["messageStatus"].as_str().unwrap().to_owned()];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = api.get(&format!("{location}?filter%5BcontentFiles%5D=false"), token).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let status = a.body["data"]["attributes"]["messageStatus"].as_str().unwrap().to_owned();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if ["ACCEPTED", "REJECTED", "MESSAGE_EXCHANGE_ERROR"].contains(&status.as_str()) || Instant::now() > deadline {
            return (seen, a.body);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_through_the_api_goes_from_scheduled_to_accepted_or_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let net = network(dir.path()).await;
    let api = client(&net, BUP);
    let token = api.token("case-system", SECRET).await;

    // Accepted.
    let created = api.post(&token, &message_body((BUP, BUP_FA), (SOC, SOC_FA), "Orosanmälan"), &[]).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["data"]["attributes"]["messageStatus"], "SCHEDULED");
    assert_eq!(created.body["meta"]["version"], "sdk api 1.0.0");
    let location = created.header("location").unwrap();
    let (seen, last) = follow(&api, &token, &created.body, &location).await;
    assert_eq!(seen.first().map(String::as_str), Some("SCHEDULED"), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("ACCEPTED"), "{seen:?}");
    let order = ["SCHEDULED", "SUBMITTED", "WAITING_FOR_RECEIPT", "ACCEPTED"];
    let positions: Vec<usize> = seen.iter().map(|s| order.iter().position(|o| o == s).expect("an expected status")).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    let events = &last["data"]["attributes"]["events"];
    let codes: Vec<&str> = events["eventIssues"].as_array().unwrap().iter().map(|e| e["typeCode"].as_str().unwrap()).collect();
    assert_eq!(codes, ["ACCEPTED", "WAITING_FOR_RECEIPT", "ACKNOWLEDGE", "SUBMITTED", "SCHEDULED"], "{events}");
    // Text kept, files left out on request.
    let doc = &last["data"]["attributes"]["digitalDocument"][0];
    assert_eq!(doc["contentTextBody"][0], "# Hej\n\nSe bifogat.");
    assert!(doc.get("contentFiles").is_none());

    // Rejected: a functional address the receiver does not have (BV not-found).
    let created = api.post(&token, &message_body((BUP, BUP_FA), (SOC, "soc.finns.inte"), "Orosanmälan"), &[]).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let location = created.header("location").unwrap();
    let (seen, last) = follow(&api, &token, &created.body, &location).await;
    assert_eq!(seen.first().map(String::as_str), Some("SCHEDULED"), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("REJECTED"), "{seen:?}");
    let issues = last["data"]["attributes"]["events"]["eventIssues"].as_array().unwrap();
    assert_eq!(issues[0]["typeCode"], "REJECTED");
    assert!(issues.iter().any(|i| i["typeCode"] == "BV" && i["title"] == "not-found"), "{issues:?}");

    // The list shows both, filtered by status.
    let a = api.get("/v1/sdk/messages?filter%5BmessageStatus%5D=REJECTED", &token).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let data = a.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert!(data[0]["attributes"].get("digitalDocument").is_none());
    // A REJECTED message is final: the client may delete it, then it is gone.
    assert_eq!(api.delete(&location, &token).await.status, 202);
    assert_eq!(api.get(&location, &token).await.status, 404);

    // At the receiver, through its own API: NEW once our receipt went
    // through, with the whole message; deleted after.
    let soc = client(&net, SOC);
    let soc_token = soc.token("soc-system", SECRET).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let inbound = loop {
        let a = soc.get("/v1/sdk/messages?filter%5BmessageStatus%5D=NEW", &soc_token).await;
        assert_eq!(a.status, 200, "{}", a.text);
        if let Some(first) = a.body["data"].as_array().unwrap().first() {
            break first.clone();
        }
        assert!(Instant::now() < deadline, "no NEW message at the receiver");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(inbound["attributes"]["sender"], BUP);
    assert_eq!(inbound["attributes"]["recipientAttention"]["subOrganization"]["extension"], SOC_FA);
    let path = format!("/v1/sdk/messages/{}", inbound["id"].as_str().unwrap());
    let a = soc.get(&path, &soc_token).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["data"]["attributes"]["digitalDocument"][0]["contentFiles"][0]["fileName"], "underlag.pdf");
    assert_eq!(soc.delete(&path, &soc_token).await.status, 202);
    assert_eq!(soc.get(&path, &soc_token).await.status, 404);
    let a = soc.get("/v1/sdk/messages", &soc_token).await;
    assert_eq!(a.body["data"], json!([]));
    net.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_an_external_issuer_are_checked_against_its_jwks() {
    use base64::Engine as _;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);

    // The issuer's signing key (P-256) and its JWKS, served over HTTP on loopback.
    let key = rcgen::KeyPair::generate().unwrap();
    let point = key.public_key_raw();
    assert_eq!((point.len(), point[0]), (65, 4));
    let jwks = json!({ "keys": [{ "kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..]), "kid": "k1", "use": "sig", "alg": "ES256" }] });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_url = format!("http://{}/realms/sdk/certs", listener.local_addr().unwrap());
    let served = jwks.clone();
    let app = axum::Router::new().route("/realms/sdk/certs", axum::routing::get(move || async move { axum::Json(served) }));
    tokio::spawn(async move { axum::serve(listener, app).await });

    const ISSUER: &str = "https://idp.example.se/realms/sdk";
    let extra = format!("\n[api.external_issuer]\nissuer = \"{ISSUER}\"\naudience = \"brygga-bup\"\njwks_url = \"{jwks_url}\"\n");
    let dir = tempfile::tempdir().unwrap();
    let net = DevNetwork::start_with(dir.path(), &orgs(), |_, inits| {
        for init in inits.iter().filter(|i| i.org.org_id == BUP) {
            append_config(&init.config_file, &api_section(&[], &extra));
        }
    })
    .await
    .expect("network starts");
    let api = client(&net, BUP);

    let signing = EncodingKey::from_ec_der(&key.serialize_der());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let token = |kid: &str, aud: &str, scope: &str| {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        let claims = json!({
            "iss": ISSUER, "aud": aud, "exp": now + 300, "iat": now, "azp": "ext-case-system",
            "scope": scope, "urn:sdk.digg.se:auth_id": [BUP_FA, "not.ours"],
        });
        jsonwebtoken::encode(&header, &claims, &signing).unwrap()
    };
    let good = token("k1", "brygga-bup", "urn:sdk.api:getMessageByFilter urn:sdk.api:sendMessage");
    let a = api.get("/v1/sdk/messages", &good).await;
    assert_eq!(a.status, 200, "{}", a.text);
    // sendMessage (DIGG's other spelling) is honoured, for the client's address only.
    let created = api.post(&good, &message_body((BUP, BUP_FA), (SOC, SOC_FA), "Remiss"), &[]).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(api.post(&good, &message_body((BUP, "not.ours"), (SOC, SOC_FA), "Remiss"), &[]).await.status, 400);
    // A scope the token lacks.
    assert_eq!(api.get(created.header("location").unwrap().as_str(), &good).await.status, 403);
    // Another audience, an unknown key, a token of the node's own kind signed elsewhere.
    assert_eq!(api.get("/v1/sdk/messages", &token("k1", "someone-else", "urn:sdk.api:getMessageByFilter")).await.status, 401);
    assert_eq!(api.get("/v1/sdk/messages", &token("k2", "brygga-bup", "urn:sdk.api:getMessageByFilter")).await.status, 401);
    let forged = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &json!({"sub": "x", "exp": now + 300}), &EncodingKey::from_secret(b"guess")).unwrap();
    assert_eq!(api.get("/v1/sdk/messages", &forged).await.status, 401);

    let denied = denials(&net, BUP);
    assert!(denied.iter().any(|e| e.actor == "ext-case-system"), "{denied:#?}");
    assert!(denied.iter().filter(|e| e.actor == "anonymous").count() >= 3, "{denied:#?}");
    net.stop().await.unwrap();
}

#[test]
fn api_configuration_errors_name_the_key() {
    use brygga::config::NodeConfig;
    use brygga::node::devnet::init_org;
    let dir = tempfile::tempdir().unwrap();
    let init = init_org(dir.path(), &dir.path().join("ca"), &orgs()[0]).unwrap();
    let original = std::fs::read_to_string(&init.config_file).unwrap();
    let client = |scopes: &[&str], addresses: &[&str]| {
        api_section(&[Client { id: "c", secret: SECRET, scopes, functional_addresses: addresses }], "")
    };
    let cases: Vec<(String, &str)> = vec![
        (client(ALL_SCOPES, &["someone.else"]), "api.clients[0].functional_addresses[0]"),
        (client(&["urn:sdk.api:everything"], &[BUP_FA]), "api.clients[0].scopes[0]"),
        (client(ALL_SCOPES, &[BUP_FA]).replace("$pbkdf2-sha256$i=100000$", "$pbkdf2-sha256$i=1000$"), "api.clients[0].secret_hash"),
        (client(ALL_SCOPES, &[BUP_FA]).replace("token_lifetime_seconds = 600", "token_lifetime_seconds = 3600"), "api.token_lifetime_seconds"),
        (client(ALL_SCOPES, &[BUP_FA]).replace("[api.tls]\ncert = \"keys/tls.pem\"", "[api.tls]\ncert = \"keys/missing.pem\""), "api.tls.cert"),
        ("\n[api]\ncolour = \"blue\"\n".to_owned(), "api.colour"),
    ];
    for (section, key) in cases {
        std::fs::write(&init.config_file, format!("{original}{section}")).unwrap();
        let e = NodeConfig::load(&init.config_file).expect_err(key);
        assert_eq!(e.key, key, "{e}");
        assert!(e.to_string().contains(&init.config_file.display().to_string()), "{e}");
    }
    std::fs::write(&init.config_file, format!("{original}{}", client(ALL_SCOPES, &[BUP_FA]))).unwrap();
    let config = NodeConfig::load(&init.config_file).expect("valid [api]");
    assert_eq!(config.api.clients.len(), 1);
    assert!(config.api.tls.is_some());
}
