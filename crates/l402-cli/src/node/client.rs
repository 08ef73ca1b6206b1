//! A resolved node's client: [`NodeSpec::check`] (what only building the
//! client can tell) and [`NodeSpec::build`] (the client, as both faces).

use std::sync::Arc;

use l402_lightning::cln::ClnClient;
use l402_lightning::lnd::LndClient;
use l402_lightning::nwc::NwcClient;
use l402_lightning::phoenixd::PhoenixdClient;
use l402_lightning::{Receiver, Wallet};

use super::{Faces, KeyError, NodeSpec, Secret, Timeouts};

fn lnd_client(
    url: &str,
    macaroon: &Secret,
    cert: Option<&[u8]>,
    timeouts: &Timeouts,
) -> Result<LndClient, l402_lightning::lnd::LndConfigError> {
    let mut b = LndClient::builder(url, macaroon.0.clone())
        .timeout(timeouts.call)
        .pay_timeout(timeouts.pay);
    if let Some(cert) = cert {
        b = b.tls_cert_pem(cert);
    }
    b.build()
}

fn cln_rest_client(
    url: &str,
    rune: &Secret,
    cert: Option<&[u8]>,
    timeouts: &Timeouts,
) -> Result<ClnClient, l402_lightning::cln::ClnConfigError> {
    let mut b = ClnClient::builder(url, rune.0.clone())
        .timeout(timeouts.call)
        .pay_timeout(timeouts.pay);
    if let Some(cert) = cert {
        b = b.tls_cert_pem(cert);
    }
    b.build()
}

impl NodeSpec {
    /// Builds the client once to check what only the client can (a PEM
    /// certificate that does not decode, a rune that is not a header value),
    /// naming the key. `serve` checks at start; `get` builds only to pay.
    ///
    /// # Errors
    /// The key and the client's reason.
    pub fn check(&self) -> Result<(), KeyError> {
        use l402_lightning::cln::ClnConfigError;
        use l402_lightning::lnd::LndConfigError;
        use l402_lightning::phoenixd::PhoenixdConfigError;
        let with_cert = |cert: &Option<Vec<u8>>| {
            if cert.is_some() {
                "tls_cert_file"
            } else {
                "url"
            }
        };
        let key = match self {
            NodeSpec::Phoenixd {
                url,
                password,
                timeouts,
            } => match PhoenixdClient::builder(url.clone(), password.0.clone())
                .timeout(timeouts.call)
                .build()
            {
                Ok(_) => return Ok(()),
                Err(e @ PhoenixdConfigError::NoPassword) => ("password", e.to_string()),
                Err(e) => ("url", e.to_string()),
            },
            NodeSpec::Lnd {
                url,
                macaroon_hex,
                tls_cert,
                timeouts,
            } => match lnd_client(url, macaroon_hex, tls_cert.as_deref(), timeouts) {
                Ok(_) => return Ok(()),
                Err(e @ LndConfigError::BadMacaroon) => ("macaroon_hex", e.to_string()),
                Err(e @ LndConfigError::InvalidUrl(_)) => ("url", e.to_string()),
                Err(e) => (with_cert(tls_cert), e.to_string()),
            },
            NodeSpec::ClnRest {
                url,
                rune,
                tls_cert,
                timeouts,
            } => match cln_rest_client(url, rune, tls_cert.as_deref(), timeouts) {
                Ok(_) => return Ok(()),
                Err(e @ ClnConfigError::BadRune) => ("rune", e.to_string()),
                Err(e @ ClnConfigError::InvalidUrl(_)) => ("url", e.to_string()),
                Err(e) => (with_cert(tls_cert), e.to_string()),
            },
            NodeSpec::ClnSocket { .. } | NodeSpec::Nwc { .. } => return Ok(()),
        };
        Err(key)
    }

    /// Builds the client, as both faces.
    ///
    /// # Errors
    /// The client's configuration error, as text (no secret in it).
    pub fn build(&self) -> Result<Faces, String> {
        fn both<T: Receiver + Wallet + 'static>(t: T) -> Faces {
            let t = Arc::new(t);
            (t.clone(), t)
        }
        match self {
            NodeSpec::Phoenixd {
                url,
                password,
                timeouts,
            } => PhoenixdClient::builder(url.clone(), password.0.clone())
                .timeout(timeouts.call)
                .pay_timeout(timeouts.pay)
                .build()
                .map(both)
                .map_err(|e| e.to_string()),
            NodeSpec::Lnd {
                url,
                macaroon_hex,
                tls_cert,
                timeouts,
            } => lnd_client(url, macaroon_hex, tls_cert.as_deref(), timeouts)
                .map(both)
                .map_err(|e| e.to_string()),
            NodeSpec::ClnRest {
                url,
                rune,
                tls_cert,
                timeouts,
            } => cln_rest_client(url, rune, tls_cert.as_deref(), timeouts)
                .map(both)
                .map_err(|e| e.to_string()),
            #[cfg(unix)]
            NodeSpec::ClnSocket { path, timeouts } => Ok(both(
                ClnClient::socket(path.clone())
                    .timeout(timeouts.call)
                    .pay_timeout(timeouts.pay)
                    .build(),
            )),
            #[cfg(not(unix))]
            NodeSpec::ClnSocket { .. } => Err("unix sockets need a unix system".to_owned()),
            NodeSpec::Nwc { uri, timeouts } => Ok(both(
                NwcClient::builder((**uri).clone())
                    .timeout(timeouts.call)
                    .pay_timeout(timeouts.pay)
                    .build(),
            )),
        }
    }
}
