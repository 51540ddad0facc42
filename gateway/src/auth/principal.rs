//! Who a request acts for, and what it may do: the policy half of access control, with no
//! HTTP in it.

use std::collections::BTreeSet;
use std::fmt;

use shared_types::SessionId;

use super::AuthError;

/// One permission, as named in the token's `scope` claim and declared per route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read a session: its SSE stream and its snapshot.
    Subscribe,
    /// Post and list a session's feedback.
    Feedback,
    /// Publish metadata to a session over HTTP.
    Publish,
    /// Operational detail: `/metrics`, component detail in `/readyz`. Grants no session.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Self::Subscribe, Self::Feedback, Self::Publish, Self::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscribe => "subscribe",
            Self::Feedback => "feedback",
            Self::Publish => "publish",
            Self::Admin => "admin",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == word)
    }

    /// Whether this permission is about one session (all but `admin`).
    pub fn is_per_session(self) -> bool {
        self != Self::Admin
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The sessions a principal may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sessions {
    /// `"sessions": "*"` (and the anonymous principal of a gateway without auth).
    All,
    /// `"sessions": [...]`; empty when the claim is absent.
    Only(BTreeSet<String>),
}

impl Sessions {
    pub fn contains(&self, session: &SessionId) -> bool {
        match self {
            Self::All => true,
            Self::Only(ids) => ids.contains(session.as_str()),
        }
    }
}

/// A verified identity: the token's subject, its sessions and its scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The `sub` claim, for logs; `None` for anonymous access or a token without one.
    pub subject: Option<String>,
    pub sessions: Sessions,
    pub scopes: BTreeSet<Scope>,
}

impl Principal {
    /// The principal of a gateway without authentication: everything is allowed.
    pub fn anonymous() -> Self {
        Self {
            subject: None,
            sessions: Sessions::All,
            scopes: Scope::ALL.into_iter().collect(),
        }
    }

    /// Builds a principal from the token's claims (already verified).
    ///
    /// `sessions`: a list of ids or `"*"`; absent means no session. `scope`: space-separated
    /// words, unknown ones ignored (identity providers add `openid`, `profile`…). Tokens
    /// minted before scopes existed have no `scope` claim: they keep what they could do
    /// then, `subscribe feedback`, plus `publish` when they say `"publish": true`.
    pub fn from_claims(claims: Claims) -> Result<Self, AuthError> {
        let sessions = match claims.sessions {
            None => Sessions::Only(BTreeSet::new()),
            Some(serde_json::Value::String(all)) if all == "*" => Sessions::All,
            Some(serde_json::Value::Array(ids)) => Sessions::Only(
                ids.into_iter()
                    .map(|id| match id {
                        serde_json::Value::String(id) => Ok(id),
                        _ => Err(AuthError::Invalid("`sessions` lists a non-string")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some(_) => {
                return Err(AuthError::Invalid(
                    "`sessions` must be a list of session ids or \"*\"",
                ))
            }
        };
        let scopes = match &claims.scope {
            Some(words) => words
                .split_ascii_whitespace()
                .filter_map(Scope::parse)
                .collect(),
            None => {
                let mut legacy: BTreeSet<Scope> = [Scope::Subscribe, Scope::Feedback].into();
                if claims.publish == Some(true) {
                    legacy.insert(Scope::Publish);
                }
                legacy
            }
        };
        Ok(Self {
            subject: claims.sub,
            sessions,
            scopes,
        })
    }

    /// Whether this principal may do `scope` (on `session` for per-session scopes).
    pub fn allows(&self, session: Option<&SessionId>, scope: Scope) -> bool {
        self.authorize(session, scope).is_ok()
    }

    /// [`Self::allows`] with the reason of a refusal.
    pub fn authorize(&self, session: Option<&SessionId>, scope: Scope) -> Result<(), AuthError> {
        if !self.scopes.contains(&scope) {
            return Err(AuthError::ScopeMissing(scope));
        }
        match session {
            Some(session) if !self.sessions.contains(session) => {
                Err(AuthError::SessionNotAllowed(session.clone()))
            }
            _ => Ok(()),
        }
    }
}

/// The claims the gateway reads; registered ones (`exp`, `nbf`, `iss`, `aud`) are checked
/// by the verifier.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Claims {
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub sessions: Option<serde_json::Value>,
    #[serde(default)]
    pub scope: Option<String>,
    /// Deprecated: read only when `scope` is absent.
    #[serde(default)]
    pub publish: Option<bool>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn principal(claims: serde_json::Value) -> Result<Principal, AuthError> {
        Principal::from_claims(serde_json::from_value(claims).unwrap())
    }

    fn id(raw: &str) -> SessionId {
        SessionId::parse(raw.to_owned()).unwrap()
    }

    #[test]
    fn an_absent_sessions_claim_grants_no_session() {
        let p = principal(json!({"scope": "subscribe"})).unwrap();
        assert!(!p.allows(Some(&id("s1")), Scope::Subscribe));
        assert_eq!(
            p.authorize(Some(&id("s1")), Scope::Subscribe)
                .unwrap_err()
                .code(),
            "session_not_allowed"
        );
    }

    #[test]
    fn sessions_is_a_list_or_a_star() {
        let listed = principal(json!({"sessions": ["s1"], "scope": "subscribe"})).unwrap();
        assert!(listed.allows(Some(&id("s1")), Scope::Subscribe));
        assert!(!listed.allows(Some(&id("s2")), Scope::Subscribe));
        let all = principal(json!({"sessions": "*", "scope": "subscribe"})).unwrap();
        assert!(all.allows(Some(&id("s2")), Scope::Subscribe));
        for bad in [json!("s1"), json!(3), json!([1]), json!({"s1": true})] {
            let err = principal(json!({"sessions": bad})).unwrap_err();
            assert_eq!(err.code(), "token_invalid", "{bad}");
        }
    }

    #[test]
    fn scopes_are_space_separated_and_unknown_words_ignored() {
        let p = principal(json!({"sessions": "*", "scope": "openid publish  feedback"})).unwrap();
        assert!(p.allows(Some(&id("s")), Scope::Publish));
        assert!(p.allows(Some(&id("s")), Scope::Feedback));
        let err = p.authorize(Some(&id("s")), Scope::Subscribe).unwrap_err();
        assert_eq!(err.code(), "scope_missing");
        assert!(!p.allows(None, Scope::Admin));
    }

    #[test]
    fn tokens_without_scope_keep_their_old_rights() {
        let reader = principal(json!({"sessions": "*"})).unwrap();
        assert!(reader.allows(Some(&id("s")), Scope::Subscribe));
        assert!(reader.allows(Some(&id("s")), Scope::Feedback));
        assert!(!reader.allows(Some(&id("s")), Scope::Publish));
        let publisher = principal(json!({"sessions": "*", "publish": true})).unwrap();
        assert!(publisher.allows(Some(&id("s")), Scope::Publish));
        assert!(!publisher.allows(None, Scope::Admin));
        // Once a token has `scope`, the old flag means nothing.
        let scoped = principal(json!({"sessions": "*", "scope": "subscribe", "publish": true}));
        assert!(!scoped.unwrap().allows(Some(&id("s")), Scope::Publish));
    }

    #[test]
    fn admin_grants_no_session() {
        let admin = principal(json!({"scope": "admin"})).unwrap();
        assert!(admin.allows(None, Scope::Admin));
        assert!(!admin.allows(Some(&id("s")), Scope::Subscribe));
    }
}
