//! Access control policy, free of HTTP: verify a token, get a [`Principal`], ask it
//! whether it [`allows`](Principal::allows) a scope on a session.
//!
//! Keys (any combination): an HS256 secret (`AUTH_JWT_SECRET`), a public key in PEM
//! (`AUTH_JWT_PUBLIC_KEY_FILE`: RSA, EC P-256/P-384, Ed25519), a JWKS URL (`AUTH_JWKS_URL`).
//! With none configured the gateway is anonymous: every request acts as
//! [`Principal::anonymous`]. docs/SECURITY.md is the reference for the claims.

mod error;
mod keys;
mod principal;

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use shared_types::AuthMode;

pub use error::{AuthError, Refusal};
pub use keys::{Jwks, Key};
pub use principal::{Claims, Principal, Scope, Sessions};

use crate::config::Config;

/// Longest token accepted, in bytes: a token is parsed only below this size.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Authenticates tokens, or lets everything through when no key is configured.
#[derive(Clone)]
pub struct Auth {
    verifier: Option<Arc<Verifier>>,
}

impl Auth {
    /// Builds the verifier from the configuration; a JWKS is fetched once now (a failure
    /// is logged, not fatal: the identity provider may come up after the gateway).
    pub async fn from_config(config: &Config) -> anyhow::Result<Self> {
        let mut statics = Vec::new();
        if let Some(secret) = &config.auth_jwt_secret {
            statics.push(Key::hmac(&secret.0));
        }
        if let Some(path) = &config.auth_jwt_public_key_file {
            statics.push(Key::from_pem_file(path)?);
        }
        let jwks = match &config.auth_jwks_url {
            Some(url) => {
                let jwks = Jwks::new(
                    url.clone(),
                    Duration::from_secs(config.auth_jwks_min_refresh_seconds),
                    Duration::from_secs(config.auth_jwks_max_age_seconds),
                )?;
                let _ = jwks.refresh().await;
                Some(jwks)
            }
            None => None,
        };
        if statics.is_empty() && jwks.is_none() {
            tracing::info!(
                component = "auth",
                backend = "none",
                "client authentication"
            );
            return Ok(Self { verifier: None });
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = config.auth_leeway_seconds;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        match &config.auth_jwt_issuer {
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                validation.required_spec_claims.insert("iss".into());
            }
            None => validation.iss = None,
        }
        match &config.auth_jwt_audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.required_spec_claims.insert("aud".into());
            }
            // Without a configured audience an `aud` claim is not checked (the library
            // would refuse every token that has one).
            None => validation.validate_aud = false,
        }
        tracing::info!(
            component = "auth",
            backend = "jwt",
            static_keys = statics.len(),
            jwks = config.auth_jwks_url.as_deref().unwrap_or("none"),
            issuer = config.auth_jwt_issuer.as_deref().unwrap_or("any"),
            audience = config.auth_jwt_audience.as_deref().unwrap_or("any"),
            "client authentication"
        );
        Ok(Self {
            verifier: Some(Arc::new(Verifier {
                statics,
                jwks,
                validation,
            })),
        })
    }

    /// No authentication: every request is [`Principal::anonymous`].
    pub fn anonymous() -> Self {
        Self { verifier: None }
    }

    pub fn mode(&self) -> AuthMode {
        match self.verifier {
            Some(_) => AuthMode::Jwt,
            None => AuthMode::None,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.verifier.is_some()
    }

    /// The principal `token` proves; anonymous when authentication is off.
    pub async fn authenticate(&self, token: Option<&str>) -> Result<Principal, AuthError> {
        match &self.verifier {
            None => Ok(Principal::anonymous()),
            Some(verifier) => verifier.verify(token.ok_or(AuthError::Missing)?).await,
        }
    }
}

struct Verifier {
    /// The secret and the PEM key: they take tokens without `kid` (or with any `kid`
    /// when there is no JWKS).
    statics: Vec<Key>,
    jwks: Option<Jwks>,
    /// Time, issuer and audience rules; `algorithms` is set per key.
    validation: Validation,
}

impl Verifier {
    async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid("the token is too long"));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Invalid("malformed header or unsupported algorithm"))?;
        let key = self.key_for(header.kid.as_deref(), header.alg).await?;
        let mut validation = self.validation.clone();
        validation.algorithms = key.algorithms;
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| AuthError::from_jwt(&e))?;
        Principal::from_claims(data.claims)
    }

    async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<Key, AuthError> {
        if let (Some(jwks), Some(kid)) = (&self.jwks, kid) {
            let key = jwks.key(kid).await?;
            return match key.algorithms.contains(&alg) {
                true => Ok(key),
                false => Err(AuthError::Invalid("algorithm not accepted")),
            };
        }
        let accepted = |key: &&Key| key.algorithms.contains(&alg);
        match self.statics.iter().find(accepted) {
            Some(key) => Ok(key.clone()),
            // A public-key algorithm with no static key: the JWKS needs the `kid`.
            None if self.jwks.is_some() && alg.family() != jsonwebtoken::AlgorithmFamily::Hmac => {
                Err(AuthError::UnknownKey)
            }
            None => Err(AuthError::Invalid("algorithm not accepted")),
        }
    }
}
