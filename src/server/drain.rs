//! When a connection's written bytes have all reached the kernel.
//!
//! hyper flushes its transport only once its own write buffer is empty, so a
//! flush of the transport means everything hyper was given is in the socket.
//! [`Watched`] counts those flushes; the SSE body ([`super::sse`]) waits for
//! one before it takes the next event, so a client that stopped reading holds
//! at most the event under way in the process, as a WebSocket session holds at
//! most the frame it is writing. (hyper alone would take the next event as soon
//! as less than `max_buf_size` of the last one is left, and the bytes of both
//! frames would stay alive for a stalled client.)

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The flushes of one connection, shared by its transport and its request
/// handlers (through the request's extensions).
#[derive(Debug, Clone, Default)]
pub struct Drained(Arc<Flushes>);

#[derive(Debug, Default)]
struct Flushes {
    count: AtomicU64,
    waiter: AtomicWaker,
}

impl Drained {
    /// How many times the connection was flushed so far.
    pub fn count(&self) -> u64 {
        self.0.count.load(Ordering::Acquire)
    }

    /// Wakes `waker` at the next flush (once).
    pub fn wake_at_next_flush(&self, waker: &Waker) {
        self.0.waiter.register(waker);
    }

    fn flushed(&self) {
        self.0.count.fetch_add(1, Ordering::AcqRel);
        // Only a registered waiter is woken: a flush with nobody waiting wakes
        // no task (hyper flushes on every turn of its loop).
        if let Some(waker) = self.0.waiter.take() {
            waker.wake();
        }
    }
}

/// A connection's transport that counts its completed flushes into a [`Drained`].
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    drained: Drained,
}

impl<S> Watched<S> {
    pub fn new(inner: S, drained: Drained) -> Watched<S> {
        Watched { inner, drained }
    }

    /// The transport itself (a WebSocket takes its socket back after the upgrade).
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = flushed {
            self.drained.flushed();
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
