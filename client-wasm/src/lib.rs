//! Browser SDK of Session Gateway.
