//! The built-in authorization server's signing key: one ES256 (P-256) key, made once and kept as PKCS#8 in
//! `{data_dir}/oauth_signing.key` (mode 0600), published (public half only) at the `jwks_uri` under its RFC 7638
//! thumbprint as key id. Access tokens are signed and checked with it here.

use std::path::Path;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};

/// The signing key and its public description.
pub struct SigningKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.jwk.common.key_id).finish_non_exhaustive()
    }
}

/// Why the key could not be had.
fn invalid(path: &Path, what: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {what}", path.display()))
}

impl SigningKey {
    /// The key kept in `path`, made when the file does not exist.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        let generate = || {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map(|doc| doc.as_ref().to_vec())
                .unwrap_or_default()
        };
        let pkcs8 = crate::key_file::load_or_create(path, generate)?;
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8)
            .map_err(|e| invalid(path, format!("not a P-256 PKCS#8 key ({e})")))?;
        let encoding = EncodingKey::from_ec_der(&pkcs8);
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).map_err(|e| invalid(path, e))?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).map_err(|e| invalid(path, e))?;
        jwk.common.key_id = Some(kid);
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::ES256);
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| invalid(path, e))?;
        Ok(Self { encoding, decoding, jwk })
    }

    /// The JWKS document: the public key only.
    #[must_use]
    pub fn jwks(&self) -> JwkSet {
        JwkSet { keys: vec![self.jwk.clone()] }
    }

    /// Sign `claims` as a JWT (`typ: at+jwt`, RFC 9068).
    pub fn sign(&self, claims: &serde_json::Value) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid.clone_from(&self.jwk.common.key_id);
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }

    /// The key tokens are checked with.
    #[must_use]
    pub fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oauth_signing.key");
        let first = SigningKey::load_or_create(&path).unwrap();
        let again = SigningKey::load_or_create(&path).unwrap();
        assert_eq!(first.jwk, again.jwk, "a restart keeps the key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let published = serde_json::to_value(first.jwks()).unwrap();
        assert_eq!(published["keys"][0]["kty"], "EC");
        assert!(published["keys"][0].get("d").is_none(), "never the private part: {published}");
        std::fs::write(&path, b"not a key").unwrap();
        assert!(SigningKey::load_or_create(&path).is_err());
    }
}
