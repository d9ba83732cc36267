//! Captured guest stdout and stderr. A panicking Rust guest writes its message
//! to stderr just before it traps; capturing it lets the dead-letter reason
//! say why. Output beyond the cap is dropped, never an error for the guest.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Per-call cap on captured output.
const CAPTURE_BYTES: usize = 16 << 10;

#[derive(Clone, Default)]
pub(crate) struct CapturedOutput {
    buf: Arc<Mutex<Vec<u8>>>,
}

impl CapturedOutput {
    /// Takes what the guest wrote since the last call.
    pub(crate) fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.buf.lock().expect("captured output lock"))
    }

    fn append(&self, bytes: &[u8]) {
        let mut buf = self.buf.lock().expect("captured output lock");
        let room = CAPTURE_BYTES.saturating_sub(buf.len());
        buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only WASIp3 guests use this; sluice links WASIp2.
        Box::new(tokio::io::sink())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}
