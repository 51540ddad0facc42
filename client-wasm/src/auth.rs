//! Where the bearer token comes from. It only ever travels in the `Authorization`
//! header, never in a URL: query strings end up in access logs, proxies and the browser
//! history, headers do not (see the README's "Tokens" section).

use js_sys::{Function, Promise};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use crate::convert::describe;
use crate::GatewayError;

#[derive(Clone, Default)]
pub(crate) enum TokenSource {
    #[default]
    None,
    Static(String),
    /// `() => string | Promise<string>`, asked before every request and every
    /// (re)connection, so an expiring token is refreshed without a new client.
    Provider(Function),
}

impl TokenSource {
    /// Whether asking again may give another token (a `tokenProvider`).
    pub fn refreshes(&self) -> bool {
        matches!(self, Self::Provider(_))
    }

    /// The value for the `Authorization` header, if any.
    pub async fn authorization(&self) -> Result<Option<String>, GatewayError> {
        let token = match self {
            Self::None => return Ok(None),
            Self::Static(token) => token.clone(),
            Self::Provider(provider) => {
                let fail = |e: JsValue| {
                    GatewayError::token_unavailable(
                        "tokenProvider failed: ".to_owned() + &describe(&e),
                    )
                };
                let value = provider.call0(&JsValue::UNDEFINED).map_err(fail)?;
                let value = JsFuture::from(Promise::resolve(&value))
                    .await
                    .map_err(fail)?;
                value.as_string().ok_or_else(|| {
                    GatewayError::token_unavailable("tokenProvider did not return a string")
                })?
            }
        };
        Ok(Some("Bearer ".to_owned() + &token))
    }
}
