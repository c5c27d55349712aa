//! The warp side of oxide-auth: a `WebRequest` over an already-parsed form body and a
//! `WebResponse` that only records what the flow decided. tessera writes the real HTTP response
//! itself (see `oauth::endpoint::run`), because the flows' own answers lack descriptions,
//! use `token_type: "bearer"` and cannot set `Cache-Control`.

use std::borrow::Cow;

use oxide_auth::endpoint::{NormalizedParameter, QueryParameter, WebRequest, WebResponse};
use url::Url;

use crate::oauth::endpoint::FlowResponse;

/// A token request as oxide-auth's flows read it.
pub struct FormRequest {
    body: NormalizedParameter,
    empty: NormalizedParameter,
    /// `Authorization: Basic ...`, from the header or made from `client_secret_post` fields.
    authorization: Option<String>,
}

impl FormRequest {
    /// `params` must already be validated (no repeats); client credentials are passed only
    /// through `authorization`, so both authentication methods reach the flows the same way.
    pub fn new<'a>(
        params: impl Iterator<Item = (&'a String, &'a String)>,
        authorization: Option<String>,
    ) -> Self {
        let body = params
            .filter(|(k, _)| k.as_str() != "client_id" && k.as_str() != "client_secret")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        FormRequest {
            body,
            empty: NormalizedParameter::new(),
            authorization,
        }
    }
}

#[derive(Debug)]
pub struct FrontendError;

impl WebRequest for FormRequest {
    type Error = FrontendError;
    type Response = CapturedResponse;

    fn query(&mut self) -> Result<Cow<'_, dyn QueryParameter + 'static>, FrontendError> {
        Ok(Cow::Borrowed(&self.empty as &dyn QueryParameter))
    }

    fn urlbody(&mut self) -> Result<Cow<'_, dyn QueryParameter + 'static>, FrontendError> {
        Ok(Cow::Borrowed(&self.body as &dyn QueryParameter))
    }

    fn authheader(&mut self) -> Result<Option<Cow<'_, str>>, FrontendError> {
        Ok(self.authorization.as_deref().map(Cow::Borrowed))
    }
}

/// What the flow answered: its status and, for an error, the `error` code. The body itself is
/// not kept: on success it holds the tokens, which must not outlive the response tessera writes.
#[derive(Default, Debug)]
pub struct CapturedResponse {
    status: u16,
    error: Option<String>,
}

fn error_field(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.get("error")?.as_str().map(str::to_string)
}

impl WebResponse for CapturedResponse {
    type Error = FrontendError;

    fn ok(&mut self) -> Result<(), FrontendError> {
        self.status = 200;
        Ok(())
    }
    fn redirect(&mut self, _: Url) -> Result<(), FrontendError> {
        // Neither grant tessera serves redirects.
        Err(FrontendError)
    }
    fn client_error(&mut self) -> Result<(), FrontendError> {
        self.status = 400;
        Ok(())
    }
    fn unauthorized(&mut self, _: &str) -> Result<(), FrontendError> {
        self.status = 401;
        Ok(())
    }
    fn body_text(&mut self, text: &str) -> Result<(), FrontendError> {
        self.error = error_field(text);
        Ok(())
    }
    fn body_json(&mut self, data: &str) -> Result<(), FrontendError> {
        if self.status == 0 {
            self.status = 200;
        }
        // A success body is the flow's token JSON, which tessera rewrites anyway: not parsed.
        if self.status != 200 {
            self.error = error_field(data);
        }
        Ok(())
    }
}

impl FlowResponse for CapturedResponse {
    fn status(&self) -> u16 {
        self.status
    }
    fn error_code(&self) -> Option<String> {
        self.error.clone()
    }
}
