pub mod health;
pub mod items;
