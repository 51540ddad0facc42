//! Verification keys and the algorithms each one allows. The algorithm set comes from the
//! key's type, never from the token, so an `HS256` token cannot be checked against an RSA
//! public key used as an HMAC secret, and `alg: none` has no key at all.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

use super::AuthError;

/// A key and the algorithms it may verify.
#[derive(Clone)]
pub struct Key {
    pub key: DecodingKey,
    pub algorithms: Vec<Algorithm>,
}

impl Key {
    pub fn hmac(secret: &[u8]) -> Self {
        Self {
            key: DecodingKey::from_secret(secret),
            algorithms: AlgorithmFamily::Hmac.algorithms().to_vec(),
        }
    }

    /// One public key in PEM (SPKI `PUBLIC KEY`, or `RSA PUBLIC KEY`): RSA, EC or Ed25519.
    pub fn from_pem_file(path: &Path) -> anyhow::Result<Self> {
        let pem = std::fs::read(path)
            .with_context(|| format!("AUTH_JWT_PUBLIC_KEY_FILE: cannot read {}", path.display()))?;
        let (key, family) = if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
            (key, AlgorithmFamily::Rsa)
        } else if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
            (key, AlgorithmFamily::Ec)
        } else if let Ok(key) = DecodingKey::from_ed_pem(&pem) {
            (key, AlgorithmFamily::Ed)
        } else {
            anyhow::bail!(
                "AUTH_JWT_PUBLIC_KEY_FILE: {} holds no RSA, EC or Ed25519 public key in PEM",
                path.display()
            );
        };
        Ok(Self {
            key,
            algorithms: family.algorithms().to_vec(),
        })
    }

    /// A signing key from a JWKS; `None` for keys we must not or cannot use (encryption
    /// keys, symmetric keys, unknown types, unsupported curves).
    fn from_jwk(jwk: &Jwk) -> Option<Self> {
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            return None;
        }
        let by_type: &[Algorithm] = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa.algorithms(),
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => &[Algorithm::ES256],
                EllipticCurve::P384 => &[Algorithm::ES384],
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                &[Algorithm::EdDSA]
            }
            // A shared secret published at a URL is no secret.
            _ => return None,
        };
        let algorithms = match jwk.common.key_algorithm {
            // `alg` on the key narrows the type's set; one outside it makes the key unusable.
            Some(alg) => {
                let alg = Algorithm::from_str(&alg.to_string()).ok()?;
                by_type.contains(&alg).then(|| vec![alg])?
            }
            None => by_type.to_vec(),
        };
        Some(Self {
            key: DecodingKey::from_jwk(jwk).ok()?,
            algorithms,
        })
    }
}

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// A JWKS fetched from a URL and cached by `kid`. An unknown `kid` or a set older than
/// `max_age` triggers a refresh, at most one per `min_refresh`, so a flood of tokens with
/// made-up `kid`s cannot turn the gateway into a flood against the identity provider.
pub struct Jwks {
    url: String,
    client: reqwest::Client,
    min_refresh: Duration,
    max_age: Duration,
    cache: RwLock<Cache>,
    /// One refresh at a time; the others wait and then read its result.
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Key>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

impl Jwks {
    pub fn new(url: String, min_refresh: Duration, max_age: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .context("building the JWKS HTTP client")?;
        Ok(Self {
            url,
            client,
            min_refresh,
            max_age,
            cache: RwLock::default(),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    /// The key with this `kid`, refreshing the set when it is unknown or old.
    pub async fn key(&self, kid: &str) -> Result<Key, AuthError> {
        let (cached, fresh) = self.cached(kid);
        if let (Some(key), true) = (&cached, fresh) {
            return Ok(key.clone());
        }
        // A failed fetch keeps the keys already known.
        let _ = self.refresh().await;
        match self.cached(kid).0 {
            Some(key) => Ok(key),
            None if self.never_fetched() => Err(AuthError::KeysUnavailable),
            None => Err(AuthError::UnknownKey),
        }
    }

    /// The cached key, and whether the set is younger than `max_age`.
    fn cached(&self, kid: &str) -> (Option<Key>, bool) {
        let cache = self.cache.read().expect("jwks lock poisoned");
        let fresh = cache
            .fetched_at
            .is_some_and(|at| at.elapsed() < self.max_age);
        (cache.keys.get(kid).cloned(), fresh)
    }

    fn never_fetched(&self) -> bool {
        let cache = self.cache.read().expect("jwks lock poisoned");
        cache.fetched_at.is_none()
    }

    /// Fetches the set unless another fetch was tried within `min_refresh`.
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let _one_at_a_time = self.refreshing.lock().await;
        {
            let mut cache = self.cache.write().expect("jwks lock poisoned");
            if cache
                .attempted_at
                .is_some_and(|at| at.elapsed() < self.min_refresh)
            {
                return Ok(());
            }
            cache.attempted_at = Some(Instant::now());
        }
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(component = "auth", url = %self.url, keys = keys.len(), "JWKS fetched");
                let mut cache = self.cache.write().expect("jwks lock poisoned");
                cache.keys = keys;
                cache.fetched_at = Some(Instant::now());
                Ok(())
            }
            Err(err) => {
                tracing::warn!(component = "auth", url = %self.url, error = %format!("{err:#}"), "JWKS fetch failed");
                Err(err)
            }
        }
    }

    async fn fetch(&self) -> anyhow::Result<HashMap<String, Key>> {
        let mut response = self
            .client
            .get(&self.url)
            .send()
            .await?
            .error_for_status()?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            body.extend_from_slice(&chunk);
            anyhow::ensure!(
                body.len() <= MAX_JWKS_BYTES,
                "larger than {MAX_JWKS_BYTES} bytes"
            );
        }
        #[derive(serde::Deserialize)]
        struct Set {
            keys: Vec<serde_json::Value>,
        }
        let set: Set = serde_json::from_slice(&body).context("not a JWKS document")?;
        // One key we cannot read must not hide the others.
        Ok(set
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, Key::from_jwk(&jwk)?)))
            .collect())
    }
}
