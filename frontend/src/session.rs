//! The session as the backend describes it (`GET /api/session`), shared by
//! every view through context.

use giponext_shared::FeatureId;
use giponext_shared::session::{FeatureState, SessionInfo, SessionRemaining};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, Failure};

/// Where the session stands.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionState {
    /// Being read.
    Loading,
    /// Read.
    Ready(SessionInfo),
    /// Could not be read.
    Failed(Failure),
}

/// The session context: a signal plus a way to read it again.
#[derive(Debug, Clone, Copy)]
pub struct SessionCtx {
    /// The current state.
    pub state: RwSignal<SessionState>,
    fetch: bool,
}

impl SessionCtx {
    /// Provides a context that reads `/api/session` now and on `reload`.
    pub fn provide() -> SessionCtx {
        let ctx = SessionCtx {
            state: RwSignal::new(SessionState::Loading),
            fetch: true,
        };
        provide_context(ctx);
        ctx.reload();
        crate::desk::watch_other_tabs(ctx);
        ctx
    }

    /// Provides a fixed session, for component tests.
    pub fn provide_fixed(info: SessionInfo) -> SessionCtx {
        let ctx = SessionCtx {
            state: RwSignal::new(SessionState::Ready(info)),
            fetch: false,
        };
        provide_context(ctx);
        ctx
    }

    /// Reads the session again (after a call said it changed).
    pub fn reload(self) {
        if !self.fetch {
            return;
        }
        spawn_local(async move {
            let next = match api::session().await {
                Ok(info) => {
                    // This person's drafts open before any form renders.
                    if let Some(key) = &info.draft_key {
                        crate::drafts::unlock(key).await;
                    }
                    self.heard(&info);
                    SessionState::Ready(info)
                }
                Err(e) => SessionState::Failed(e),
            };
            let first = self
                .state
                .with_untracked(|s| matches!(s, SessionState::Loading));
            self.state.set(next);
            if first && self.shown_person().flatten().is_some() {
                crate::desk::announce(crate::desk::SIGNED_IN);
            }
        });
    }

    /// Records the time left that `info` carries.
    pub fn heard(self, info: &SessionInfo) {
        if let (Some(idle), Some(absolute)) = (info.idle_seconds_left, info.absolute_seconds_left) {
            self.heard_left(SessionRemaining {
                idle_seconds_left: idle,
                absolute_seconds_left: absolute,
            });
        }
    }

    /// Records the time left as the backend just said.
    pub fn heard_left(self, left: SessionRemaining) {
        crate::components::heard_left(left);
    }

    /// Who this page shows, once the session is read (untracked): `None`
    /// while loading, `Some(None)` signed out, else `sub` and tenant.
    pub fn shown_person(self) -> Option<Option<(String, String)>> {
        self.state.with_untracked(|s| match s {
            SessionState::Ready(info) => Some(person(info)),
            _ => None,
        })
    }

    /// The session, once read (tracked).
    pub fn info(self) -> Option<SessionInfo> {
        self.state.with(|s| match s {
            SessionState::Ready(info) => Some(info.clone()),
            _ => None,
        })
    }

    /// The state of a catalogue feature (tracked).
    pub fn feature(self, id: FeatureId) -> Option<FeatureState> {
        self.state.with(|s| match s {
            SessionState::Ready(info) => info.features.iter().find(|f| f.id == id).cloned(),
            _ => None,
        })
    }

    /// Whether a feature is usable (tracked).
    pub fn enabled(self, id: FeatureId) -> bool {
        self.feature(id).is_some_and(|f| f.enabled)
    }

    /// The session's tenant id (untracked: it does not change in a session).
    pub fn tenant_id(self) -> Option<String> {
        self.state.with_untracked(|s| match s {
            SessionState::Ready(info) => info.tenant.as_ref().map(|t| t.id.clone()),
            _ => None,
        })
    }
}

/// The session context provided at the root.
pub fn use_session() -> SessionCtx {
    expect_context::<SessionCtx>()
}

/// The current location as a local path with query, for `return_to`.
pub fn current_path() -> String {
    web_sys::window()
        .map(|w| w.location())
        .and_then(|l| Some(format!("{}{}", l.pathname().ok()?, l.search().ok()?)))
        .unwrap_or_else(|| "/".to_owned())
}

/// The person a session is of (`sub` and tenant), if signed in.
pub fn person(info: &SessionInfo) -> Option<(String, String)> {
    info.authenticated.then(|| {
        (
            info.user
                .as_ref()
                .map(|u| u.sub.clone())
                .unwrap_or_default(),
            info.tenant
                .as_ref()
                .map(|t| t.id.clone())
                .unwrap_or_default(),
        )
    })
}
