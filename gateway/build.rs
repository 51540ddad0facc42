//! Rebuilds the gateway when the QA page's build output (web-demo/dist) appears or
//! changes: `http::assets` embeds that folder as it is at compile time (a debug build
//! reads it from disk at run time, but only if it existed when the binary was built).

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if Path::new("../web-demo/dist").exists() {
        println!("cargo:rerun-if-changed=../web-demo/dist");
    } else if Path::new("../web-demo").exists() {
        // Not built yet: watch the folder it will appear in.
        println!("cargo:rerun-if-changed=../web-demo");
    }
}
