//! Files served by the binary itself: the QA page (web-demo/dist, embedded at build time
//! in release builds, read from that folder by debug builds, or any folder `DEMO_DIR`
//! names) and the `/ops` page.

use std::path::PathBuf;

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use super::ApiError;
use crate::config::Config;

/// The built QA page. Missing on a fresh clone until scripts/build-demo.sh runs: the
/// gateway then serves the API only.
#[derive(RustEmbed)]
#[folder = "../web-demo/dist/"]
#[allow_missing = true]
struct DemoFiles;

/// The operator page: one HTML file with its script and style.
pub const OPS_PAGE: &str = include_str!("../../assets/ops.html");

/// Where the QA page comes from.
#[derive(Debug, Clone)]
pub enum Demo {
    Dir(PathBuf),
    Embedded,
}

impl Demo {
    pub fn from_config(config: &Config) -> Self {
        config.demo_dir.clone().map_or(Self::Embedded, Self::Dir)
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Dir(dir) => dir.display().to_string(),
            Self::Embedded => "embedded".to_owned(),
        }
    }

    pub fn is_built(&self) -> bool {
        match self {
            Self::Dir(dir) => dir.join("index.html").exists(),
            Self::Embedded => DemoFiles::get("index.html").is_some(),
        }
    }
}

/// `GET` of an embedded QA page file; `/` and folders are their `index.html`.
pub async fn embedded(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_owned()
    };
    match DemoFiles::get(&path) {
        Some(file) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, file.metadata.mimetype().to_owned())],
            file.data,
        )
            .into_response(),
        None => ApiError::not_found("not_found", format!("no route or file at {}", uri.path()))
            .into_response(),
    }
}
