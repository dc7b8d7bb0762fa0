//! The authentication plugins the proxy runs, started together at startup from the
//! configuration: local SASL, and the two sides of the gateway.

use super::credentials::CredentialStore;
use super::gateway::{GatewayClient, GatewayServer};
use super::local::LocalAuth;
use super::sasl_plugin::SaslTokenProvider;
use crate::config::Config;
use std::io;

/// Each is `Some` when its `--auth-*-enable` is on.
#[derive(Default)]
pub struct AuthPlugins {
    pub local: Option<LocalAuth>,
    pub gateway_server: Option<GatewayServer>,
    pub gateway_client: Option<GatewayClient>,
    /// `--sasl-plugin-enable`: the upstream SASL credentials.
    pub sasl_plugin: Option<SaslTokenProvider>,
    /// `--sasl-credentials-*`: each client's own upstream credentials.
    pub credentials: Option<CredentialStore>,
}

impl AuthPlugins {
    /// Starts every configured plugin; an error names the flag group and the program.
    pub fn start(config: &Config) -> io::Result<AuthPlugins> {
        let context = |flags: &'static str| {
            move |e: io::Error| io::Error::new(e.kind(), format!("{flags}: {e}"))
        };
        Ok(AuthPlugins {
            local: config
                .auth_local
                .as_ref()
                .map(LocalAuth::start)
                .transpose()
                .map_err(context("--auth-local-*"))?,
            gateway_server: config
                .auth_gateway_server
                .as_ref()
                .map(GatewayServer::start)
                .transpose()
                .map_err(context("--auth-gateway-server-*"))?,
            gateway_client: config
                .auth_gateway_client
                .as_ref()
                .map(GatewayClient::start)
                .transpose()
                .map_err(context("--auth-gateway-client-*"))?,
            sasl_plugin: config
                .sasl_plugin
                .as_ref()
                .map(SaslTokenProvider::start)
                .transpose()
                .map_err(context("--sasl-plugin-*"))?,
            credentials: config
                .sasl_credentials
                .as_ref()
                .map(CredentialStore::start)
                .transpose()
                .map_err(context("--sasl-credentials-*"))?,
        })
    }
}
