//! The keys and statement brokers read from the service.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::TestApp;

fn part(jwt: &str, index: usize) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(index).unwrap())
            .unwrap(),
    )
    .unwrap()
}

fn verify(jwt: &str, jwk: &Value) -> Value {
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(jwt, &key, &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn the_public_jwks_has_a_signing_and_an_encryption_key() {
    let app = TestApp::spawn().await;
    let page = app.browser().get_path("/.well-known/jwks.json").await;
    page.assert_status(StatusCode::OK);
    let jwks: Value = serde_json::from_str(&page.body).unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let uses: Vec<&str> = keys.iter().map(|k| k["use"].as_str().unwrap()).collect();
    assert_eq!(uses, ["sig", "enc"]);
    for key in keys {
        assert!(
            key.get("d").is_none() && key.get("p").is_none(),
            "private parts published"
        );
        assert_eq!(key["kid"], tunnus::keys::jwk_thumbprint(key).unwrap());
    }
    assert_eq!(keys[1]["alg"], "RSA-OAEP");
}

#[tokio::test]
async fn the_signed_jwks_verifies_with_the_entity_key() {
    let app = TestApp::spawn().await;
    let page = app.browser().get_path("/.well-known/signed-jwks.jwt").await;
    page.assert_status(StatusCode::OK);
    assert_eq!(page.headers["content-type"], "application/jwk-set+jwt");
    assert_eq!(part(&page.body, 0)["typ"], "jwk-set+jwt");
    let claims = verify(&page.body, &app.keys.entity.public_jwk());
    let entity_id = app.url.as_str().trim_end_matches('/');
    assert_eq!(claims["iss"], entity_id);
    assert_eq!(claims["sub"], entity_id);
    assert_eq!(claims["keys"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_entity_statement_describes_the_relying_party() {
    let app = TestApp::spawn().await;
    let page = app
        .browser()
        .get_path("/.well-known/openid-federation")
        .await;
    page.assert_status(StatusCode::OK);
    assert_eq!(part(&page.body, 0)["typ"], "entity-statement+jwt");
    let embedded = part(&page.body, 1)["jwks"]["keys"][0].clone();
    let claims = verify(&page.body, &embedded);
    let rp = &claims["metadata"]["openid_relying_party"];
    assert_eq!(rp["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(rp["redirect_uris"][0], app.at("/callback").as_str());
    assert_eq!(rp["id_token_encrypted_response_alg"], "RSA-OAEP");
    assert_eq!(rp["id_token_encrypted_response_enc"], "A128CBC-HS256");
    assert_eq!(
        rp["signed_jwks_uri"],
        app.at("/.well-known/signed-jwks.jwt").as_str()
    );
}
