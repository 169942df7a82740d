use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use uuid::Uuid;

use crate::{config::Config, routes::items::Item};

/// Shared application state. Cheap to clone: everything lives behind `Arc`.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub items: Arc<RwLock<HashMap<Uuid, Item>>>,
}

impl AppState {
    pub fn new(config: Config) -> Self {
        Self {
            config: Arc::new(config),
            items: Arc::default(),
        }
    }
}
