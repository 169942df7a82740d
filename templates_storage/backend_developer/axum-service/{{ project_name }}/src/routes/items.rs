//! Example resource: create, list, fetch and delete items kept in memory.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::get,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{error::AppError, state::AppState};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Item {
    pub id: Uuid,
    pub name: String,
    pub price_cents: u64,
}

#[derive(Debug, Deserialize)]
pub struct NewItem {
    pub name: String,
    pub price_cents: u64,
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(list).post(create))
        .route("/{id}", get(fetch).delete(remove))
}

async fn list(State(state): State<AppState>) -> Json<Vec<Item>> {
    let items = state.items.read().expect("items lock poisoned");
    let mut all: Vec<Item> = items.values().cloned().collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Json(all)
}

async fn create(
    State(state): State<AppState>,
    Json(new): Json<NewItem>,
) -> Result<(StatusCode, Json<Item>), AppError> {
    let name = new.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(AppError::Validation("name must be 1-200 characters".into()));
    }
    let item = Item {
        id: Uuid::new_v4(),
        name: name.to_owned(),
        price_cents: new.price_cents,
    };
    state
        .items
        .write()
        .expect("items lock poisoned")
        .insert(item.id, item.clone());
    Ok((StatusCode::CREATED, Json(item)))
}

async fn fetch(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<Item>, AppError> {
    let items = state.items.read().expect("items lock poisoned");
    items
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("item {id} not found")))
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, AppError> {
    match state
        .items
        .write()
        .expect("items lock poisoned")
        .remove(&id)
    {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(AppError::NotFound(format!("item {id} not found"))),
    }
}
