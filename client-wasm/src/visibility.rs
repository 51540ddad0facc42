//! Page Visibility: a hidden tab does not reconnect. An open stream stays open while the
//! tab is hidden (updates keep the view current), but a lost one is re-established only
//! once the user can see the page again, so background tabs never run retry loops.

use futures_channel::oneshot;
use gloo_events::EventListener;

/// Completes when the page is visible (at once outside a window, e.g. in a worker).
pub(crate) async fn visible() {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    while document.hidden() {
        let (shown, on_shown) = oneshot::channel::<()>();
        // Dropped with this future, so `close()` also removes the listener.
        let _listener = EventListener::once(&document, "visibilitychange", move |_| {
            let _ = shown.send(());
        });
        let _ = on_shown.await;
    }
}
