mod vectors;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::KeySize;
use josekit::jwe::JweHeader as JosekitHeader;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::{Jwk, KeyPair};

use super::*;
use vectors::*;

const ALL_ALGS: &[KeyManagementAlg] = &KeyManagementAlg::ALL;
const ALL_ENCS: &[ContentEncryption] = &ContentEncryption::ALL;

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|byte| u8::from_str_radix(byte, 16).expect("test vector hex"))
        .collect()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("test base64url")
}

/// A private key from a JWK with all private parameters, through josekit's PKCS#8 export.
fn key_from_jwk(json: &str) -> PrivateDecryptingKey {
    let jwk = Jwk::from_bytes(json.as_bytes()).expect("test JWK parses");
    let pkcs8 = RsaKeyPair::from_jwk(&jwk)
        .expect("test JWK is an RSA key")
        .to_der_private_key();
    PrivateDecryptingKey::from_pkcs8(&pkcs8).expect("aws-lc loads the test key")
}

fn a1_key() -> PrivateDecryptingKey {
    key_from_jwk(RFC7516_A1_JWK)
}

fn fresh_key() -> PrivateDecryptingKey {
    PrivateDecryptingKey::generate(KeySize::Rsa2048).expect("RSA key generation")
}

fn pkcs8(key: &PrivateDecryptingKey) -> Vec<u8> {
    let der: Pkcs8V1Der<'static> = key.as_der().expect("PKCS#8 export");
    der.as_ref().to_vec()
}

fn spki(key: &PublicEncryptingKey) -> Vec<u8> {
    let der: PublicKeyX509Der<'static> = key.as_der().expect("SPKI export");
    der.as_ref().to_vec()
}

fn one_key<'a>(kid: &'a str, key: &'a PrivateDecryptingKey) -> [DecryptionKeyRef<'a>; 1] {
    [DecryptionKeyRef { kid, key }]
}

/// A token whose protected header is exactly `header_json`, otherwise correctly made: the CEK is
/// wrapped to `recipient` and the content encrypted under the header as AAD.
fn seal(
    header_json: &str,
    recipient: &PublicEncryptingKey,
    alg: KeyManagementAlg,
    enc: ContentEncryption,
    cek: &[u8],
    plaintext: &[u8],
) -> String {
    let header_b64 = b64(header_json);
    let iv = content::random_iv(enc);
    let encrypted_key = wrap_cek(recipient, alg, cek).expect("wrap");
    let (ciphertext, tag) =
        content::encrypt(enc, cek, &iv, header_b64.as_bytes(), plaintext).expect("encrypt");
    [
        header_b64,
        b64(encrypted_key),
        b64(iv),
        b64(ciphertext),
        b64(tag),
    ]
    .join(".")
}

fn replace_part(token: &str, index: usize, part: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[index] = part;
    parts.join(".")
}

/// The part at `index` with one bit of its first byte flipped.
fn flip_bit(token: &str, index: usize) -> String {
    let mut bytes = unb64(token.split('.').nth(index).expect("part"));
    bytes[0] ^= 0x01;
    replace_part(token, index, &b64(bytes))
}

fn decrypt_all(
    token: &str,
    keys: &[DecryptionKeyRef<'_>],
) -> Result<(JweHeader, Vec<u8>), JweError> {
    decrypt(token, keys, ALL_ALGS, ALL_ENCS)
}

// --- published vectors -------------------------------------------------------------------------

#[test]
fn rfc7516_appendix_a1_token_decrypts_to_its_plaintext() {
    let key = a1_key();
    let (header, plaintext) =
        decrypt_all(RFC7516_A1_TOKEN, &one_key("any", &key)).expect("A.1 decrypts");
    assert_eq!(plaintext, RFC7516_A1_PLAINTEXT.as_bytes());
    assert_eq!(
        header,
        JweHeader {
            alg: KeyManagementAlg::RsaOaep,
            enc: ContentEncryption::A256Gcm,
            kid: None,
            cty: None,
            typ: None,
        }
    );
}

#[test]
fn rfc7516_appendix_a1_content_encrypts_to_its_ciphertext_and_tag() {
    let parts: Vec<&str> = RFC7516_A1_TOKEN.split('.').collect();
    let (ciphertext, tag) = content::encrypt(
        ContentEncryption::A256Gcm,
        &RFC7516_A1_CEK,
        &unb64(parts[2]),
        parts[0].as_bytes(),
        RFC7516_A1_PLAINTEXT.as_bytes(),
    )
    .expect("encrypt");
    assert_eq!(ciphertext, unb64(parts[3]));
    assert_eq!(tag, unb64(parts[4]));
}

#[test]
fn rfc7516_appendix_a2_content_round_trips_with_its_cek() {
    // A.2 wraps the CEK with RSA1_5, which is refused; its A128CBC-HS256 content is still a vector
    // for the AAD being the base64url header text.
    let parts: Vec<&str> = RFC7516_A2_TOKEN.split('.').collect();
    let enc = ContentEncryption::A128CbcHs256;
    let iv = unb64(parts[2]);
    let plaintext = content::decrypt(
        enc,
        &RFC7516_A2_CEK,
        &iv,
        parts[0].as_bytes(),
        &unb64(parts[3]),
        &unb64(parts[4]),
    )
    .expect("A.2 content decrypts");
    assert_eq!(plaintext, RFC7516_A2_PLAINTEXT.as_bytes());

    let (ciphertext, tag) = content::encrypt(
        enc,
        &RFC7516_A2_CEK,
        &iv,
        parts[0].as_bytes(),
        RFC7516_A2_PLAINTEXT.as_bytes(),
    )
    .expect("encrypt");
    assert_eq!(ciphertext, unb64(parts[3]));
    assert_eq!(tag, unb64(parts[4]));
}

fn check_rfc7518_cbc_vector(enc: ContentEncryption, key: &str, ciphertext: &str, tag: &str) {
    let (key, iv, aad) = (hex(key), hex(RFC7518_B_IV), hex(RFC7518_B_AAD));
    let plaintext = hex(RFC7518_B_PLAINTEXT);
    let (got_ciphertext, got_tag) =
        content::encrypt(enc, &key, &iv, &aad, &plaintext).expect("encrypt");
    assert_eq!(got_ciphertext, hex(ciphertext), "{enc} ciphertext");
    assert_eq!(got_tag, hex(tag), "{enc} tag");
    let decrypted =
        content::decrypt(enc, &key, &iv, &aad, &hex(ciphertext), &hex(tag)).expect("decrypt");
    assert_eq!(decrypted, plaintext);
}

#[test]
fn rfc7518_appendix_b1_aes_128_cbc_hmac_sha_256_vector_matches() {
    check_rfc7518_cbc_vector(
        ContentEncryption::A128CbcHs256,
        RFC7518_B1_KEY,
        RFC7518_B1_CIPHERTEXT,
        RFC7518_B1_TAG,
    );
}

#[test]
fn rfc7518_appendix_b3_aes_256_cbc_hmac_sha_512_vector_matches() {
    check_rfc7518_cbc_vector(
        ContentEncryption::A256CbcHs512,
        RFC7518_B3_KEY,
        RFC7518_B3_CIPHERTEXT,
        RFC7518_B3_TAG,
    );
}

#[test]
fn rfc7520_section_5_2_token_decrypts_with_the_key_its_kid_names() {
    let key = key_from_jwk(RFC7520_5_2_JWK);
    let other = a1_key();
    let keys = [
        DecryptionKeyRef {
            kid: "someone.else",
            key: &other,
        },
        DecryptionKeyRef {
            kid: "samwise.gamgee@hobbiton.example",
            key: &key,
        },
    ];
    let (header, plaintext) = decrypt_all(RFC7520_5_2_TOKEN, &keys).expect("5.2 decrypts");
    assert_eq!(plaintext, RFC7520_PLAINTEXT.as_bytes());
    assert_eq!(header.alg, KeyManagementAlg::RsaOaep);
    assert_eq!(header.enc, ContentEncryption::A256Gcm);
    assert_eq!(
        header.kid.as_deref(),
        Some("samwise.gamgee@hobbiton.example")
    );
}

// --- cross-checks with josekit (OpenSSL) ------------------------------------------------------

fn josekit_alg(alg: KeyManagementAlg) -> josekit::jwe::alg::rsaes::RsaesJweAlgorithm {
    match alg {
        KeyManagementAlg::RsaOaep => josekit::jwe::RSA_OAEP,
        KeyManagementAlg::RsaOaep256 => josekit::jwe::RSA_OAEP_256,
    }
}

#[test]
fn josekit_tokens_decrypt_for_every_alg_and_enc() {
    let key = fresh_key();
    let public_der = spki(&key.public_key());
    for alg in KeyManagementAlg::ALL {
        let encrypter = josekit_alg(alg)
            .encrypter_from_der(&public_der)
            .expect("josekit loads the public key");
        for enc in ContentEncryption::ALL {
            let mut header = JosekitHeader::new();
            header.set_content_encryption(enc.as_str());
            header.set_key_id("k1");
            header.set_token_type("JWT");
            let plaintext = format!("josekit to us with {alg} and {enc}");
            let token = josekit::jwe::serialize_compact(plaintext.as_bytes(), &header, &encrypter)
                .expect("josekit encrypts");

            let (header, decrypted) =
                decrypt(&token, &one_key("k1", &key), &[alg], &[enc]).expect("we decrypt");
            assert_eq!(decrypted, plaintext.as_bytes(), "{alg} {enc}");
            assert_eq!((header.alg, header.enc), (alg, enc));
            assert_eq!(header.kid.as_deref(), Some("k1"));
            assert_eq!(header.typ.as_deref(), Some("JWT"));
        }
    }
}

#[test]
fn our_tokens_decrypt_with_josekit_for_every_alg_and_enc() {
    let key = fresh_key();
    let private_der = pkcs8(&key);
    for alg in KeyManagementAlg::ALL {
        let decrypter = josekit_alg(alg)
            .decrypter_from_der(&private_der)
            .expect("josekit loads the private key");
        for enc in ContentEncryption::ALL {
            let plaintext = format!("us to josekit with {alg} and {enc}");
            let token = encrypt(
                plaintext.as_bytes(),
                &key.public_key(),
                Some("k1"),
                alg,
                enc,
                Some("JWT"),
            )
            .expect("we encrypt");

            let (decrypted, header) =
                josekit::jwe::deserialize_compact(&token, &decrypter).expect("josekit decrypts");
            assert_eq!(decrypted, plaintext.as_bytes(), "{alg} {enc}");
            assert_eq!(header.algorithm(), Some(alg.as_str()));
            assert_eq!(header.content_encryption(), Some(enc.as_str()));
            assert_eq!(header.key_id(), Some("k1"));
            assert_eq!(header.content_type(), Some("JWT"));
        }
    }
}

// --- encryption ---------------------------------------------------------------------------------

#[test]
fn our_tokens_decrypt_with_our_decrypt_for_every_alg_and_enc() {
    let key = a1_key();
    for alg in KeyManagementAlg::ALL {
        for enc in ContentEncryption::ALL {
            let token =
                encrypt(b"round trip", &key.public_key(), None, alg, enc, None).expect("encrypt");
            let (header, plaintext) =
                decrypt(&token, &one_key("k", &key), &[alg], &[enc]).expect("decrypt");
            assert_eq!(plaintext, b"round trip");
            assert_eq!((header.alg, header.enc, header.kid), (alg, enc, None));
        }
    }
}

#[test]
fn encrypt_writes_only_alg_enc_kid_and_cty() {
    let key = a1_key();
    let with_all = encrypt(
        b"x",
        &key.public_key(),
        Some("kid-1"),
        KeyManagementAlg::RsaOaep256,
        ContentEncryption::A128CbcHs256,
        Some("JWT"),
    )
    .expect("encrypt");
    let header: Value =
        serde_json::from_slice(&unb64(with_all.split('.').next().expect("header"))).expect("JSON");
    assert_eq!(
        header,
        serde_json::json!({"alg": "RSA-OAEP-256", "enc": "A128CBC-HS256", "kid": "kid-1", "cty": "JWT"})
    );

    let bare = encrypt(
        b"x",
        &key.public_key(),
        None,
        KeyManagementAlg::RsaOaep,
        ContentEncryption::A256Gcm,
        None,
    )
    .expect("encrypt");
    let header: Value =
        serde_json::from_slice(&unb64(bare.split('.').next().expect("header"))).expect("JSON");
    assert_eq!(
        header,
        serde_json::json!({"alg": "RSA-OAEP", "enc": "A256GCM"})
    );
}

#[test]
fn each_encryption_uses_a_fresh_key_and_iv() {
    let key = a1_key();
    let make = || {
        encrypt(
            b"same plaintext",
            &key.public_key(),
            None,
            KeyManagementAlg::RsaOaep,
            ContentEncryption::A128Gcm,
            None,
        )
        .expect("encrypt")
    };
    let (first, second) = (make(), make());
    let first: Vec<&str> = first.split('.').collect();
    let second: Vec<&str> = second.split('.').collect();
    assert_eq!(first[0], second[0], "same header");
    for index in 1..5 {
        assert_ne!(first[index], second[index], "part {index} repeats");
    }
    // The CEKs themselves differ: each unwraps to its own key.
    let one = unwrap_with(&key, KeyManagementAlg::RsaOaep, &unb64(first[1])).expect("unwrap");
    let two = unwrap_with(&key, KeyManagementAlg::RsaOaep, &unb64(second[1])).expect("unwrap");
    assert_eq!(one.len(), 16);
    assert_ne!(one, two);
}

#[test]
fn jwk_public_key_is_the_public_half_of_its_private_key() {
    let key = fresh_key();
    let jwk = RsaKeyPair::from_der(pkcs8(&key))
        .expect("josekit reads PKCS#8")
        .to_jwk_public_key();
    let n = jwk.parameter("n").and_then(Value::as_str).expect("n");
    let e = jwk.parameter("e").and_then(Value::as_str).expect("e");

    let public = rsa_public_key_from_jwk(n, e).expect("public key from JWK");
    assert_eq!(spki(&public), spki(&key.public_key()));
    assert_eq!(public.key_size_bits(), 2048);

    let token = encrypt(
        b"to a fresh key",
        &public,
        Some("fresh"),
        KeyManagementAlg::RsaOaep,
        ContentEncryption::A128CbcHs256,
        None,
    )
    .expect("encrypt");
    let (_, plaintext) = decrypt_all(&token, &one_key("fresh", &key)).expect("decrypt");
    assert_eq!(plaintext, b"to a fresh key");
}

#[test]
fn jwk_public_key_with_leading_zero_bytes_is_the_same_key() {
    let key = fresh_key();
    let jwk = RsaKeyPair::from_der(pkcs8(&key))
        .expect("josekit reads PKCS#8")
        .to_jwk_public_key();
    let n = unb64(jwk.parameter("n").and_then(Value::as_str).expect("n"));
    let e = unb64(jwk.parameter("e").and_then(Value::as_str).expect("e"));
    let padded = |bytes: &[u8]| b64([&[0u8, 0][..], bytes].concat());

    let public = rsa_public_key_from_jwk(&padded(&n), &padded(&e)).expect("public key");
    assert_eq!(spki(&public), spki(&key.public_key()));
}

#[test]
fn jwk_public_key_with_a_zero_modulus_or_exponent_is_rejected() {
    let modulus = b64([0xc1; 256]);
    for zero in ["", "AA", "AAAA"] {
        assert_eq!(
            rsa_public_key_from_jwk(zero, "AQAB").err(),
            Some(JweError::InvalidPublicKey {
                reason: "n is zero"
            }),
            "n = {zero:?}"
        );
        assert_eq!(
            rsa_public_key_from_jwk(&modulus, zero).err(),
            Some(JweError::InvalidPublicKey {
                reason: "e is zero"
            }),
            "e = {zero:?}"
        );
    }
}

#[test]
fn tokens_to_a_jwk_public_key_decrypt_with_its_private_key() {
    let jwk: Value = serde_json::from_str(RFC7516_A1_JWK).expect("JSON");
    let public =
        rsa_public_key_from_jwk(jwk["n"].as_str().expect("n"), jwk["e"].as_str().expect("e"))
            .expect("public key");
    let token = encrypt(
        b"to the A.1 key",
        &public,
        Some("a1"),
        KeyManagementAlg::RsaOaep256,
        ContentEncryption::A256CbcHs512,
        None,
    )
    .expect("encrypt");
    let key = a1_key();
    let (_, plaintext) = decrypt_all(&token, &one_key("a1", &key)).expect("decrypt");
    assert_eq!(plaintext, b"to the A.1 key");
}

#[test]
fn jwk_public_key_with_bad_base64_is_rejected() {
    assert_eq!(
        rsa_public_key_from_jwk("not base64!", "AQAB").err(),
        Some(JweError::InvalidPublicKey {
            reason: "n is not unpadded base64url"
        })
    );
    assert_eq!(
        rsa_public_key_from_jwk(&b64([0xc1; 256]), "AQAB==").err(),
        Some(JweError::InvalidPublicKey {
            reason: "e is not unpadded base64url"
        })
    );
}

#[test]
fn jwk_public_key_under_2048_bits_is_rejected() {
    let mut modulus = [0xc3u8; 128];
    modulus[127] |= 1;
    assert_eq!(
        rsa_public_key_from_jwk(&b64(modulus), "AQAB").err(),
        Some(JweError::InvalidPublicKey {
            reason: "not an acceptable RSA public key (2048 to 8192 bits)"
        })
    );
}

// --- names --------------------------------------------------------------------------------------

#[test]
fn names_parse_back_and_match_the_serde_names() {
    for alg in KeyManagementAlg::ALL {
        assert_eq!(alg.as_str().parse::<KeyManagementAlg>(), Ok(alg));
        assert_eq!(
            serde_json::to_value(alg).expect("serde"),
            Value::from(alg.as_str())
        );
    }
    for enc in ContentEncryption::ALL {
        assert_eq!(enc.as_str().parse::<ContentEncryption>(), Ok(enc));
        assert_eq!(
            serde_json::to_value(enc).expect("serde"),
            Value::from(enc.as_str())
        );
    }
}

#[test]
fn names_are_case_sensitive_and_unknown_ones_are_refused() {
    assert_eq!(
        "rsa-oaep".parse::<KeyManagementAlg>(),
        Err(JweError::UnsupportedAlg {
            alg: "rsa-oaep".into()
        })
    );
    assert_eq!(
        "A192GCM".parse::<ContentEncryption>(),
        Err(JweError::UnsupportedEnc {
            enc: "A192GCM".into()
        })
    );
}

#[test]
fn five_parts_make_a_compact_jwe_and_three_do_not() {
    assert!(is_compact_jwe(RFC7516_A1_TOKEN));
    assert!(is_compact_jwe("a.b.c.d.e"));
    assert!(!is_compact_jwe("a.b.c"));
    assert!(!is_compact_jwe("a.b.c.d.e.f"));
    assert!(!is_compact_jwe(""));
}

// --- key selection ------------------------------------------------------------------------------

#[test]
fn without_kid_every_key_is_tried_in_turn() {
    let (right, wrong) = (a1_key(), fresh_key());
    let keys = [
        DecryptionKeyRef {
            kid: "old",
            key: &wrong,
        },
        DecryptionKeyRef {
            kid: "new",
            key: &right,
        },
    ];
    let (_, plaintext) = decrypt_all(RFC7516_A1_TOKEN, &keys).expect("second key decrypts");
    assert_eq!(plaintext, RFC7516_A1_PLAINTEXT.as_bytes());
}

#[test]
fn with_kid_only_the_named_key_is_tried() {
    let (right, wrong) = (a1_key(), fresh_key());
    let keys = [
        DecryptionKeyRef {
            kid: "wrong",
            key: &wrong,
        },
        DecryptionKeyRef {
            kid: "right",
            key: &right,
        },
    ];
    let to = |kid: &str| {
        encrypt(
            b"for one key",
            &right.public_key(),
            Some(kid),
            KeyManagementAlg::RsaOaep,
            ContentEncryption::A128Gcm,
            None,
        )
        .expect("encrypt")
    };
    assert!(decrypt_all(&to("right"), &keys).is_ok());
    // Naming the wrong key does not fall back to the others.
    assert_eq!(
        decrypt_all(&to("wrong"), &keys),
        Err(JweError::NoKeyDecrypts)
    );
}

#[test]
fn kid_that_matches_no_key_is_rejected() {
    let key = a1_key();
    let token = encrypt(
        b"x",
        &key.public_key(),
        Some("retired-key"),
        KeyManagementAlg::RsaOaep,
        ContentEncryption::A128Gcm,
        None,
    )
    .expect("encrypt");
    assert_eq!(
        decrypt_all(&token, &one_key("current-key", &key)),
        Err(JweError::UnknownKid {
            kid: "retired-key".into()
        })
    );
}

#[test]
fn wrong_key_is_rejected() {
    let other = fresh_key();
    assert_eq!(
        decrypt_all(RFC7516_A1_TOKEN, &one_key("k", &other)),
        Err(JweError::NoKeyDecrypts)
    );
}

#[test]
fn no_keys_at_all_decrypt_nothing() {
    assert_eq!(
        decrypt_all(RFC7516_A1_TOKEN, &[]),
        Err(JweError::NoKeyDecrypts)
    );
}

#[test]
fn key_wrapped_with_the_other_oaep_hash_does_not_unwrap() {
    let key = a1_key();
    let token = encrypt(
        b"x",
        &key.public_key(),
        None,
        KeyManagementAlg::RsaOaep256,
        ContentEncryption::A128Gcm,
        None,
    )
    .expect("encrypt");
    // Claim SHA-1 OAEP in a header over the same parts: the unwrap must fail.
    let forged = replace_part(&token, 0, &b64(r#"{"alg":"RSA-OAEP","enc":"A128GCM"}"#));
    assert_eq!(
        decrypt_all(&forged, &one_key("k", &key)),
        Err(JweError::NoKeyDecrypts)
    );
}

// --- refusals of form -----------------------------------------------------------------------------

#[test]
fn oversize_token_is_rejected_before_any_work() {
    let token = "a".repeat(MAX_TOKEN_LEN + 1);
    assert_eq!(
        decrypt_all(&token, &[]),
        Err(JweError::TooLarge {
            len: MAX_TOKEN_LEN + 1,
            max: MAX_TOKEN_LEN
        })
    );
    // At the limit the token is looked at (and fails for its form instead).
    let token = "a".repeat(MAX_TOKEN_LEN);
    assert_eq!(
        decrypt_all(&token, &[]),
        Err(JweError::NotFiveParts { parts: 1 })
    );
}

#[test]
fn token_without_five_parts_is_rejected() {
    let key = a1_key();
    let keys = one_key("k", &key);
    let jws = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
    assert_eq!(
        decrypt_all(jws, &keys),
        Err(JweError::NotFiveParts { parts: 3 })
    );
    let six = format!("{RFC7516_A1_TOKEN}.AAAA");
    assert_eq!(
        decrypt_all(&six, &keys),
        Err(JweError::NotFiveParts { parts: 6 })
    );
    assert_eq!(
        decrypt_all("", &keys),
        Err(JweError::NotFiveParts { parts: 1 })
    );
}

#[test]
fn bad_base64url_in_any_part_is_rejected() {
    let key = a1_key();
    let keys = one_key("k", &key);
    let names = [
        "protected header",
        "encrypted key",
        "initialization vector",
        "ciphertext",
        "authentication tag",
    ];
    for (index, part) in names.into_iter().enumerate() {
        for bad in ["a+b/", "YWJj=", "ab$d", "Y"] {
            let token = replace_part(RFC7516_A1_TOKEN, index, bad);
            assert_eq!(
                decrypt_all(&token, &keys),
                Err(JweError::Base64 { part }),
                "{bad:?} as {part}"
            );
        }
    }
}

#[test]
fn header_that_is_not_a_json_object_is_rejected() {
    let key = a1_key();
    let keys = one_key("k", &key);
    for header in [
        "not json",
        "[\"RSA-OAEP\"]",
        "\"RSA-OAEP\"",
        "{\"alg\":",
        "",
    ] {
        let token = replace_part(RFC7516_A1_TOKEN, 0, &b64(header));
        assert_eq!(
            decrypt_all(&token, &keys),
            Err(JweError::HeaderNotJson),
            "{header:?}"
        );
    }
}

fn with_header(header: &str) -> String {
    replace_part(RFC7516_A1_TOKEN, 0, &b64(header))
}

#[test]
fn header_without_alg_or_enc_is_rejected() {
    let key = a1_key();
    let keys = one_key("k", &key);
    assert_eq!(
        decrypt_all(&with_header(r#"{"enc":"A256GCM"}"#), &keys),
        Err(JweError::MissingHeaderParameter { name: "alg" })
    );
    assert_eq!(
        decrypt_all(&with_header(r#"{"alg":"RSA-OAEP"}"#), &keys),
        Err(JweError::MissingHeaderParameter { name: "enc" })
    );
}

#[test]
fn header_parameters_of_the_wrong_type_are_rejected() {
    let key = a1_key();
    let keys = one_key("k", &key);
    let cases = [
        (r#"{"alg":1,"enc":"A256GCM"}"#, "alg"),
        (r#"{"alg":"RSA-OAEP","enc":null}"#, "enc"),
        (r#"{"alg":"RSA-OAEP","enc":"A256GCM","kid":7}"#, "kid"),
        (r#"{"alg":"RSA-OAEP","enc":"A256GCM","cty":["JWT"]}"#, "cty"),
        (r#"{"alg":"RSA-OAEP","enc":"A256GCM","typ":{}}"#, "typ"),
    ];
    for (header, name) in cases {
        assert_eq!(
            decrypt_all(&with_header(header), &keys),
            Err(JweError::HeaderParameterNotString { name }),
            "{header}"
        );
    }
}

#[test]
fn unsupported_key_management_algorithms_are_rejected() {
    let key = a1_key();
    let keys = one_key("k", &key);
    for alg in [
        "RSA1_5",
        "dir",
        "none",
        "A128KW",
        "A256GCMKW",
        "ECDH-ES",
        "ECDH-ES+A256KW",
        "PBES2-HS256+A128KW",
        "RSA-OAEP-384",
        "RSA-OAEP-512",
        "",
    ] {
        let header = format!(r#"{{"alg":"{alg}","enc":"A256GCM"}}"#);
        assert_eq!(
            decrypt_all(&with_header(&header), &keys),
            Err(JweError::UnsupportedAlg { alg: alg.into() }),
            "{alg}"
        );
    }
}

#[test]
fn rfc7516_appendix_a2_token_is_refused_for_its_rsa1_5() {
    let key = a1_key();
    assert_eq!(
        decrypt_all(RFC7516_A2_TOKEN, &one_key("k", &key)),
        Err(JweError::UnsupportedAlg {
            alg: "RSA1_5".into()
        })
    );
}

#[test]
fn unsupported_content_encryptions_are_rejected() {
    let key = a1_key();
    let keys = one_key("k", &key);
    for enc in ["A192GCM", "A192CBC-HS384", "A128CBC", "a256gcm", "none"] {
        let header = format!(r#"{{"alg":"RSA-OAEP","enc":"{enc}"}}"#);
        assert_eq!(
            decrypt_all(&with_header(&header), &keys),
            Err(JweError::UnsupportedEnc { enc: enc.into() }),
            "{enc}"
        );
    }
}

#[test]
fn unprintable_or_long_header_values_stay_out_of_errors() {
    let key = a1_key();
    let keys = one_key("k", &key);
    let long = "A".repeat(65);
    for alg in [long.as_str(), "RSA\u{1b}[31m", "RSA\nOAEP", "RSA-ÖAEP"] {
        let header = serde_json::json!({"alg": alg, "enc": "A256GCM"}).to_string();
        assert_eq!(
            decrypt_all(&with_header(&header), &keys),
            Err(JweError::UnsupportedAlg {
                alg: "(not shown)".into()
            }),
            "{alg:?}"
        );
    }
}

#[test]
fn algorithms_outside_the_allow_lists_are_rejected() {
    let key = a1_key();
    let keys = one_key("k", &key);
    assert_eq!(
        decrypt(
            RFC7516_A1_TOKEN,
            &keys,
            &[KeyManagementAlg::RsaOaep256],
            ALL_ENCS
        ),
        Err(JweError::AlgNotAllowed {
            alg: KeyManagementAlg::RsaOaep
        })
    );
    assert_eq!(
        decrypt(
            RFC7516_A1_TOKEN,
            &keys,
            ALL_ALGS,
            &[ContentEncryption::A128Gcm, ContentEncryption::A128CbcHs256]
        ),
        Err(JweError::EncNotAllowed {
            enc: ContentEncryption::A256Gcm
        })
    );
    assert_eq!(
        decrypt(RFC7516_A1_TOKEN, &keys, &[], &[]),
        Err(JweError::AlgNotAllowed {
            alg: KeyManagementAlg::RsaOaep
        })
    );
}

#[test]
fn compressed_content_is_rejected() {
    let key = a1_key();
    let token = seal(
        r#"{"alg":"RSA-OAEP","enc":"A128GCM","zip":"DEF"}"#,
        &key.public_key(),
        KeyManagementAlg::RsaOaep,
        ContentEncryption::A128Gcm,
        &content::random_cek(ContentEncryption::A128Gcm),
        b"not actually compressed",
    );
    assert_eq!(
        decrypt_all(&token, &one_key("k", &key)),
        Err(JweError::Compressed)
    );
}

#[test]
fn critical_header_extensions_are_rejected() {
    let key = a1_key();
    let token = seal(
        r#"{"alg":"RSA-OAEP","enc":"A128GCM","crit":["exp"],"exp":1}"#,
        &key.public_key(),
        KeyManagementAlg::RsaOaep,
        ContentEncryption::A128Gcm,
        &content::random_cek(ContentEncryption::A128Gcm),
        b"x",
    );
    assert_eq!(
        decrypt_all(&token, &one_key("k", &key)),
        Err(JweError::CriticalHeader)
    );
}

#[test]
fn sealed_token_with_a_hand_written_header_decrypts() {
    // The helper used by the refusal tests above makes tokens that do decrypt when nothing in the
    // header is refused, so those refusals come from the header alone.
    let key = a1_key();
    let token = seal(
        r#"{"alg":"RSA-OAEP","enc":"A128GCM","typ":"JWE","extra":true}"#,
        &key.public_key(),
        KeyManagementAlg::RsaOaep,
        ContentEncryption::A128Gcm,
        &content::random_cek(ContentEncryption::A128Gcm),
        b"sealed",
    );
    let (header, plaintext) = decrypt_all(&token, &one_key("k", &key)).expect("decrypts");
    assert_eq!(plaintext, b"sealed");
    assert_eq!(header.typ.as_deref(), Some("JWE"));
}

// --- refusals of content ------------------------------------------------------------------------

#[test]
fn content_key_of_the_wrong_length_is_rejected() {
    let key = a1_key();
    let encrypted_key =
        wrap_cek(&key.public_key(), KeyManagementAlg::RsaOaep, &[7u8; 16]).expect("wrap");
    // A header promising A256GCM (32-byte key) over a 16-byte key.
    let token = [
        b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#),
        b64(encrypted_key),
        b64([0u8; 12]),
        b64(b"ciphertext"),
        b64([0u8; 16]),
    ]
    .join(".");
    assert_eq!(
        decrypt_all(&token, &one_key("k", &key)),
        Err(JweError::CekLength {
            enc: ContentEncryption::A256Gcm,
            expected: 32,
            actual: 16
        })
    );
}

fn token_for(key: &PrivateDecryptingKey, enc: ContentEncryption) -> String {
    encrypt(
        b"a plaintext longer than one AES block",
        &key.public_key(),
        None,
        KeyManagementAlg::RsaOaep256,
        enc,
        None,
    )
    .expect("encrypt")
}

#[test]
fn initialization_vector_of_the_wrong_length_is_rejected() {
    let key = a1_key();
    for enc in ContentEncryption::ALL {
        let token = token_for(&key, enc);
        let wrong = if enc.iv_len() == 12 { 16 } else { 12 };
        let token = replace_part(&token, 2, &b64(vec![0u8; wrong]));
        assert_eq!(
            decrypt_all(&token, &one_key("k", &key)),
            Err(JweError::IvLength {
                enc,
                expected: enc.iv_len(),
                actual: wrong
            })
        );
    }
}

#[test]
fn authentication_tag_of_the_wrong_length_is_rejected() {
    let key = a1_key();
    for enc in ContentEncryption::ALL {
        let token = token_for(&key, enc);
        let tag = unb64(token.split('.').nth(4).expect("tag"));
        let token = replace_part(&token, 4, &b64(&tag[..tag.len() - 1]));
        assert_eq!(
            decrypt_all(&token, &one_key("k", &key)),
            Err(JweError::TagLength {
                enc,
                expected: enc.tag_len(),
                actual: enc.tag_len() - 1
            })
        );
        let token = replace_part(&token, 4, "");
        assert_eq!(
            decrypt_all(&token, &one_key("k", &key)),
            Err(JweError::TagLength {
                enc,
                expected: enc.tag_len(),
                actual: 0
            })
        );
    }
}

#[test]
fn tampered_ciphertext_tag_or_iv_is_rejected() {
    let key = a1_key();
    for enc in ContentEncryption::ALL {
        let token = token_for(&key, enc);
        assert!(decrypt_all(&token, &one_key("k", &key)).is_ok());
        for (index, what) in [(2, "iv"), (3, "ciphertext"), (4, "tag")] {
            assert_eq!(
                decrypt_all(&flip_bit(&token, index), &one_key("k", &key)),
                Err(JweError::Authentication),
                "{enc} with tampered {what}"
            );
        }
    }
}

#[test]
fn tampered_header_is_rejected() {
    let key = a1_key();
    for enc in ContentEncryption::ALL {
        let token = token_for(&key, enc);
        // Same alg and enc, so the CEK still unwraps; only the AAD changes.
        let header = format!(r#"{{"alg":"RSA-OAEP-256","enc":"{enc}","typ":"JWT"}}"#);
        let token = replace_part(&token, 0, &b64(header));
        assert_eq!(
            decrypt_all(&token, &one_key("k", &key)),
            Err(JweError::Authentication),
            "{enc}"
        );
    }
}

#[test]
fn tampered_encrypted_key_is_rejected() {
    let key = a1_key();
    assert_eq!(
        decrypt_all(&flip_bit(RFC7516_A1_TOKEN, 1), &one_key("k", &key)),
        Err(JweError::NoKeyDecrypts)
    );
    let truncated = replace_part(RFC7516_A1_TOKEN, 1, "AAAA");
    assert_eq!(
        decrypt_all(&truncated, &one_key("k", &key)),
        Err(JweError::NoKeyDecrypts)
    );
}

#[test]
fn cbc_padding_errors_look_exactly_like_mac_errors() {
    for enc in [
        ContentEncryption::A128CbcHs256,
        ContentEncryption::A256CbcHs512,
    ] {
        let cek = content::random_cek(enc);
        let iv = content::random_iv(enc);
        let aad = b"header";
        let (ciphertext, tag) =
            content::encrypt(enc, &cek, &iv, aad, b"sixteen bytes!!!").expect("encrypt");
        assert_eq!(ciphertext.len(), 32, "a full block of padding follows");

        // Drop the padding block and authenticate what is left, so the MAC passes and the padding
        // check is the one that fails.
        let unpadded = &ciphertext[..16];
        let (mac_key, _, _) = content::cbc_hmac_parts(enc, &cek);
        let good_mac = content::cbc_hmac_tag(enc, &mac_key, aad, &iv, unpadded);
        let padding_failure = content::decrypt(enc, &cek, &iv, aad, unpadded, &good_mac);

        let mut bad_tag = tag.clone();
        bad_tag[0] ^= 1;
        let mac_failure = content::decrypt(enc, &cek, &iv, aad, &ciphertext, &bad_tag);

        assert_eq!(padding_failure, Err(JweError::Authentication));
        assert_eq!(padding_failure, mac_failure);

        // A ciphertext that is no whole number of blocks, correctly authenticated, fails the same.
        let ragged = &ciphertext[..20];
        let ragged_mac = content::cbc_hmac_tag(enc, &mac_key, aad, &iv, ragged);
        assert_eq!(
            content::decrypt(enc, &cek, &iv, aad, ragged, &ragged_mac),
            Err(JweError::Authentication)
        );
    }
}

#[test]
fn cbc_tag_covers_the_aad_length() {
    // Moving a byte from the AAD to the IV keeps A || IV || E the same but changes AL, so the tag
    // must change with it.
    let enc = ContentEncryption::A128CbcHs256;
    let cek: Vec<u8> = (0u8..32).collect();
    let (mac_key, _, _) = content::cbc_hmac_parts(enc, &cek);
    let one = content::cbc_hmac_tag(enc, &mac_key, b"ab", b"c", b"d");
    let two = content::cbc_hmac_tag(enc, &mac_key, b"a", b"bc", b"d");
    assert_ne!(one, two);
}
