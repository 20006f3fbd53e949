//! Logs to stderr through `tracing` (dependencies' `log` records included), with every known
//! secret masked in the formatted output as a last line of defence: the bot token is part of
//! every Bot API URL, and nothing upstream promises never to print one.

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

#[derive(Clone)]
pub struct Redacting<W> {
    secrets: Arc<Vec<String>>,
    inner: W,
}

impl<W> Redacting<W> {
    pub fn new(secrets: Vec<String>, inner: W) -> Self {
        // A URL or a form may carry a secret percent-encoded (a token's `:` becomes `%3A`).
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.len() >= 4)
            .flat_map(|s| {
                let encoded: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
                [s, encoded]
            })
            .collect();
        secrets.sort();
        secrets.dedup();
        Redacting {
            secrets: Arc::new(secrets),
            inner,
        }
    }
}

pub struct RedactingWriter<W: Write> {
    secrets: Arc<Vec<String>>,
    inner: W,
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The fmt layer hands over one whole formatted event per call, so a secret is never
        // split across calls.
        let text = String::from_utf8_lossy(buf);
        if self.secrets.iter().any(|s| text.contains(s.as_str())) {
            let mut masked = text.into_owned();
            for s in self.secrets.iter() {
                masked = masked.replace(s.as_str(), "***");
            }
            self.inner.write_all(masked.as_bytes())?;
        } else {
            self.inner.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<'a, M> MakeWriter<'a> for Redacting<M>
where
    M: MakeWriter<'a>,
{
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            secrets: self.secrets.clone(),
            inner: self.inner.make_writer(),
        }
    }
}

/// Installs the global subscriber; `RUST_LOG` filters (default `info`).
pub fn init(secrets: Vec<String>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal, not in journald or a log file.
        .with_ansi(io::stderr().is_terminal())
        .with_writer(Redacting::new(secrets, io::stderr))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn secrets_are_masked_in_log_lines() {
        let buf = Buf::default();
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(Redacting::new(
                vec!["123456:SECRET-TOKEN".into(), "VEKEY42".into()],
                move || sink.clone(),
            ))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(
                url = "https://api.telegram.org/bot123456:SECRET-TOKEN/GetMe",
                "failed with vekey=VEKEY42"
            );
        });
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(out.contains("failed with vekey=***"), "{out}");
        tracing::subscriber::with_default(
            tracing_subscriber::fmt()
                .with_writer(Redacting::new(vec!["123456:SECRET-TOKEN".into()], {
                    let sink = buf.clone();
                    move || sink.clone()
                }))
                .finish(),
            || tracing::error!("GET /bot123456%3ASECRET-TOKEN/getMe"),
        );
        let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(out.contains("GET /bot***/getMe"), "{out}");
        assert!(!out.contains("SECRET-TOKEN") && !out.contains("VEKEY42"));
    }
}
