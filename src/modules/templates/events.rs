//! In-process events other modules subscribe to (published after the database commit).

use std::ops::Deref;

use chrono::{DateTime, Utc};

use crate::platform::auth::{Principal, TenantId};
use crate::platform::bus::Event;

/// What every template event says: which template, what it is after the change, and who made
/// the change when.
#[derive(Debug, Clone)]
pub struct TemplateChange {
    pub tenant: TenantId,
    pub template_id: String,
    pub name: String,
    pub category: String,
    pub version: String,
    /// The commit that made the change.
    pub commit: String,
    /// The new content's digest ([`crate::modules::templates::gate::content_digest`]), the
    /// one the publish gate saw; `None` for a delete and for imports from git.
    pub digest: Option<String>,
    pub actor: Principal,
    pub at: DateTime<Utc>,
}

/// One event type per kind of change (subscribers pick the kinds they handle); each reads as
/// its [`TemplateChange`].
macro_rules! template_event {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub TemplateChange);

        impl Deref for $name {
            type Target = TemplateChange;

            fn deref(&self) -> &TemplateChange {
                &self.0
            }
        }

        impl Event for $name {
            const NAME: &'static str = $label;
        }
    };
}

template_event!(
    /// A template was created (its first commit).
    TemplateCreated,
    "templates.created"
);
template_event!(
    /// A template got a new version through `PUT` (or a git sync brought one).
    TemplateUpdated,
    "templates.updated"
);
template_event!(
    /// A template was deleted; `commit` removed its folder, `version` is its last version.
    TemplateDeleted,
    "templates.deleted"
);
template_event!(
    /// A template's content was restored from an earlier commit (a new commit).
    TemplateRestored,
    "templates.restored"
);
