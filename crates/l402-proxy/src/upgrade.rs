//! Protocol switches (websockets): once the upstream answered `101`, the
//! client's connection and the upstream's are joined byte for byte. Payment
//! was checked on the upgrade request, before it was forwarded.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// Joins the client's upgraded connection to the upstream's in a task of
/// its own; it ends when either side closes.
pub(crate) fn tunnel(client: OnUpgrade, upstream: OnUpgrade, service: String) {
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(both) => both,
            Err(e) => {
                tracing::debug!(%service, error = %e, "proxy: upgrade not completed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(%service, error = %e, "proxy: upgraded connection ended");
        }
    });
}
