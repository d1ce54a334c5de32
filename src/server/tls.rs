//! TLS for `wss://` and `https://`, terminated in-process with rustls.
//!
//! The certificate lives behind an [`ArcSwap`] that rustls consults on every
//! handshake ([`ResolvesServerCert`]), so a renewed certificate is served to the
//! next connection the moment it is loaded, while connections already open keep
//! the session they negotiated. It is reloaded on SIGHUP and when the files
//! change on disk (checked every few seconds; renewals are rare, and polling
//! modification times needs no platform-specific watcher).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};

/// The certificate and key currently served.
#[derive(Debug)]
pub struct CertStore {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: ArcSwap<CertifiedKey>,
    loaded_mtimes: std::sync::Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default().cloned().unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// Reads a PEM certificate chain and private key, and checks they belong together.
pub fn load_pair(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot parse the certificate {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate found in {}", cert_path.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| format!("cannot read a private key from {}: {e}", key_path.display()))?;
    CertifiedKey::from_der(certs, key, &provider()).map_err(|e| {
        format!("the key {} does not match the certificate {}: {e}", key_path.display(), cert_path.display())
    })
}

fn mtimes(cert: &Path, key: &Path) -> (Option<SystemTime>, Option<SystemTime>) {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (m(cert), m(key))
}

impl CertStore {
    /// Loads the pair; any problem is an error that names the file.
    pub fn open(cert_path: &Path, key_path: &Path) -> Result<Arc<CertStore>, String> {
        let pair = load_pair(cert_path, key_path)?;
        Ok(Arc::new(CertStore {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: ArcSwap::from_pointee(pair),
            loaded_mtimes: std::sync::Mutex::new(mtimes(cert_path, key_path)),
        }))
    }

    /// Loads the files again. On error the certificate being served stays.
    pub fn reload(&self) -> Result<(), String> {
        let seen = mtimes(&self.cert_path, &self.key_path);
        let pair = load_pair(&self.cert_path, &self.key_path)?;
        self.current.store(Arc::new(pair));
        *self.loaded_mtimes.lock().unwrap_or_else(|p| p.into_inner()) = seen;
        tracing::info!(cert = %self.cert_path.display(), "TLS certificate reloaded");
        Ok(())
    }

    /// Reloads when either file's modification time moved.
    pub fn reload_if_changed(&self) {
        let now = mtimes(&self.cert_path, &self.key_path);
        let changed = *self.loaded_mtimes.lock().unwrap_or_else(|p| p.into_inner()) != now;
        if changed {
            if let Err(e) = self.reload() {
                // A renewal in progress (cert written, key not yet) looks like this;
                // the next check picks up the finished pair.
                tracing::warn!(error = %e, "TLS files changed but could not be loaded; still serving the previous certificate");
                *self.loaded_mtimes.lock().unwrap_or_else(|p| p.into_inner()) = now;
            }
        }
    }

    /// Checks the files every `every` until the process ends.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        let store = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match store.upgrade() {
                    Some(s) => s.reload_if_changed(),
                    None => return,
                }
            }
        });
    }
}

/// TLS 1.2 and 1.3, HTTP/1.1 over ALPN (WebSocket upgrades are HTTP/1.1).
pub fn server_config(store: Arc<CertStore>) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("the provider supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}
